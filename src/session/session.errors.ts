import { BadRequestException, ServiceUnavailableException, UnauthorizedException } from '@nestjs/common';

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
 * `SessionService.save()` found the session's document gone: it was ended elsewhere (logout, revocation,
 * expiry) while this request ran, and is not re-created. Answers HTTP 401.
 */
export class SessionEndedError extends UnauthorizedException {
  constructor() {
    super('This session has ended (logged out, revoked or expired); log in again.');
    this.name = 'SessionEndedError';
  }
}
