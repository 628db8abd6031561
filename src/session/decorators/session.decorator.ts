import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { sessionContextOf, throwIfLoadFailed } from '../core/session.context.js';
import type { SessionKey } from '../interfaces/session-data.interface.js';
import { inTransport } from '../sockets/socket.context.js';

const sessionParam = createParamDecorator((key: string | undefined, context: ExecutionContext) => {
  const current = sessionContextOf(context);
  try {
    throwIfLoadFailed(current);
  } catch (error) {
    throw inTransport(context, error);
  }
  const session = current?.req.session as unknown as Record<string, unknown> | undefined;
  return key === undefined ? session : session?.[key];
});

/**
 * Injects the request's session (`UserSession`), or one value of it (`SessionValue<'key'>`), in HTTP
 * handlers, GraphQL resolvers and WebSocket handlers (the socket's session, with the adapters of
 * `nestjs-typed-session/socket.io`, `/ws`, `/graphql`); `undefined` where no session was loaded. The key
 * is checked against the application's session shape at compile time. Throws `SessionStoreError` (503)
 * when MongoDB could not load the session.
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
