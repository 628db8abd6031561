import type { ExecutionContext } from '@nestjs/common';
import { SessionStoreError } from './session.errors.js';
import type { Request } from 'express';
import { sessionContext, type SessionContext } from './session.context.js';
import { isSocketContext } from './transports/socket.context.js';

/**
 * The HTTP request behind an execution context: the request itself for `http`, the `req` of the GraphQL
 * context (`@nestjs/graphql`'s default over HTTP) for `graphql`; `undefined` for any other transport
 * (WebSockets, microservices) and for GraphQL subscriptions, which have no HTTP request.
 */
export function httpRequestOf(context: ExecutionContext): Request | undefined {
  const type = context.getType<string>();
  if (type === 'http') return context.switchToHttp().getRequest<Request>();
  if (type === 'graphql') {
    const graphqlContext = context.getArgs()[2] as { req?: Request } | undefined;
    return graphqlContext?.req;
  }
  return undefined;
}

/**
 * The session context for the request behind `context`, or `undefined` when there is none: a transport
 * without a session, or a route the middleware left out. Matched by identity, so that a handler can never
 * be judged by the session of another request or socket: an HTTP request (or GraphQL operation) must be
 * the one the context was opened for, a WebSocket message must come on the socket it was opened for
 * (by `SessionSockets`, through the adapters of `nestjs-typed-session/socket.io` and `/ws`).
 */
export function sessionContextOf(context: ExecutionContext): SessionContext | undefined {
  const current = sessionContext.getStore();
  if (context.getType() === 'ws') {
    return isSocketContext(current) && current.client === context.switchToWs().getClient() ? current : undefined;
  }
  const req = httpRequestOf(context);
  return req !== undefined && current?.req === req ? current : undefined;
}

/**
 * Throws when MongoDB could not load the session of this request: every reader of the session answers 503
 * (`SessionStoreError`) then, never as if there were no session.
 */
export function throwIfLoadFailed(context: SessionContext | undefined): void {
  if (context?.storeError !== undefined) throw new SessionStoreError('load the session', context.storeError);
}
