import type { Request, Response } from 'express';
import type { IncomingMessage } from 'node:http';
import type { HeaderToken } from '../core/session.context.js';
import type { ResolvedSessionOptions } from '../interfaces/resolved-session-options.interface.js';
import { SessionTokenError } from '../session.errors.js';
import type { SessionStore } from '../store/session-store.interface.js';
import { parseCookies, sign } from './session-cookie.util.js';

// Header-borne session ids (`idSource: 'header'`). The token is the session id signed as the cookie's value
// is (`<id>.<HMAC-SHA256>`, express-session's cookie-signature format, any of the secrets verifying it). At
// the edge, a request judged by its token is shown to express-session as if the token were its session
// cookie, so that loading, rejection, rotation and destroy are the cookie's very code; on the way out, what
// express-session would set as a cookie goes to the client in the token header instead.

/**
 * How `req` presents its session in headers: `undefined` when it is judged by its cookie (no token header,
 * no `Authorization: Bearer`, and the cookie is a source), else the token it presents (none: it asks for
 * one, or presents nothing in header-only mode). An `Authorization` of another scheme is not the session's
 * and is ignored.
 *
 * @throws SessionTokenError when the presentation is ambiguous: a header sent twice, two different tokens,
 * a `Bearer` value that is not one token.
 */
export function presentedToken(req: IncomingMessage, settings: ResolvedSessionOptions): HeaderToken | undefined {
  if (!settings.idSource.includes('header')) return undefined;
  const named = headerValues(req, settings.tokenHeader.toLowerCase());
  const authorization = headerValues(req, 'authorization');
  if (named.length > 1) throw new SessionTokenError(`${settings.tokenHeader} was sent twice`, settings.tokenHeader);
  if (authorization.length > 1) throw new SessionTokenError('Authorization was sent twice', settings.tokenHeader);
  const fromHeader = named[0]?.trim();
  const fromBearer = bearerToken(authorization[0], settings.tokenHeader);
  if (fromHeader && fromBearer && fromHeader !== fromBearer) {
    throw new SessionTokenError('two different tokens were sent', settings.tokenHeader);
  }
  if (fromHeader === undefined && fromBearer === undefined && settings.idSource.includes('cookie')) return undefined;
  return { token: [fromHeader, fromBearer].find((value) => value !== undefined && value !== '') };
}

/**
 * `presentedToken` for the session middleware, which runs before Nest's exception filters: an ambiguous
 * presentation is answered 400 here (as Nest would answer `SessionTokenError`), and `null` returned.
 */
export function readHeaderToken(
  req: Request,
  res: Response,
  settings: ResolvedSessionOptions,
): HeaderToken | undefined | null {
  try {
    return presentedToken(req, settings);
  } catch (error) {
    if (!(error instanceof SessionTokenError)) throw error;
    res.status(error.getStatus()).setHeader('Cache-Control', 'no-store').json(error.getResponse());
    return null;
  }
}

/**
 * Shows express-session the token as the request's session cookie: the session cookies the request sent
 * are taken out of its `Cookie` header and of cookie-parser's `req.cookies` and `req.signedCookies` (the
 * token alone judges it); its other cookies stay.
 */
export function presentAsCookie(req: IncomingMessage, settings: ResolvedSessionOptions, presented: HeaderToken): void {
  const kept = (req.headers.cookie ?? '')
    .split(';')
    .filter((pair) => pair.trim() !== '' && !Object.hasOwn(parseCookies(pair), settings.name))
    .map((pair) => pair.trim());
  const own = presented.token === undefined ? [] : [tokenCookie(presented.token, settings)];
  const header = [...own, ...kept].join('; ');
  if (header === '') delete req.headers.cookie;
  else req.headers.cookie = header;
  // express-session falls back to what a cookie-parser mounted earlier read, which still has the cookie.
  const parsed = req as { cookies?: unknown; signedCookies?: unknown };
  for (const cookies of [parsed.cookies, parsed.signedCookies]) {
    if (typeof cookies === 'object' && cookies !== null) delete (cookies as Record<string, unknown>)[settings.name];
  }
}

/**
 * Records, once express-session has loaded the session, whether the token named no live session (a bad
 * signature, an ended or expired session): the answer then tells the client to drop it. Not when MongoDB
 * failed: an outage is no logout.
 */
export function noteLoaded(req: Request, presented: HeaderToken, storeError: unknown): void {
  if (presented.token === undefined || storeError !== undefined) return;
  if (req.sessionID !== presented.token.slice(0, presented.token.lastIndexOf('.'))) presented.refused = true;
}

/**
 * At the headers of an answer to a request judged by its token: takes the session cookie off the answer and
 * puts in the token header what it said instead. The current token when the session id or the signing
 * secret changed (login, `regenerate()`, `confirmAuthentication()`, a new session stored, an older secret),
 * an empty value when the session ended (logout, revocation, a cookie cleared) or the presented token was
 * refused; nothing when the client's token stays good, or MongoDB failed. `true` when the header was set.
 */
export function answerWithToken(
  req: Request,
  res: Response,
  presented: HeaderToken,
  settings: ResolvedSessionOptions,
  store: SessionStore,
): boolean {
  const cookie = takeSessionCookie(res, settings);
  const session = req.session as object | undefined;
  let value: string | undefined;
  if (cookie === 'cleared') value = '';
  else if (session !== undefined && store.isStored(session)) {
    const current = sign(req.sessionID, settings.secret[0]);
    if (current !== presented.token) value = current;
  } else if (presented.refused === true) value = '';
  if (value === undefined) return false;
  res.setHeader(settings.tokenHeader, value);
  return true;
}

/** The session cookie pair that carries `token`, encoded as express-session writes it. */
export function tokenCookie(token: string, settings: ResolvedSessionOptions): string {
  return `${settings.name}=${encodeURIComponent(`s:${token}`)}`;
}

/** The values of a request header, one per line sent (Node joins or drops repeated ones in `headers`). */
function headerValues(req: IncomingMessage, name: string): string[] {
  const values: string[] = [];
  const raw = req.rawHeaders ?? [];
  for (let i = 0; i < raw.length; i += 2) if (raw[i].toLowerCase() === name) values.push(raw[i + 1]);
  return values;
}

/** The token of an `Authorization: Bearer` value (`''` for a bare `Bearer`); `undefined` for another scheme. */
function bearerToken(value: string | undefined, tokenHeader: string): string | undefined {
  if (value === undefined) return undefined;
  const match = /^Bearer(?:[ \t]+(.*))?$/i.exec(value.trim());
  if (!match) return undefined;
  const token = match[1]?.trim() ?? '';
  if (/\s/.test(token)) throw new SessionTokenError('Authorization: Bearer carries more than one value', tokenHeader);
  return token;
}

/** Takes the session cookie's `Set-Cookie` lines off the answer; says whether the last one set or cleared it. */
function takeSessionCookie(res: Response, settings: ResolvedSessionOptions): 'set' | 'cleared' | undefined {
  const header = res.getHeader('Set-Cookie');
  if (header === undefined) return undefined;
  const lines = Array.isArray(header) ? header.map(String) : [String(header)];
  const prefix = `${settings.name}=`;
  const own = lines.filter((line) => line.startsWith(prefix));
  if (own.length === 0) return undefined;
  const others = lines.filter((line) => !line.startsWith(prefix));
  if (others.length > 0) res.setHeader('Set-Cookie', others);
  else res.removeHeader('Set-Cookie');
  const value = own.at(-1)!.slice(prefix.length);
  return value === '' || value.startsWith(';') ? 'cleared' : 'set';
}
