import type { HttpException } from '@nestjs/common';
import { WsException } from '@nestjs/websockets';
import { presentSocketErrorsWith } from './socket.context.js';

/**
 * What a WebSocket client receives (as Nest's `exception` event) when `AuthGuard` refuses a message or the
 * session cannot be read: `{ status: 'error', statusCode: 401, message: 'Authentication required' }`.
 */
export interface SocketErrorPayload {
  status: 'error';
  /** The HTTP status the same refusal has over HTTP (401, 503). */
  statusCode: number;
  message: string;
}

/** Makes the guard's refusals in WebSocket handlers `WsException`s; imported by both adapters. */
presentSocketErrorsWith((error: HttpException) => {
  const payload: SocketErrorPayload = { status: 'error', statusCode: error.getStatus(), message: error.message };
  return new WsException(payload);
});
