import session from 'express-session';
import type { Request, RequestHandler, Response } from 'express';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { sessionContext, type SessionContext } from './session.internal-constants.js';
import type { ResolvedSessionOptions } from './session.options.js';
import type { SessionStore } from './session.store.js';

/**
 * The middleware `SessionModule` mounts on every route: it opens the request context that
 * `SessionService` reads, then runs express-session with the MongoDB store. When MongoDB cannot load the
 * session, the request goes on without one and the error is kept in the context: routes that need the
 * session answer 503 (`SessionStoreError`), the others are served. A cookie signed with an older secret
 * (`secret: [new, old]`) is re-signed with the current one.
 */
export function createSessionMiddleware(settings: ResolvedSessionOptions, store: SessionStore): RequestHandler {
  const expressSession = session({
    name: settings.name,
    secret: settings.secret,
    store,
    resave: false,
    // Never write a session nobody put data in: no empty documents, nothing to resurrect after logout.
    saveUninitialized: false,
    rolling: settings.rolling,
    cookie: { ...settings.cookie, maxAge: settings.idleTimeout * 1000 },
  });

  return (req, res, next) => {
    const context: SessionContext = { req, res };
    const staleId = idSignedWithOlderSecret(req, settings);
    if (staleId !== undefined) resignOnHeaders(req, res, settings, staleId);
    let passed = false;
    sessionContext.run(context, () =>
      expressSession(req, res, (error?: unknown) => {
        // express-session calls this again when a save or touch fails after the handler answered; going
        // on would hand an answered request to the handlers after this one. The store logged the failure.
        if (passed) return;
        passed = true;
        if (error !== undefined) context.storeError = error;
        next();
      }),
    );
  };
}

/** express-session's cookie signature (the `cookie-signature` package's format). */
function sign(value: string, secret: string): string {
  return `${value}.${createHmac('sha256', secret).update(value).digest('base64').replace(/=+$/, '')}`;
}

/** The session id of a cookie signed with one of the older secrets, not the current one. */
function idSignedWithOlderSecret(req: Request, settings: ResolvedSessionOptions): string | undefined {
  if (settings.secret.length < 2) return undefined;
  const value = readCookie(req.headers.cookie, settings.name);
  if (!value?.startsWith('s:')) return undefined;
  const signed = value.slice(2);
  const id = signed.slice(0, signed.lastIndexOf('.'));
  const matches = (secret: string) => {
    const expected = Buffer.from(sign(id, secret));
    const actual = Buffer.from(signed);
    return expected.length === actual.length && timingSafeEqual(expected, actual);
  };
  const [current, ...older] = settings.secret;
  return !matches(current!) && older.some(matches) ? id : undefined;
}

function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of header?.split(';') ?? []) {
    const [key, ...rest] = part.trim().split('=');
    if (key !== name) continue;
    try {
      return decodeURIComponent(rest.join('='));
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * Sets the cookie again, signed with the current secret, unless express-session already sets one. Wrapped
 * before express-session wraps `writeHead`, so this runs after express-session has set its headers.
 */
function resignOnHeaders(req: Request, res: Response, settings: ResolvedSessionOptions, id: string): void {
  const writeHead = res.writeHead;
  res.writeHead = function (this: Response, ...args: unknown[]) {
    const cookie = req.session?.cookie as { serialize?(name: string, value: string): string } | undefined;
    const prefix = `${settings.name}=`;
    const already = ([] as unknown[]).concat(res.getHeader('Set-Cookie') ?? []).some((line) => String(line).startsWith(prefix));
    if (req.sessionID === id && cookie?.serialize && !already) {
      res.append('Set-Cookie', cookie.serialize(settings.name, `s:${sign(id, settings.secret[0]!)}`));
    }
    return (writeHead as (...a: unknown[]) => Response).apply(this, args);
  } as Response['writeHead'];
}
