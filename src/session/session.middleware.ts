import session from 'express-session';
import type { RequestHandler } from 'express';
import { SessionStoreError } from './session.errors.js';
import { sessionContext } from './session.internal-constants.js';
import type { ResolvedSessionOptions } from './session.options.js';
import type { SessionStore } from './session.store.js';

/**
 * The middleware `SessionModule` mounts on every route: it opens the request context that
 * `SessionService` reads, then runs express-session with the MongoDB store.
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
    sessionContext.run({ req, res }, () =>
      expressSession(req, res, (error?: unknown) => {
        next(error === undefined ? undefined : new SessionStoreError('load the session', error));
      }),
    );
  };
}
