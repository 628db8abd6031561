import session from 'express-session';
import type { Request, RequestHandler, Response } from 'express';
import {
  beforeHeaders,
  fitCookieLifetime,
  expressCookieOptions,
  presentedCookie,
  sendsSessionCookie,
  setsSessionCookie,
  setSessionCookie,
  type PresentedCookie,
} from './session-cookie.util.js';
import type { ExclusionTest } from './route-exclusion.util.js';
import { answerWithToken, noteLoaded, presentAsCookie, readHeaderToken } from './header-token.util.js';
import { sessionHandle } from '../core/session-id.util.js';
import { sessionContext, type HeaderToken, type SessionContext } from '../core/session.context.js';
import type { ResolvedSessionOptions } from '../interfaces/resolved-session-options.interface.js';
import type { SessionRejections } from './cookie-rejection.reporter.js';
import type { SessionStore } from '../store/session-store.interface.js';
import { sessionLogger } from '../core/session.logger.js';
import { commitBeforeAnswer } from './session-commit.util.js';
import { asLibrary, guardCookieLifetimes } from './cookie-lifetime.util.js';

/**
 * The middleware `SessionModule` mounts on every route: it opens the request context that
 * `SessionService` reads, then runs express-session with the MongoDB store. When MongoDB cannot load the
 * session, the request goes on without one and the error is kept in the context: routes that need the
 * session answer 503 (`SessionStoreError`), the others are served.
 *
 * Around express-session's own cookie handling it makes the cookie follow the server: its lifetime is the
 * session's (browser-session, or the idle timeout capped by the absolute timeout), it is sent again whenever
 * the server extends the session's expiry (and when it was signed with an older secret), answers that set
 * or clear it, or serve an authenticated request, are `Cache-Control: no-store`, and refused cookies are
 * reported (`rejected` events); a lifetime the application sets on the cookie by hand is refused
 * (`guardCookieLifetimes`). A request judged by a header token (`idSource`) is shown to express-session
 * with that token as its cookie, and its answer carries the token in a header instead of a cookie.
 */
export function createSessionMiddleware(
  settings: ResolvedSessionOptions,
  store: SessionStore,
  rejections: SessionRejections,
  excluded?: ExclusionTest,
): RequestHandler {
  const expressSession = session({
    name: settings.name,
    secret: settings.secret,
    store,
    resave: false,
    // Never write a session nobody put data in: no empty documents, nothing to resurrect after logout.
    saveUninitialized: false,
    rolling: settings.rolling,
    cookie: expressCookieOptions(settings),
  });
  guardCookieLifetimes(store);
  const proxyWarning = new OnceLogger();

  return (req, res, next) => {
    if (excluded?.(req)) return next();
    const headerToken = readHeaderToken(req, res, settings);
    if (headerToken === null) return; // answered 400: an ambiguous token
    if (headerToken) presentAsCookie(req, settings, headerToken);
    const context: SessionContext = { req, res, headerToken };
    // The cookie as express-session judged it, known once it has read it (below).
    let presented: PresentedCookie | undefined;
    // Installed before express-session's own header hook, so it runs after it: it sees the cookie it set.
    beforeHeaders(res, () => followUp(req, res, presented, settings, store, headerToken));
    let passed = false;
    sessionContext.run(context, expressSession, req, res, (error?: unknown) => {
      // express-session calls this again when a save or touch fails after the handler answered; going
      // on would hand an answered request to the handlers after this one. The store logged the failure.
      if (passed) return;
      passed = true;
      if (error !== undefined) context.storeError = error;
      else if (presented?.id !== undefined && store.wasUnknown(presented.id)) {
        rejections.report('unknown-id', sessionHandle(presented.id), req.ip);
      }
      if (req.session && store.isStored(req.session)) context.loadedId = req.sessionID;
      if (headerToken) noteLoaded(req, headerToken, context.storeError);
      if (settings.cookie.secure === 'auto' && !req.secure && forwardedHttps(req)) proxyWarning.warn();
      if (needsLifetime(req, settings, store)) fitCookieLifetime(context, store);
      next();
    });
    // After express-session's own end, so that it runs first: the change is stored before the answer leaves.
    commitBeforeAnswer(context, store, settings);
    // express-session has read the cookie synchronously (its signature checked once, by express-session):
    // with a valid signature it is now loading that id from the store (asynchronously); without a cookie, or
    // with a bad signature, it made a new session at once and already went on. The cookie is read again
    // here only to tell a bad signature from no cookie, and an older secret when there are several.
    if (!passed) {
      const olderSecret = settings.secret.length > 1 && presentedCookie(req, settings)?.olderSecret === true;
      presented = { id: req.sessionID, olderSecret };
    } else if (sendsSessionCookie(req, settings)) {
      presented = { olderSecret: false };
      rejections.report('bad-signature', '', req.ip);
    }
  };
}

