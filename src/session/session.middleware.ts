import session from 'express-session';
import type { RequestHandler } from 'express';
import { sessionContext, type SessionContext } from './session.internal-constants.js';
import type { ResolvedSessionOptions } from './session.options.js';
import type { SessionStore } from './session.store.js';

/**
 * The middleware `SessionModule` mounts on every route: it opens the request context that
 * `SessionService` reads, then runs express-session with the MongoDB store. When MongoDB cannot load the
 * session, the request goes on without one and the error is kept in the context: routes that need the
 * session answer 503 (`SessionStoreError`), the others are served.
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
    cookie: { ...settings.cookie, maxAge: settings.ttl * 1000 },
  });

  return (req, res, next) => {
    const context: SessionContext = { req, res };
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
