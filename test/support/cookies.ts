import { sign } from 'cookie-signature';
import { createHash } from 'node:crypto';
import type { Response } from 'supertest';

/** The `Set-Cookie` header lines of a response. */
export function setCookies(response: Response): string[] {
  const header = response.headers['set-cookie'] as string | string[] | undefined;
  if (header === undefined) return [];
  return Array.isArray(header) ? header : [header];
}

/** The `Set-Cookie` line for the cookie `name`, or `undefined`. */
export function setCookieFor(response: Response, name = 'sid'): string | undefined {
  return setCookies(response).find((line) => line.startsWith(`${name}=`));
}

/** The `name=value` pair to send back, from the response that set it. Throws when none was set. */
export function cookieFrom(response: Response, name = 'sid'): string {
  const line = setCookieFor(response, name);
  if (!line) throw new Error(`the response set no "${name}" cookie (status ${response.status})`);
  return line.split(';')[0];
}

/** The session id inside a signed cookie pair (`sid=s%3A<id>.<signature>`). */
export function sessionIdOf(cookie: string): string {
  const value = decodeURIComponent(cookie.slice(cookie.indexOf('=') + 1));
  if (!value.startsWith('s:')) throw new Error(`not a signed session cookie: ${cookie}`);
  return value.slice(2, value.lastIndexOf('.'));
}

/** The cookie pair with its signature broken (same id, last signature character changed). */
export function tamper(cookie: string): string {
  const last = cookie.at(-1) === 'A' ? 'B' : 'A';
  return cookie.slice(0, -1) + last;
}

/** A session cookie pair for `id`, signed with `secret` as express-session signs it (with cookie-signature). */
export function signedCookie(id: string, secret: string, name = 'sid'): string {
  return `${name}=${encodeURIComponent(`s:${sign(id, secret)}`)}`;
}

/**
 * The handle derived from a cookie's id: what `rejected` events carry for an unknown id, and the handle of a
 * session stored without one (an earlier version). A stored session's own is `TestDatabase.handleOf`.
 */
export function derivedHandleOf(cookie: string): string {
  return storedIdOf(cookie).slice(0, 22);
}

/** The key the session of a cookie is stored under: the SHA-256 of its id, never the id itself. */
export function storedIdOf(cookie: string): string {
  return createHash('sha256').update(sessionIdOf(cookie)).digest('base64url');
}
