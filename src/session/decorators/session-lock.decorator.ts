import { Reflector } from '@nestjs/core';

/** Options of `@SessionLock()`. */
export interface SessionLockOptions {
  leaseMs?: number;
}

export const SessionLock = (options: SessionLockOptions = {}) => SessionLockMetadata(options);
const SessionLockMetadata = Reflector.createDecorator<SessionLockOptions>({ key: 'nestjs-typed-session:lock' });
