/**
 * `SessionService.login()` or `regenerate()` was called while handling a WebSocket message: a new session
 * id can only reach the client in a cookie, which only an HTTP response can set.
 */
export class SocketSessionRotationError extends Error {
  override readonly name = 'SocketSessionRotationError';

  constructor() {
    super(
      'A session id cannot be changed over a WebSocket: the new cookie could not reach the client. Log in or ' +
        'regenerate over HTTP (a controller or a GraphQL mutation), then reconnect the socket.',
    );
  }
}
