import type { RequestMethod } from '@nestjs/common';
import type { MongoClient, WriteConcernSettings } from 'mongodb';
import type { SessionEvent } from '../core/session.events.js';
import type { SessionSchema } from '../core/session.schema.js';
import type { AppSessionData, SessionKey } from './session-data.interface.js';

/**
 * A route left out of session loading: a path as Nest writes routes (`'health'`, `'assets/{*path}'`), or
 * `{ path, method }` for one method.
 */
export type ExcludedRoute = string | { path: string; method?: RequestMethod };

/** Where a request's session id is read: the session cookie, or a token in a header (see `idSource`). */
export type IdSource = 'cookie' | 'header';

/** How expired session documents are deleted from MongoDB. Expired sessions are never served, whichever. */
export type AutoRemoveMode = 'native' | 'interval' | 'disabled';

/** Cookie attributes of the session cookie. */
export interface SessionCookieOptions {
  /** Cookie path. Default `'/'`. */
  path?: string;
  /** Cookie domain. Default: none (host-only cookie). */
  domain?: string;
  /** Hide the cookie from scripts. Default `true`. */
  httpOnly?: boolean;
  /** SameSite attribute. Default `'lax'`; `'none'` requires `secure: true`. */
  sameSite?: 'lax' | 'strict' | 'none' | boolean;
  /**
   * Secure attribute. Default `'auto'`: set on HTTPS requests, including behind a proxy when Express
   * `trust proxy` is configured (`true` with `hostPrefix`).
   */
  secure?: boolean | 'auto';
  /**
   * Name the cookie `__Host-<name>`: browsers then only accept it Secure, with Path=/ and no Domain, so a
   * sibling subdomain cannot set or shadow it. Default `false`.
   */
  hostPrefix?: boolean;
  /**
   * Give the cookie an expiry (`Expires`, following the server's: refreshed whenever the session's expiry is
   * extended, capped by the absolute timeout). Default `false`: a browser-session cookie, gone when the
   * browser closes (OWASP's advice; Spring Session's default), while the server still ends the session at
   * its timeouts. Sessions logged in with `login(data, { remember: true })` always get one.
   */
  persistent?: boolean;
}

/** Timeouts of sessions logged in with `login(data, { remember: true })` ("remember me"), in seconds. */
export interface RememberMeOptions {
  /** Idle timeout of a remembered session. Default `2592000` (30 days). */
  idleTimeout?: number;
  /** Absolute timeout of a remembered session, since login. Default: none. */
  absoluteTimeout?: number;
}

/** Where `CsrfGuard` reads the token of an unsafe request. */
export interface CsrfOptions {
  /** Request header carrying the token. Default `'x-csrf-token'`. */
  headerName?: string;
  /** Form (or JSON body) field carrying the token. Default `'_csrf'`. */
  fieldName?: string;
}

/** WebSocket gateways and GraphQL subscriptions (`SessionIoAdapter`, `SessionWsAdapter`, `graphqlWsSessions`). */
export interface SessionSocketOptions {
  /**
   * Refuse a connection whose handshake carries no authenticated session (no cookie, a forged or ended one).
   * Default `false`: such connections are accepted and served by `@Public()` handlers only.
   */
  requireSession?: boolean;
  /**
   * Seconds between two checks of the open connections' sessions in MongoDB (one query per check and
   * instance): a session ended on another instance closes its connections here within this time. Sessions
   * ended on this instance close theirs at once. Default `10`.
   */
  checkInterval?: number;
}

/** What to do at login when a user already has `maxSessionsPerUser` sessions. */
export type SessionLimitPolicy = 'evict-oldest' | 'refuse';

