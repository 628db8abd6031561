import type { Request } from 'express';
import type { IncomingMessage } from 'node:http';
import type { HeaderToken } from '../core/session.context.js';
import { presentedToken, tokenCookie } from '../http/header-token.util.js';
import { presentedCookie } from '../http/session-cookie.util.js';
import type { ResolvedSessionOptions } from '../interfaces/resolved-session-options.interface.js';

/**
 * The session id a WebSocket handshake presents, verified as the session middleware verifies a request's
 * cookie or token (any of the secrets): with `'header'` a source (`idSource`), the token of the transport's
 * payload (socket.io's `auth.token`, graphql-ws's `connectionParams.token`) or of the handshake's headers,
 * judged alone as over HTTP; else, or when it presents none in mixed mode, its cookie. `undefined` for no
 * session: none presented, a forged one, an ambiguous presentation.
 */
export function handshakeSessionId(
  handshake: IncomingMessage,
  settings: ResolvedSessionOptions,
  payloadToken?: unknown,
): string | undefined {
  const cookieId = () => presentedCookie(handshake as Request, settings)?.id;
  if (!settings.idSource.includes('header')) return cookieId();
  let presented: HeaderToken | undefined;
  try {
    presented = presentedToken(handshake, settings);
  } catch {
    return undefined;
  }
  if (payloadToken !== undefined && (typeof payloadToken !== 'string' || payloadToken === '')) return undefined;
  if (payloadToken !== undefined && presented?.token !== undefined && presented.token !== payloadToken)
    return undefined;
  const token = payloadToken ?? presented?.token;
  if (token === undefined) return presented === undefined ? cookieId() : undefined;
  return presentedCookie({ headers: { cookie: tokenCookie(token, settings) } } as Request, settings)?.id;
}
