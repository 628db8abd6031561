import type { MongoClient, WriteConcernSettings } from 'mongodb';
import type { AppSessionData, SessionKey } from '../interfaces/session-data.interface.js';
import { isReservedKey, userIdOf } from '../core/session-data.util.js';
import { SessionOptionsError } from '../session.errors.js';
import { invalidExclusion, type ExcludedRoute } from '../http/route-exclusion.util.js';
import type { SessionEvent } from '../core/session.events.js';
import { normalizedOrigin } from '../http/origin.util.js';
import type { SessionSchema } from '../core/session.schema.js';

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
  /** Session field holding the user id: it marks a session as logged in and is indexed. Default `'userId'`. */
  userIdField?: SessionKey;
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
}

/** The options with every default applied: what the rest of the library reads. */
export interface ResolvedSessionOptions {
  secret: string[];
  uri?: string;
  client?: MongoClient;
  dbName?: string;
  collectionName: string;
  idleTimeout: number;
  absoluteTimeout?: number;
  /** The cookie's full name, `__Host-` prefix included. */
  name: string;
  cookie: Required<Pick<SessionCookieOptions, 'path' | 'httpOnly' | 'sameSite' | 'secure' | 'persistent'>> &
    Pick<SessionCookieOptions, 'domain'>;
  rolling: boolean;
  rememberMe: { idleTimeout: number; absoluteTimeout?: number };
  noStoreAuthenticated: boolean;
  csrf: Required<CsrfOptions>;
  touchAfter: number;
  autoRemove: AutoRemoveMode;
  autoRemoveInterval: number;
  userIdField: string;
  isAuthenticated: (session: Readonly<Partial<AppSessionData>>) => boolean;
  storeTimeoutMs: number;
  schema?: SessionSchema;
  maxSessionsPerUser?: number;
  maxSessionBytes: number;
  onSessionLimit: SessionLimitPolicy;
  recentAuthSeconds: number;
  onEvent?: (event: SessionEvent) => void;
  writeConcern: WriteConcernSettings;
  exclude: ExcludedRoute[];
  sockets: Required<SessionSocketOptions>;
  /** The `trustedOrigins` option, each as `URL.origin` writes it. */
  trustedOrigins: ReadonlySet<string>;
}

/** `maxSessionBytes` by default: 64 KiB. */
const DEFAULT_MAX_SESSION_BYTES = 65_536;
/** `maxSessionBytes` at most: 15 MiB, leaving room under MongoDB's 16 MiB for the cookie, times and device. */
const MAX_SESSION_BYTES_LIMIT = 15 * 1024 * 1024;

const AUTO_REMOVE_MODES: readonly AutoRemoveMode[] = ['native', 'interval', 'disabled'];
const SAME_SITE_VALUES: readonly unknown[] = ['lax', 'strict', 'none', true, false];

function fail(option: string, problem: string, fix: string): never {
  throw new SessionOptionsError(option, `${problem}. ${fix}`);
}

function positiveNumber(option: string, value: unknown, fallback: number, unit: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    fail(option, `must be a positive number of ${unit}, got ${JSON.stringify(value)}`, `Default: ${fallback}.`);
  }
  return value;
}

/**
 * Validates the module options and applies the defaults, once, at start-up.
 *
 * @throws SessionOptionsError naming the first wrong or missing option.
 */