/** Options of `SessionModule.forRoot` / `forRootAsync`. */
export interface SessionModuleOptions {
  /**
   * Secret that signs the session cookie. Required. Give an array to rotate: the first signs, all verify.
   */
  secret: string | string[];
  /** MongoDB connection string. Give either `uri` or `client`. */
  uri?: string;
  /** A `MongoClient` the application owns (connected or not); the module never closes it. */
  client?: MongoClient;
  /** Database name. Default: the database named in `uri`, else the driver's default. */
  dbName?: string;
  /** Collection that holds the sessions. Default `'sessions'`. */
  collectionName?: string;
  /**
   * Idle timeout in seconds: a session unused for longer is not served. Its expiry slides with use, written
   * at most once per `touchAfter`. Also the cookie's Max-Age. Default `86400` (1 day).
   */
  idleTimeout?: number;
  /** Former name of `idleTimeout` (connect-mongo's), accepted as such. */
  ttl?: number;
  /**
   * Absolute timeout in seconds: a session older than this since login is not served however active it is;
   * regenerating its id does not reset the clock. Default: none.
   */
  absoluteTimeout?: number;
  /** Name of the session cookie. Default `'sid'`. */
  name?: string;
  /** Cookie attributes; safe defaults (see `SessionCookieOptions`). */
  cookie?: SessionCookieOptions;
  /** Re-send the cookie, and extend its expiry, on every response. Default `false`. */
  rolling?: boolean;
  /** Timeouts of remembered sessions (`login(data, { remember: true })`). */
  rememberMe?: RememberMeOptions;
  /**
   * `Cache-Control: no-store` on every answer to an authenticated request that sets no `Cache-Control` of
   * its own, so that private pages are not kept by the browser (Back after logout) or a shared cache.
   * Answers that set or clear the session cookie always get it. Default `true`.
   */
  noStoreAuthenticated?: boolean;
  /** Where `CsrfGuard` reads the token. */
  csrf?: CsrfOptions;
  /**
   * Touch throttling, in seconds: an unchanged session is written back (to extend its expiry) at most
   * once per this period. `0` writes on every request. Default `60`.
   */
  touchAfter?: number;
  /**
   * How expired documents are removed. `'native'` (default) uses a MongoDB TTL index; `'interval'` deletes
   * them on a timer (for servers without TTL indexes, such as FerretDB 1.x); `'disabled'` leaves it to you.
   */
  autoRemove?: AutoRemoveMode;
  /** Minutes between two cleanups with `autoRemove: 'interval'`. Default `10`. */
  autoRemoveInterval?: number;
  /**
   * Session field holding the user id: it marks a session as logged in and is indexed. A session key, or a
   * dotted path of keys into a nested object: `'passport.user'` for Passport, whose `PassportSerializer`
   * stores the user id there (a non-empty string or a finite number; serialize an ObjectId as
   * `user.id`, its hex string). Each segment is letters, digits and `_`; the first is not a reserved key.
   * The user id's type (`SessionUserId`) follows a top-level `userId` field only: with a path it is
   * `string | number`. Default `'userId'`.
   */
  userIdField?: SessionKey | `${SessionKey}.${string}`;
  /** Decides whether a session is authenticated. Default: the `userIdField` is set. */
  isAuthenticated?: (session: Readonly<Partial<AppSessionData>>) => boolean;
  /**
   * How long a request may wait for MongoDB, in milliseconds, before it is answered 503. Used as the
   * driver's server selection timeout for the client the module creates from `uri`. Default `5000`.
   */
  storeTimeoutMs?: number;
  /**
   * Run-time check of stored session data, applied when a session is loaded: any Standard Schema validator
   * (zod, valibot, arktype…) or a function returning the data or throwing. A session that fails is deleted,
   * logged once with the reason, and treated as no session. Default: none.
   */
  schema?: SessionSchema;
  /** At most this many live sessions per user; see `onSessionLimit`. Default: no limit. */
  maxSessionsPerUser?: number;
  /**
   * The most a session's data may take, in bytes of its JSON (UTF-8). A `set`, `patch`, `login` or
   * `regenerate({ keep })` beyond it throws `SessionDataError` (400) and writes nothing. Every request reads
   * its whole session, so the bound is also a bound on the cost of each request. Default `65536` (64 KiB):
   * far above a session's usual few hundred bytes, well under MongoDB's 16 MiB document limit. At most
   * 15 MiB.
   */
  maxSessionBytes?: number;
  /**
   * At a login beyond `maxSessionsPerUser`: `'evict-oldest'` (default) ends the user's oldest sessions;
   * `'refuse'` answers 403 and keeps the existing ones.
   */
  onSessionLimit?: SessionLimitPolicy;
  /**
   * How recent, in seconds, the last authentication (login or `SessionService.confirmAuthentication()`)
   * must be for a route marked `@RequireRecentAuth()` without its own age. Default `900` (15 minutes): one
   * sensitive task's worth, and less left to whoever finds a session open than GitHub's sudo mode (2 hours),
   * Laravel's `password.confirm` (3 hours) or Better Auth's `freshAge` (1 day) leave.
   */
  recentAuthSeconds?: number;
  /**
   * Called with every lifecycle event (created, destroyed, revoked, expired, invalid). Events also go to
   * `@nestjs/event-emitter` as `session.<type>` when the application registers its `EventEmitterModule`.
   */
  onEvent?: (event: SessionEvent) => void;
  /**
   * Write concern of every session write (login, save, touch, destroy, revocation, per-user deletion).
   * Default `{ w: 'majority' }`: on a replica set, an acknowledged logout survives a failover. Session reads
   * always go to the primary.
   */
  writeConcern?: WriteConcernSettings;
  /**
   * Sessions written by express-session + connect-mongo before the switch (stored under their plain id,
   * `session` as a JSON string or an object) keep working: when an id is not found under its hash, the
   * store looks it up as connect-mongo stored it, once, and if it is live and passes the data checks
   * (`schema`, storable data) moves it under the hash and serves it. Costs one extra read per unknown id;
   * set `false` once no such session is left (they expire with connect-mongo's `ttl`). Default `true`.
   */
  legacyIds?: boolean;
  /**
   * Routes the session middleware leaves out, written as Nest routes (`'health'`, `'assets/{*path}'`,
   * `{ path: 'metrics', method: RequestMethod.GET }`) and matched under the global prefix, with or without a
   * trailing slash, in any case; a URI version is part of the path (`'v1/health'`). No session is loaded for
   * them, so they never wait for MongoDB (health checks, static files). `SessionService` and `@Session()` find
   * no session there, and `AuthGuard` refuses them unless they are `@Public()`. Default: none.
   */
  exclude?: ExcludedRoute[];
  /** Sessions on WebSocket connections; see `SessionSocketOptions`. */
  sockets?: SessionSocketOptions;
  /**
   * Origins besides the application's own (`'https://app.example.com'`) whose pages may send unsafe requests
   * (`CsrfGuard`) and open WebSockets (`SessionIoAdapter`, `SessionWsAdapter`, `graphqlWsSessions`) with the
   * user's cookie. The application's own origin is the request's scheme and `Host`; list the public origin
   * here when a proxy rewrites `Host`. Default: none.
   */
  trustedOrigins?: string[];
  /**
   * Where a request presents its session: `'cookie'` (default), `'header'` (clients without cookies: the
   * signed id travels in `tokenHeader` or `Authorization: Bearer`, and login hands it out in `tokenHeader`),
   * or both. A request that presents a token, or asks for one with an empty `tokenHeader`, is judged by the
   * token alone, its cookie ignored; in header-only mode the cookie is never read.
   */
  idSource?: IdSource | IdSource[];
  /** The header a client sends its session token in, and receives a new one in. Default `'X-Session-Token'`. */
  tokenHeader?: string;
}
