import type { ExecutionContext } from '@nestjs/common';
import type { Request, Response } from 'express';
import { AsyncLocalStorage } from 'node:async_hooks';
import { SessionStoreError } from '../session.errors.js';

/** The request and response of the HTTP call being handled; set by the session middleware. */
export interface SessionContext {
  req: Request;
  res: Response;
  /** Why the session could not be loaded (MongoDB unreachable); the request goes on without one. */
  storeError?: unknown;
  /** The id of the session loaded from the store for this request, when one was. */
  loadedId?: string;
  /** The cookie's lifetime is fitted to the session's when the headers are written (`fitCookieLifetime`). */
  fitsLifetime?: boolean;
  /** Set when the request is judged by a header token, not by its cookie (the `idSource` option). */
  headerToken?: HeaderToken;
}

/** How a request judged by its token presented it (the request context's `headerToken`). */
export interface HeaderToken {
  /**
   * The token presented; `undefined` when the request asks for one (an empty token header, a bare
   * `Authorization: Bearer`), or, in header-only mode, presents none.
   */
  token?: string;
  /** Set once the session is loaded: the token named no live session (forged, ended, expired). */
  refused?: boolean;
}

/** Lets the singleton `SessionService` find the current request without being request-scoped. */
export const sessionContext = new AsyncLocalStorage<SessionContext>();

/**
 * The session context of one message (or GraphQL operation) on a WebSocket connection: the connection's
 * request and session, and the client it came from, so that a handler is judged by its own socket only.
 */
export interface SocketSessionContext extends SessionContext {
  /** The socket the message came on: a socket.io `Socket`, a `ws` `WebSocket`. */
  client: object;
}

/**
 * Stands for the HTTP response a socket message does not have. Marked as sent, so that what the service
 * does to a response (clear the cookie, `Cache-Control: no-store`) is skipped: a socket has no cookie to set.
 */
export const NO_RESPONSE = Object.freeze({ headersSent: true }) as unknown as Response;

/** `true` for the context of a socket message rather than of an HTTP request. */
export function isSocketContext(context: SessionContext | undefined): context is SocketSessionContext {
  return context?.res === NO_RESPONSE;
}

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
