import {
  BadRequestException,
  HttpException,
  HttpStatus,
  ForbiddenException,
  InternalServerErrorException,
  ServiceUnavailableException,
  UnauthorizedException,
} from '@nestjs/common';

/** A `SessionModule` option is missing or wrong. Thrown at start-up; the message names the option. */
export class SessionOptionsError extends Error {
  override readonly name = 'SessionOptionsError';

  constructor(
    /** The option at fault, e.g. `secret` or `cookie.sameSite`. */
    readonly option: string,
    detail: string,
  ) {
    super(`SessionModule option "${option}" ${detail}`);
  }
}

/**
 * A middleware that needs the session (Passport's), or a session middleware of the application's own, is
 * mounted before the library's session middleware: with `app.use()` in main.ts, which runs before
 * `app.init()` mounts it. Thrown at start-up (`app.init()`, `listen()`); the message says where it must go.
 */
export class SessionMiddlewareOrderError extends Error {
  override readonly name = 'SessionMiddlewareOrderError';

  constructor(
    /** The middleware found, e.g. `passport.session()`. */
    readonly middleware: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A session API was used where there is no session: outside an HTTP request, or on a route the session
 * middleware did not run for.
 */
export class SessionNotAvailableError extends Error {
  override readonly name = 'SessionNotAvailableError';

  constructor(method: string) {
    super(
      `SessionService.${method}() found no session for this call. Call it while handling an HTTP request ` +
        'in an application that imports SessionModule.forRoot()/forRootAsync().',
    );
  }
}

/**
 * The session store (MongoDB) could not do what was asked. Answers HTTP 503: an outage must not look like
 * a logout. The driver's error is kept as `cause` for logs and never sent to the client.
 */
export class SessionStoreError extends ServiceUnavailableException {
  constructor(action: string, cause?: unknown) {
    super(`Session store unavailable: could not ${action}. Try again shortly.`, { cause });
    this.name = 'SessionStoreError';
  }
}

/**
 * Data given to `SessionService` cannot be stored: a reserved or unsafe key, or a login without user id.
 * Answers HTTP 400 when it reaches Nest's exception filter; nothing is written.
 */
export class SessionDataError extends BadRequestException {
  constructor(message: string) {
    super(message);
    this.name = 'SessionDataError';
  }
}

/**
 * A write would give a session a user id that `login()` did not give it: put on `req.session` directly (after
 * `req.session.regenerate()`, Passport's `req.login()`, or on a session that had none or another one). Such
 * a login would skip what `login()` guarantees (a new id, `maxSessionsPerUser`, the login time and device),
 * so nothing is written. Answers HTTP 500: it is a programming error, and the message names the fix.
 */
export class SessionUserIdError extends InternalServerErrorException {
  constructor(userIdField: string) {
    super(
      `The user id (userIdField "${userIdField}") was put on req.session directly; nothing was stored. Log users ` +
        'in with SessionService.login(), which gives the session a new id, applies maxSessionsPerUser and records ' +
        'the device (with Passport, login({ passport: { user: id } }) rather than req.login()).',
    );
    this.name = 'SessionUserIdError';
  }
}

/**
 * `SessionService.save()` found the session's document gone: it was ended elsewhere (logout, revocation,
 * expiry) while this request ran, and is not re-created. Answers HTTP 401.
 */
export class SessionEndedError extends UnauthorizedException {
  constructor(message = 'This session has ended (logged out, revoked or expired); log in again.') {
    super(message);
    this.name = 'SessionEndedError';
  }
}

/**
 * `login()` or `regenerate()` would issue a cookie the browser can never receive: it must be Secure
 * (`cookie.secure: true` or `cookie.hostPrefix`) and the request is not HTTPS as Express sees it. Nothing is
 * written. Answers HTTP 500: it is a deployment error, and the message says how to fix it.
 */
export class SessionCookieError extends InternalServerErrorException {
  constructor() {
    super(
      'The session cookie is Secure (cookie.secure / cookie.hostPrefix) but this request is not HTTPS, so the ' +
        "browser would never receive it. Serve HTTPS, or behind a TLS-terminating proxy call app.set('trust proxy', 1) " +
        'so that X-Forwarded-Proto is honoured.',
    );
    this.name = 'SessionCookieError';
  }
}

/**
 * The application set the session cookie's lifetime by hand (`req.session.cookie.maxAge`, `.expires`,
 * `.originalMaxAge`), as code written for express-session does for "remember me". Logged where it happened
 * (the stack shows the line), never thrown: the request is answered 500 and nothing it did is stored.
 */
export class SessionCookieLifetimeError extends Error {
  override readonly name = 'SessionCookieLifetimeError';

  constructor(field: string, value: unknown) {
    super(
      `req.session.cookie.${field} was set (to ${describeValue(value)}) and refused: the session cookie's ` +
        "lifetime is the session's, which SessionModule sets from its options, so this request is answered 500 " +
        'and nothing it changed is stored. For "remember me", log in with SessionService.login(data, { remember: ' +
        'true }): the rememberMe option sets how long such sessions live (30 days idle by default); other sessions ' +
        'follow idleTimeout and absoluteTimeout, with a browser-session cookie unless cookie.persistent is true.',
    );
  }
}

/** A value as a log shows it: numbers and dates as written, anything else by its type. */
function describeValue(value: unknown): string {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'an invalid Date' : value.toISOString();
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) {
    return String(value);
  }
  return `a ${typeof value}`;
}

/**
 * A request presented its session token ambiguously: the token header or `Authorization` twice, two
 * different tokens, or a `Bearer` value that is not one token. Answers HTTP 400; nothing is loaded.
 */
export class SessionTokenError extends BadRequestException {
  constructor(detail: string, header: string) {
    super(`Session token refused: ${detail}. Send one token, in ${header} or in Authorization: Bearer.`);
    this.name = 'SessionTokenError';
  }
}

/** An unsafe request (POST, PUT, PATCH, DELETE) without the session's CSRF token. Answers HTTP 403. */
export class CsrfTokenError extends ForbiddenException {
  constructor(detail: string) {
    super(`CSRF check failed: ${detail}.`);
    this.name = 'CsrfTokenError';
  }
}

/**
 * A route marked `@RequireRecentAuth()` was asked for by a session whose last authentication (login or
 * `SessionService.confirmAuthentication()`) is older than allowed. Answers HTTP 403 with
 * `reason: 'reauthenticate'` and `maxAgeSeconds`, so that a client knows to ask for the password again
 * (and not to log in anew, as after a 401).
 */
export class RecentAuthRequiredError extends ForbiddenException {
  constructor(
    /** How recent the authentication had to be, in seconds. */
    readonly maxAgeSeconds: number,
  ) {
    super({
      statusCode: 403,
      error: 'Forbidden',
      message: 'Recent authentication required: confirm your password to continue.',
      reason: 'reauthenticate',
      maxAgeSeconds,
    });
    this.name = 'RecentAuthRequiredError';
  }
}

/**
 * `SessionService.login()` or `regenerate()` was called while handling a WebSocket message: a new session
 * id can only reach the client in a cookie, which only an HTTP response can set.
 */
export class SocketSessionRotationError extends Error {
  override readonly name = 'SocketSessionRotationError';

  constructor() {
    super(
      'A session id cannot be changed over a WebSocket: the new cookie could not reach the client. Log in or ' +
        'regenerate over HTTP (a controller or a GraphQL mutation), then reconnect the socket.',
    );
  }
}

/**
 * A login, rotation or per-user deletion waited for the user's lock longer than `storeTimeoutMs`: other
 * changes to the same account's sessions are being applied. Or a request on a `@SessionLock()` route waited
 * as long for another request of its session. Answers 429, so that it is not mistaken for an outage (503).
 */
export class SessionBusyError extends HttpException {
  constructor(message = "Other changes to this account's sessions are being applied; try again in a moment.") {
    super(
      { statusCode: HttpStatus.TOO_MANY_REQUESTS, error: 'Too Many Requests', message },
      HttpStatus.TOO_MANY_REQUESTS,
    );
    this.name = 'SessionBusyError';
  }
}