export function resolveSessionOptions(options: SessionModuleOptions | undefined): ResolvedSessionOptions {
  if (!options || typeof options !== 'object') {
    fail('options', 'SessionModule needs an options object', 'Pass at least { secret, uri }.');
  }

  const secrets = typeof options.secret === 'string' ? [options.secret] : options.secret;
  if (!Array.isArray(secrets) || secrets.length === 0 || secrets.some((s) => typeof s !== 'string' || s === '')) {
    fail(
      'secret',
      'is required: a non-empty string, or a non-empty array of them',
      'Read it from the environment, e.g. secret: process.env.SESSION_SECRET.',
    );
  }

  if (options.uri === undefined && options.client === undefined) {
    fail('uri', 'is required unless `client` is given', "Pass uri: 'mongodb://…' or client: an existing MongoClient.");
  }
  if (options.uri !== undefined && options.client !== undefined) {
    fail('uri', 'and `client` are both given', 'Pass one of them.');
  }
  if (options.uri !== undefined && (typeof options.uri !== 'string' || !/^mongodb(\+srv)?:\/\//.test(options.uri))) {
    fail(
      'uri',
      `must be a MongoDB connection string, got ${JSON.stringify(options.uri)}`,
      "It starts with 'mongodb://' or 'mongodb+srv://'.",
    );
  }
  if (
    options.client !== undefined &&
    (typeof options.client !== 'object' || typeof options.client?.db !== 'function')
  ) {
    fail('client', 'must be a MongoClient from the mongodb driver', 'Pass new MongoClient(uri), or use `uri`.');
  }

  for (const key of ['dbName', 'collectionName', 'name'] as const) {
    const value = options[key];
    if (value !== undefined && (typeof value !== 'string' || value === '' || /[\s$]/.test(value))) {
      fail(
        key,
        `must be a non-empty name without spaces or '$', got ${JSON.stringify(value)}`,
        'Leave it out for the default.',
      );
    }
  }

  const userIdField: string = options.userIdField ?? 'userId';
  if (typeof userIdField !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(userIdField) || isReservedKey(userIdField)) {
    fail(
      'userIdField',
      `must be a plain top-level session key, got ${JSON.stringify(userIdField)}`,
      "Default: 'userId'.",
    );
  }

  const autoRemove = options.autoRemove ?? 'native';
  if (!AUTO_REMOVE_MODES.includes(autoRemove)) {
    fail(
      'autoRemove',
      `must be one of ${AUTO_REMOVE_MODES.join(', ')}, got ${JSON.stringify(autoRemove)}`,
      "Use 'interval' on servers without TTL indexes (FerretDB 1.x).",
    );
  }

  const cookie = options.cookie ?? {};
  const sameSite = cookie.sameSite ?? 'lax';
  if (!SAME_SITE_VALUES.includes(sameSite)) {
    fail(
      'cookie.sameSite',
      `must be 'lax', 'strict', 'none' or a boolean, got ${JSON.stringify(sameSite)}`,
      "Default: 'lax'.",
    );
  }
  const hostPrefix = cookie.hostPrefix ?? false;
  const secure = cookie.secure ?? (hostPrefix ? true : 'auto');
  if (secure !== 'auto' && typeof secure !== 'boolean') {
    fail('cookie.secure', `must be true, false or 'auto', got ${JSON.stringify(secure)}`, "Default: 'auto'.");
  }
  if (sameSite === 'none' && secure !== true) {
    fail(
      'cookie.sameSite',
      "is 'none' but cookie.secure is not true; browsers reject such cookies",
      "Set cookie.secure: true, or keep sameSite: 'lax'.",
    );
  }
  const path = cookie.path ?? '/';
  if (typeof path !== 'string' || !path.startsWith('/')) {
    fail('cookie.path', `must start with '/', got ${JSON.stringify(path)}`, "Default: '/'.");
  }
  if (hostPrefix) {
    if (secure === false)
      fail(
        'cookie.secure',
        'is false, but a __Host- cookie must be Secure',
        'Leave it out (true) or set cookie.hostPrefix: false.',
      );
    if (cookie.domain !== undefined)
      fail(
        'cookie.domain',
        'is set, but a __Host- cookie must have no Domain',
        'Remove cookie.domain or set cookie.hostPrefix: false.',
      );
    if (path !== '/')
      fail(
        'cookie.path',
        `is ${JSON.stringify(path)}, but a __Host- cookie must have Path=/`,
        "Use '/' or set cookie.hostPrefix: false.",
      );
  }

  if (options.isAuthenticated !== undefined && typeof options.isAuthenticated !== 'function') {
    fail('isAuthenticated', 'must be a function (session) => boolean', 'Leave it out to test the userIdField.');
  }
  const schema = options.schema;
  if (schema !== undefined && typeof schema !== 'function' && typeof schema?.['~standard']?.validate !== 'function') {
    fail(
      'schema',
      'must be a Standard Schema validator (zod, valibot, arktype…) or a function (data) => data',
      'Pass e.g. z.object({ … }).',
    );
  }
  if (options.touchAfter !== undefined && (typeof options.touchAfter !== 'number' || !(options.touchAfter >= 0))) {
    fail('touchAfter', `must be a number of seconds >= 0, got ${JSON.stringify(options.touchAfter)}`, 'Default: 60.');
  }
  if (options.ttl !== undefined && options.idleTimeout !== undefined) {
    fail('ttl', 'and `idleTimeout` are both given; ttl is the former name of idleTimeout', 'Keep idleTimeout.');
  }
  const idleTimeout = positiveNumber(
    options.ttl !== undefined ? 'ttl' : 'idleTimeout',
    options.ttl ?? options.idleTimeout,
    86_400,
    'seconds',
  );
  const touchAfter = options.touchAfter ?? Math.min(60, idleTimeout / 2);
  if (touchAfter >= idleTimeout) {
    fail(
      'touchAfter',
      `(${touchAfter} s) must be shorter than idleTimeout (${idleTimeout} s), or sessions expire while in use`,
      'Lower touchAfter.',
    );
  }
  const absoluteTimeout =
    options.absoluteTimeout === undefined
      ? undefined
      : positiveNumber('absoluteTimeout', options.absoluteTimeout, 0, 'seconds');
  const maxSessionsPerUser = options.maxSessionsPerUser;
  if (maxSessionsPerUser !== undefined && (!Number.isInteger(maxSessionsPerUser) || maxSessionsPerUser < 1)) {
    fail(
      'maxSessionsPerUser',
      `must be a whole number >= 1, got ${JSON.stringify(maxSessionsPerUser)}`,
      'Leave it out for no limit.',
    );
  }
  const maxSessionBytes = options.maxSessionBytes ?? DEFAULT_MAX_SESSION_BYTES;
  if (!Number.isInteger(maxSessionBytes) || maxSessionBytes < 1024 || maxSessionBytes > MAX_SESSION_BYTES_LIMIT) {
    fail(
      'maxSessionBytes',
      `must be a whole number of bytes from 1024 to ${MAX_SESSION_BYTES_LIMIT}, got ${JSON.stringify(maxSessionBytes)}`,
      `Default: ${DEFAULT_MAX_SESSION_BYTES} (64 KiB).`,
    );
  }
  const onSessionLimit = options.onSessionLimit ?? 'evict-oldest';
  if (onSessionLimit !== 'evict-oldest' && onSessionLimit !== 'refuse') {
    fail(
      'onSessionLimit',
      `must be 'evict-oldest' or 'refuse', got ${JSON.stringify(onSessionLimit)}`,
      "Default: 'evict-oldest'.",
    );
  }
  const writeConcern = options.writeConcern ?? { w: 'majority' };
  if (typeof writeConcern !== 'object' || writeConcern === null || Array.isArray(writeConcern)) {
    fail(
      'writeConcern',
      `must be a write concern object, got ${JSON.stringify(writeConcern)}`,
      "Default: { w: 'majority' }.",
    );
  }
  const exclude = options.exclude ?? [];
  const validRoute = (route: unknown) =>
    typeof route === 'string' ||
    (typeof route === 'object' && route !== null && typeof (route as { path?: unknown }).path === 'string');
  if (!Array.isArray(exclude) || !exclude.every(validRoute)) {
    fail(
      'exclude',
      'must be an array of paths or { path, method } objects',
      "E.g. exclude: ['health', 'assets/{*path}'].",
    );
  }
  const badRoute = invalidExclusion(exclude);
  if (badRoute) fail('exclude', badRoute, "Write paths as Nest routes, e.g. 'health' or 'assets/{*path}'.");
  if (cookie.persistent !== undefined && typeof cookie.persistent !== 'boolean') {
    fail('cookie.persistent', `must be true or false, got ${JSON.stringify(cookie.persistent)}`, 'Default: false.');
  }
  const rememberMe = options.rememberMe ?? {};
  if (typeof rememberMe !== 'object' || rememberMe === null) {
    fail('rememberMe', `must be an object, got ${JSON.stringify(rememberMe)}`, 'E.g. { idleTimeout: 2592000 }.');
  }
  const rememberIdle = positiveNumber('rememberMe.idleTimeout', rememberMe.idleTimeout, 2_592_000, 'seconds');
  const rememberAbsolute =
    rememberMe.absoluteTimeout === undefined
      ? undefined
      : positiveNumber('rememberMe.absoluteTimeout', rememberMe.absoluteTimeout, 0, 'seconds');
  if (options.noStoreAuthenticated !== undefined && typeof options.noStoreAuthenticated !== 'boolean') {
    fail(
      'noStoreAuthenticated',
      `must be true or false, got ${JSON.stringify(options.noStoreAuthenticated)}`,
      'Default: true.',
    );
  }
  const csrf = options.csrf ?? {};
  for (const key of ['headerName', 'fieldName'] as const) {
    const value = csrf[key];
    if (value !== undefined && (typeof value !== 'string' || !/^[A-Za-z0-9_-]+$/.test(value))) {
      fail(
        `csrf.${key}`,
        `must be a plain header or field name, got ${JSON.stringify(value)}`,
        'Leave it out for the default.',
      );
    }
  }
  if (options.onEvent !== undefined && typeof options.onEvent !== 'function') {
    fail('onEvent', 'must be a function (event) => void', 'Leave it out, or use @nestjs/event-emitter.');
  }
  const sockets = resolveSocketOptions(options.sockets);

  return {
    secret: secrets,
    uri: options.uri,
    client: options.client,
    dbName: options.dbName,
    collectionName: options.collectionName ?? 'sessions',
    idleTimeout,
    absoluteTimeout,
    name: `${hostPrefix ? '__Host-' : ''}${options.name ?? 'sid'}`,
    cookie: {
      path,
      domain: cookie.domain,
      httpOnly: cookie.httpOnly ?? true,
      sameSite,
      secure,
      persistent: cookie.persistent ?? false,
    },
    rolling: options.rolling ?? false,
    rememberMe: { idleTimeout: rememberIdle, absoluteTimeout: rememberAbsolute },
    noStoreAuthenticated: options.noStoreAuthenticated ?? true,
    csrf: { headerName: (csrf.headerName ?? 'x-csrf-token').toLowerCase(), fieldName: csrf.fieldName ?? '_csrf' },
    touchAfter,
    autoRemove,
    autoRemoveInterval: positiveNumber('autoRemoveInterval', options.autoRemoveInterval, 10, 'minutes'),
    userIdField,
    isAuthenticated: options.isAuthenticated ?? ((session) => userIdOf(session, { userIdField }) !== undefined),
    storeTimeoutMs: positiveNumber('storeTimeoutMs', options.storeTimeoutMs, 5_000, 'milliseconds'),
    schema,
    maxSessionsPerUser,
    maxSessionBytes,
    onSessionLimit,
    recentAuthSeconds: positiveNumber('recentAuthSeconds', options.recentAuthSeconds, 900, 'seconds'),
    onEvent: options.onEvent,
    writeConcern,
    exclude,
    sockets,
    trustedOrigins: resolveTrustedOrigins(options.trustedOrigins),
  };
}

/** The `sockets` options, checked, with their defaults. */
function resolveSocketOptions(sockets: SessionSocketOptions | undefined): Required<SessionSocketOptions> {
  if (sockets !== undefined && (typeof sockets !== 'object' || sockets === null)) {
    fail('sockets', `must be an object, got ${JSON.stringify(sockets)}`, 'E.g. sockets: { requireSession: true }.');
  }
  const requireSession = sockets?.requireSession ?? false;
  if (typeof requireSession !== 'boolean') {
    fail('sockets.requireSession', `must be true or false, got ${JSON.stringify(requireSession)}`, 'Default: false.');
  }
  const checkInterval = positiveNumber('sockets.checkInterval', sockets?.checkInterval, 10, 'seconds');
  return { requireSession, checkInterval };
}

/** The `trustedOrigins` option, checked and normalized. */
function resolveTrustedOrigins(origins: unknown): ReadonlySet<string> {
  if (origins === undefined) return new Set();
  if (!Array.isArray(origins)) {
    fail(
      'trustedOrigins',
      `must be an array of origins, got ${JSON.stringify(origins)}`,
      "E.g. ['https://app.example.com'].",
    );
  }
  return new Set(
    origins.map((origin: unknown) => {
      const normalized = normalizedOrigin(origin);
      if (normalized === undefined) {
        fail(
          'trustedOrigins',
          `${JSON.stringify(origin)} is not an origin`,
          "Give scheme, host and port only, as a browser's Origin header writes them: 'https://app.example.com'.",
        );
      }
      return normalized;
    }),
  );
}
