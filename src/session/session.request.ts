import type { ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import { sessionContext, type SessionContext } from './session.internal-constants.js';

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
 * The session middleware's context for the request behind `context`, or `undefined` when there is none: a
 * transport without an HTTP request, or a route the middleware left out. Matched by identity, so that a
 * handler can never be judged by the session of another request.
 */
export function sessionContextOf(context: ExecutionContext): SessionContext | undefined {
  const req = httpRequestOf(context);
  const current = sessionContext.getStore();
  return req !== undefined && current?.req === req ? current : undefined;
}
