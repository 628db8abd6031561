import type { Request } from 'express';
import type { Cookie, Session, Store } from 'express-session';
import type { SessionStore } from '../store/session-store.interface.js';
import { sessionLogger } from '../core/session.logger.js';
import { SessionCookieLifetimeError } from '../session.errors.js';

/** The cookie fields that make its lifetime. */
type LifetimeField = 'maxAge' | 'expires' | 'originalMaxAge';

/** More than zero while the library itself sets a cookie's lifetime (`asLibrary`): never refused. */
let libraryWrites = 0;

/** The first lifetime set by hand in a request, by request. */
const refusals = new WeakMap<object, SessionCookieLifetimeError>();

/** Cookies already guarded, and the store methods already wrapped. */
const guarded = new WeakSet<object>();

/** Runs `write`, which sets a cookie's lifetime for the library: the session's, from its options. */
export function asLibrary<T>(write: () => T): T {
  libraryWrites += 1;
  try {
    return write();
  } finally {
    libraryWrites -= 1;
  }
}

/** The refusal of a lifetime this request set by hand, if it set one: it is then answered 500, nothing stored. */
export function lifetimeRefusalOf(req: object): SessionCookieLifetimeError | undefined {
  return refusals.get(req);
}

/**
 * Makes the cookie of every session `store` gives a request (a new one from express-session's `generate`, a
 * loaded one from `createSession`) refuse a lifetime set by the application (`req.session.cookie.maxAge`,
 * `.expires`, `.originalMaxAge`): the session's lifetime follows the library's options, and a hand-written
 * one would silently become something else. A refused assignment changes nothing: it is logged (its stack
 * shows where) and the request is marked, so that its answer is a 500 and nothing it did is stored. It does
 * not throw: the assignment may run in a callback of the store (Passport's `req.login`), where an exception
 * would escape every handler. Taken: "no lifetime" on a browser-session cookie (it has none), and
 * express-session's `touch`, which slides the expiry the library set.
 */
export function guardCookieLifetimes(store: SessionStore): void {
  const withGenerate = store as SessionStore & { generate?: (req: Request) => void };
  const generate = withGenerate.generate;
  if (typeof generate === 'function' && !guarded.has(generate)) {
    const guardedGenerate = (req: Request) => {
      generate.call(store, req);
      if (req.session) guardSession(req.session, req, store);
    };
    guarded.add(guardedGenerate);
    withGenerate.generate = guardedGenerate;
  }
  // eslint-disable-next-line @typescript-eslint/unbound-method -- called below with the store as `this`
  const createSession = store.createSession;
  if (!guarded.has(createSession)) {
    const guardedCreate: Store['createSession'] = (req, data) => {
      const session = createSession.call(store, req, data);
      guardSession(session, req, store);
      return session;
    };
    guarded.add(guardedCreate);
    store.createSession = guardedCreate;
  }
}

/** Guards the cookie of `session`, and lets its `touch` (through `resetMaxAge`) slide the expiry. */
function guardSession(session: Session, req: Request, store: SessionStore): void {
  const cookie = session.cookie as Cookie | undefined;
  if (cookie === undefined || guarded.has(cookie)) return;
  const prototype = Object.getPrototypeOf(cookie) as object;
  const maxAge = Object.getOwnPropertyDescriptor(prototype, 'maxAge');
  const expires = Object.getOwnPropertyDescriptor(prototype, 'expires');
  if (!maxAge?.get || !maxAge.set || !expires?.get || !expires.set) return; // not express-session's Cookie
  guarded.add(cookie);

  // Not enumerable, as express-session's own wrappers of save and reload: no data, no reserved key.
  // eslint-disable-next-line @typescript-eslint/unbound-method -- called below with the session as `this`
  const resetMaxAge = session.resetMaxAge;
  const libraryReset = function (this: Session) {
    return asLibrary(() => resetMaxAge.call(this));
  };
  Object.defineProperty(session, 'resetMaxAge', {
    configurable: true,
    enumerable: false,
    get: () => libraryReset,
    // An application's `req.session.resetMaxAge = …` becomes an ordinary key again, which the commit refuses
    // as express-session's own member (400), as it does without this guard.
    set(value: unknown) {
      Object.defineProperty(session, 'resetMaxAge', { configurable: true, enumerable: true, writable: true, value });
    },
  });

  let originalMaxAge = cookie.originalMaxAge as unknown;
  /** A browser-session cookie, given "no lifetime" again: nothing changes. */
  const keepsNone = (value: unknown) =>
    isNone(value) && isNone(originalMaxAge) && store.cookieLifetime(session, Date.now()) === null;
  const refuse = (field: LifetimeField, value: unknown) => {
    if (keepsNone(value) || refusals.has(req)) return;
    const error = new SessionCookieLifetimeError(field, value);
    refusals.set(req, error);
    sessionLogger.error(error.message, error.stack);
  };

  Object.defineProperty(cookie, 'originalMaxAge', {
    configurable: true,
    enumerable: true,
    get: () => originalMaxAge,
    set(value: unknown) {
      if (libraryWrites > 0) originalMaxAge = value;
      else refuse('originalMaxAge', value);
    },
  });
  Object.defineProperty(cookie, 'maxAge', {
    configurable: true,
    get: () => maxAge.get!.call(cookie) as unknown,
    set(value: unknown) {
      if (libraryWrites > 0) maxAge.set!.call(cookie, value);
      else refuse('maxAge', value);
    },
  });
  Object.defineProperty(cookie, 'expires', {
    configurable: true,
    get: () => expires.get!.call(cookie) as unknown,
    set(value: unknown) {
      if (libraryWrites > 0) expires.set!.call(cookie, value);
      else refuse('expires', value);
    },
  });
}

/** `null`, `undefined` or `false`: express-session's "no lifetime", a browser-session cookie. */
function isNone(value: unknown): boolean {
  return value === null || value === undefined || value === false;
}