/**
 * `true` when express-session alone would not give the cookie the session's lifetime: the cookie is
 * persistent (its expiry follows the idle and absolute timeouts), the session is remembered, or its stored
 * cookie has an expiry it should not have (the options changed). A browser-session cookie of a session that
 * is not remembered needs nothing: no work per request for an option that is off.
 */
function needsLifetime(req: Request, settings: ResolvedSessionOptions, store: SessionStore): boolean {
  if (settings.cookie.persistent) return true;
  const session = req.session as Request['session'] | undefined;
  return session !== undefined && (session.cookie.originalMaxAge != null || store.isRemembered(session));
}

/** What express-session does not do for the cookie: resend it when the session's expiry moved, and no-store. */
function followUp(
  req: Request,
  res: Response,
  presented: PresentedCookie | undefined,
  settings: ResolvedSessionOptions,
  store: SessionStore,
  headerToken: HeaderToken | undefined,
): void {
  const current = req.session;
  // A request judged by its token gets its token in a header, never a cookie: `setsCookie` then says so.
  let setsCookie = headerToken
    ? answerWithToken(req, res, headerToken, settings, store)
    : setsSessionCookie(res, settings);
  if (!headerToken && current && !setsCookie && presented?.id !== undefined && presented.id === req.sessionID) {
    const persistent = current.cookie.originalMaxAge != null;
    const moved = persistent && store.cookieDue(current, Date.now());
    const deliverable = !current.cookie.secure || req.secure;
    if ((moved || presented.olderSecret) && deliverable) {
      if (persistent) asLibrary(() => (current.cookie.maxAge = current.cookie.originalMaxAge ?? undefined));
      setSessionCookie(req, res, settings);
      setsCookie = true;
    }
  }
  if (setsCookie) {
    res.setHeader('Cache-Control', 'no-store');
  } else if (
    settings.noStoreAuthenticated &&
    current !== undefined &&
    !res.hasHeader('Cache-Control') &&
    settings.isAuthenticated(current)
  ) {
    res.setHeader('Cache-Control', 'no-store');
  }
}

/** `X-Forwarded-Proto: https` on a request Express does not see as secure: `trust proxy` is missing. */
function forwardedHttps(req: Request): boolean {
  const header = req.headers['x-forwarded-proto'];
  return typeof header === 'string' && header.split(',')[0].trim().toLowerCase() === 'https';
}

/** The `secure: 'auto'` warning, logged once per process. */
class OnceLogger {
  private readonly logger = sessionLogger;
  private logged = false;

  warn(): void {
    if (this.logged) return;
    this.logged = true;
    this.logger.warn(
      "A request came through a TLS proxy (X-Forwarded-Proto: https) but Express 'trust proxy' is off, so " +
        "cookie.secure: 'auto' sends the session cookie without Secure. Call app.set('trust proxy', 1) (or the " +
        'number of proxies in front of the application).',
    );
  }
}
