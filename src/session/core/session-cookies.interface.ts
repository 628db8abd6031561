import type { SessionContext } from './session.context.js';

/**
 * What `SessionService` asks of the transport that carries the session id, provided under `SESSION_COOKIES`
 * (the HTTP binding's `HttpSessionCookies`): the service never sets headers itself.
 */
export interface SessionCookies {
  /** Clears the session cookie on the context's response, with the attributes it was set with. */
  clear(context: SessionContext): void;
  /** Gives the cookie the session's lifetime when the response's headers are written (a remembered login). */
  fitLifetime(context: SessionContext): void;
}
