import { Reflector } from '@nestjs/core';

/** Options of `@SessionLock()`. */
export interface SessionLockOptions {
  /**
   * How long a request may hold the lock, in milliseconds: after it, the lock counts as abandoned (a crashed
   * process) and the next request takes it over. Longer than the handler and its commit take. Default 30 s.
   */
  leaseMs?: number;
}

/** Metadata `@SessionLock()` sets and `SessionLockInterceptor` reads; not part of the public door. */
export const SessionLockMetadata = Reflector.createDecorator<SessionLockOptions>({
  key: 'nestjs-typed-session:session-lock',
});
