import type { CookieOptions as ExpressSessionCookieOptions } from 'express-session';
import type { Request, Response } from 'express';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createRequire } from 'node:module';
import type { SessionContext } from '../core/session.context.js';
import type { ResolvedSessionOptions } from '../interfaces/resolved-session-options.interface.js';
import type { SessionStore } from '../store/session-store.interface.js';
import { asLibrary } from './cookie-lifetime.util.js';

/** The `cookie` package's parser, the very copy express-session parses the `Cookie` header with. */
const { parse: parseCookies } = createRequire(createRequire(import.meta.url).resolve('express-session'))('cookie') as {
  parse(this: void, header: string): Record<string, string>;
};
export { parseCookies };

/** The session cookie a request presented. */
export interface PresentedCookie {
  /** The session id, when the signature is valid for one of the secrets. */
  id?: string;
  /** Signed with an older secret than the current one: to be set again, signed with the current one. */
  olderSecret: boolean;
}

/** The cookie attributes express-session sets on new sessions. */
export function expressCookieOptions(settings: ResolvedSessionOptions): ExpressSessionCookieOptions {
  const { persistent, ...attributes } = settings.cookie;
  return { ...attributes, maxAge: persistent ? settings.idleTimeout * 1000 : undefined };
}

/** express-session's cookie signature (the `cookie-signature` package's format). */
export function sign(value: string, secret: string): string {
  return `${value}.${createHmac('sha256', secret).update(value).digest('base64').replace(/=+$/, '')}`;
}

/** The session cookie of a request, verified against every secret; `undefined` when it sent none. */
export function presentedCookie(req: Request, settings: ResolvedSessionOptions): PresentedCookie | undefined {
  const value = readCookie(req.headers.cookie, settings.name);
  if (value === undefined) return undefined;
  if (!value.startsWith('s:')) return { olderSecret: false };
  const signed = value.slice(2);
  const id = signed.slice(0, signed.lastIndexOf('.'));
  const matches = (secret: string) => {
    const expected = Buffer.from(sign(id, secret));
    const actual = Buffer.from(signed);
    return expected.length === actual.length && timingSafeEqual(expected, actual);
  };
  const [current, ...older] = settings.secret;
  if (matches(current)) return { id, olderSecret: false };
  return older.some(matches) ? { id, olderSecret: true } : { olderSecret: false };
}

/** `true` when the request sends a cookie under the session cookie's name (whatever its value). */
export function sendsSessionCookie(req: Request, settings: ResolvedSessionOptions): boolean {
  return readCookie(req.headers.cookie, settings.name) !== undefined;
}

/** How many cookies of the session cookie's name the request sends (two: one was planted beside it). */
export function sessionCookieCount(req: Request, settings: ResolvedSessionOptions): number {
  const pairs = req.headers.cookie?.split(';') ?? [];
  return pairs.filter((pair) => Object.hasOwn(parseCookies(pair), settings.name)).length;
}

/**
 * The cookie named `name` in a `Cookie` header, read by the parser express-session reads it with (the first
 * of that name, spaces and tabs around the name and the value ignored, decoded when it decodes);
 * `undefined` when absent.
 */
function readCookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  const cookies = parseCookies(header);
  return Object.hasOwn(cookies, name) ? cookies[name] : undefined;
}

/** `true` when the response already sets (or clears) the session cookie. */
export function setsSessionCookie(res: Response, settings: ResolvedSessionOptions): boolean {
  const header = res.getHeader('Set-Cookie');
  if (header === undefined) return false;
  const prefix = `${settings.name}=`;
  return Array.isArray(header) ? header.some((line) => line.startsWith(prefix)) : String(header).startsWith(prefix);
}

/** Sets the session cookie of `req.session` again (refreshed expiry, current secret). */
export function setSessionCookie(req: Request, res: Response, settings: ResolvedSessionOptions): void {
  const cookie = req.session.cookie as unknown as { serialize(name: string, value: string): string };
  res.append('Set-Cookie', cookie.serialize(settings.name, `s:${sign(req.sessionID, settings.secret[0])}`));
}

/** Clears the session cookie with the attributes it was set with (same name, path and domain). */
export function clearSessionCookie(req: Request, res: Response, settings: ResolvedSessionOptions): void {
  if (res.headersSent) return;
  const { path, domain, httpOnly, sameSite, secure } = settings.cookie;
  res.clearCookie(settings.name, { path, domain, httpOnly, sameSite, secure: secure === 'auto' ? req.secure : secure });
}

/**
 * Gives the session's cookie the session's lifetime when its headers are written: the idle timeout of its
 * kind capped by its absolute deadline, or none (a browser-session cookie). Installed once per request, after
 * express-session's own header hook, so that it runs before it: the lifetime express-session serializes is
 * ours. `SessionService.login` installs it for a remembered login.
 */
export function fitCookieLifetime(context: SessionContext, store: SessionStore): void {
  if (context.fitsLifetime) return;
  context.fitsLifetime = true;
  const { req } = context;
  beforeHeaders(context.res, () => {
    const cookie = req.session?.cookie;
    if (!cookie) return;
    const lifetime = store.cookieLifetime(req.session, Date.now());
    asLibrary(() => {
      cookie.originalMaxAge = lifetime;
      cookie.maxAge = lifetime ?? undefined;
    });
  });
}

/** Calls `listener` when the response's headers are about to be written (as the `on-headers` package does). */
export function beforeHeaders(res: Response, listener: () => void): void {
  // eslint-disable-next-line @typescript-eslint/unbound-method -- called below with the replacement's own `this`
  const writeHead = res.writeHead;
  let fired = false;
  res.writeHead = function (this: Response, ...args: unknown[]) {
    if (!fired) {
      fired = true;
      listener();
    }
    return (writeHead as (...a: unknown[]) => Response).apply(this, args);
  } as Response['writeHead'];
}
