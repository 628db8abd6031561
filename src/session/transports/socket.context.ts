import { HttpException, type ExecutionContext } from '@nestjs/common';
import type { Response } from 'express';
import type { SessionContext } from '../session.context.js';

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

/** Turns an HTTP exception into the error a socket transport shows its client (a `WsException`). */
export type SocketErrorFactory = (error: HttpException) => Error;

let socketErrorFactory: SocketErrorFactory | undefined;

/** Set by the WebSocket adapters, which import `@nestjs/websockets` (the main entry does not). */
export function presentSocketErrorsWith(factory: SocketErrorFactory): void {
  socketErrorFactory = factory;
}

/**
 * `error` as the transport of `context` shows it: in WebSocket handlers an HTTP exception becomes a
 * `WsException` carrying its status and message (Nest would answer "Internal server error" and log it);
 * elsewhere it is left as it is (GraphQL maps HTTP exceptions to error codes itself).
 */
export function inTransport(context: ExecutionContext, error: unknown): unknown {
  if (context.getType() !== 'ws' || !(error instanceof HttpException) || !socketErrorFactory) return error;
  return socketErrorFactory(error);
}

/** Close code sent to a `ws` or graphql-ws client whose session ended (graphql-ws's "Unauthorized"). */
export const SESSION_ENDED_CLOSE_CODE = 4401;
