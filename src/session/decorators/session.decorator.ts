import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import type { SessionKey } from '../session.types.js';

const sessionParam = createParamDecorator((key: string | undefined, context: ExecutionContext) => {
  const session = context.switchToHttp().getRequest<Request>().session as unknown as Record<string, unknown> | undefined;
  return key === undefined ? session : session?.[key];
});

/**
 * Injects the request's session (`UserSession`), or one value of it (`SessionValue<'key'>`).
 * The key is checked against the application's session shape at compile time.
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
