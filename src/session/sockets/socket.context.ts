import { HttpException, type ExecutionContext } from '@nestjs/common';

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
