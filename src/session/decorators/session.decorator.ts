import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import { SessionStoreError } from '../session.errors.js';
import { sessionContext } from '../session.internal-constants.js';
import type { SessionKey } from '../session.types.js';

const sessionParam = createParamDecorator((key: string | undefined, context: ExecutionContext) => {
  const storeError = sessionContext.getStore()?.storeError;
  if (storeError !== undefined) throw new SessionStoreError('load the session', storeError);
  const session = context.switchToHttp().getRequest<Request>().session as unknown as Record<string, unknown> | undefined;
  return key === undefined ? session : session?.[key];
});

/**
 * Injects the request's session (`UserSession`), or one value of it (`SessionValue<'key'>`).
 * The key is checked against the application's session shape at compile time. Throws `SessionStoreError`
 * (503) when MongoDB could not load the session.
 *
 * @example
 * @Get('me')
 * me(@Session('userId') userId: SessionValue<'userId'>, @Session() session: UserSession) {}
 */
export function Session(): ParameterDecorator;
export function Session<K extends SessionKey>(key: K): ParameterDecorator;
export function Session(key?: string): ParameterDecorator {
  return sessionParam(key);
}
