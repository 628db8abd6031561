import { Inject, Injectable, UnauthorizedException } from '@nestjs/common';
import type { ResolvedSessionOptions } from '../interfaces/resolved-session-options.interface.js';
import type {
  AppSessionData,
  SessionInfo,
  SessionKey,
  SessionUserId,
  UserSession,
} from '../interfaces/session-data.interface.js';
import type {
  DestroyAllOptions,
  LoginOptions,
  RegenerateOptions,
} from '../interfaces/session-service-options.interface.js';
import { RESOLVED_SESSION_OPTIONS, SESSION_STORE } from '../session.constants.js';
import { SessionDataError } from '../session.errors.js';
import type { SessionStore } from '../store/session-store.interface.js';
import { CurrentSession, fromCallback, newCsrfToken } from './current-session.service.js';
import {
  applicationData,
  asRecord,
  assertStorable,
  assertWithinSize,
  CSRF_KEY,
  userIdOf,
  userIdRootKey,
} from './session-data.util.js';
import { SessionEvents } from './session.events.js';
import { SessionRotation } from './session-rotation.service.js';
import { UserSessions } from './user-sessions.service.js';

/**
 * Typed access to the current request's session, and to every session of a user.
 *
 * A singleton: it finds the request being handled through the session middleware's async context, so it
 * can be injected anywhere. Reads return `undefined` when the request has no session; writes throw
 * `SessionNotAvailableError` outside a request. When MongoDB could not load the session, or fails an
 * operation, every call throws or rejects with `SessionStoreError` (HTTP 503): an outage never looks like a
 * logout.
 *
 * @example
 * constructor(private readonly sessions: SessionService) {}
 *
 * async login(user: User) {
 *   await this.sessions.login({ userId: user.id, role: user.role });
 * }
 */
@Injectable()
export class SessionService<S extends object = AppSessionData> {
  constructor(
    @Inject(RESOLVED_SESSION_OPTIONS) private readonly settings: ResolvedSessionOptions,
    @Inject(SESSION_STORE) private readonly store: SessionStore,
    private readonly events: SessionEvents,
    private readonly current: CurrentSession,
    private readonly users: UserSessions,
    private readonly rotation: SessionRotation,
  ) {}

  /** The current session, typed; `undefined` when the request has none (or after `destroy()`). */
  get session(): UserSession<S> | undefined {
    return this.current.loaded('session').req.session as UserSession<S> | undefined;
  }

  /** The current session id; `undefined` when the request has no session. */
  get id(): string | undefined {
    return this.session?.id;
  }

  /** The value under `key`, or `undefined` when it is not set. */
  get<K extends SessionKey<S>>(key: K): S[K] | undefined {
    return this.session?.[key] as S[K] | undefined;
  }

  /** A copy of the session's data, without express-session's own fields. */
  data(): Partial<S> | undefined {
    const session = this.session;
    return session && (applicationData(session) as Partial<S>);
  }

  /**
   * Stores `value` under `key`; written to MongoDB when the response ends (or by `save()`). `undefined`
   * removes the key.
   *
   * @throws SessionDataError for a reserved or unsafe key (a member of express-session's `Session` or
   * `Cookie` such as `id`, `touch`, `cookie`; `__proto__`, `$…`, `a.b`), for the user-id field (only
   * `login()` sets it, after rotating the id), for a value that cannot be stored as it is (a function, a
   * class instance, a circular object, an array inside an array…), or when the session would outgrow
   * `maxSessionBytes`; nothing is written.
   */
  set<K extends SessionKey<S>>(key: K, value: S[K]): void {
    this.patch({ [key]: value } as unknown as Partial<S>);
  }

  /** Removes `key` from the session. */
  unset<K extends SessionKey<S>>(key: K): void {
    this.patch({ [key]: undefined } as unknown as Partial<S>);
  }

  /**
   * Stores every field of `values` (`undefined` removes one); fields it does not name are left as they are.
   * All fields are checked before any is written.
   *
   * @throws SessionDataError as `set` does.
   */
  patch(values: Partial<S>): void {
    const root = userIdRootKey(this.settings.userIdField);
    if (root in values) {
      const what =
        root === this.settings.userIdField ? 'the user id' : `it holds the user id, ${this.settings.userIdField}`;
      throw new SessionDataError(`"${root}" (${what}) is set by login() only, which rotates the session id first.`);
    }
    for (const [key, value] of Object.entries(values)) assertStorable(key, value);
    const after = applicationData(this.current.require('patch'));
    for (const [key, value] of Object.entries(values)) {
      if (value === undefined) delete after[key];
      else after[key] = value;
    }
    assertWithinSize(after, this.settings.maxSessionBytes);
    this.current.apply(values);
  }

  /** `true` when the current session is authenticated (see the `isAuthenticated` option). */
  isAuthenticated(): boolean {
    const session = this.session;
    return session !== undefined && this.settings.isAuthenticated(session as Partial<AppSessionData>);
  }

  /** The user id of the current session, or `undefined` when nobody is logged in. */
  userId(): SessionUserId<S> | undefined {
    const session = this.session;
    return (session && userIdOf(session, this.settings)) as SessionUserId<S> | undefined;
  }

  /**
   * The user id of the current session, typed as present: for code behind `AuthGuard`, where a session
   * without one never gets this far.
   *
   * @throws UnauthorizedException (401) when nobody is logged in (the route is not guarded, or is `@Public()`).
   * @example
   * @Get('sessions')
   * list() {
   *   return this.sessions.listForUser(this.sessions.requireUserId());
   * }
   */
  requireUserId(): SessionUserId<S> {
    const userId = this.userId();
    if (userId === undefined) throw new UnauthorizedException('Authentication required');
    return userId;
  }

  /**
   * Writes the session to MongoDB now.
   *
   * @throws SessionEndedError (401) when the session was ended elsewhere while this request ran; it is not
   * re-created, and its cookie is cleared.
   * @throws SessionStoreError (503) when MongoDB could not write it; nothing more is written in this request.
   */
  async save(): Promise<void> {
    const session = this.current.require('save');
    await this.current.storeCall('save the session', () => fromCallback((done) => session.save(done)), 'detach');
    if (this.store.wasEndedElsewhere(session)) this.current.ended();
  }

  /**
   * Gives the session a new id: the old document is deleted and the data is dropped, except what `keep`
   * names. With data kept, the login time and device carry over (the absolute timeout is not reset), and
   * the new document is written before the old one is deleted, so a logout everywhere that runs meanwhile
   * cannot miss it.
   *
   * @throws SessionEndedError (401) when data is to be kept but the session was ended elsewhere while this
   * request ran: nothing is carried over, no new id is issued, the cookie is cleared.
   * @throws SessionDataError (400) when `keep` names a reserved key, or what it keeps cannot be stored (data
   * put on `req.session` directly) or is past `maxSessionBytes`; nothing changes.
   * @throws SessionBusyError (429) when other changes to the user's sessions hold the user's lock too long.
   * @throws SessionStoreError (503) when MongoDB failed; the request keeps no session, no cookie is sent.
   */
  regenerate(options: RegenerateOptions<S> = {}): Promise<void> {
    return this.rotation.regenerate(options);
  }

  /**
   * Records that the logged-in user just proved who they are again (re-entered their password, passed a
   * second factor): routes under `@RequireRecentAuth()` let the session through for their maximum age from
   * now. Call it only after checking the credential. The session gets a new id keeping all its data, as
   * `regenerate({ keep: true })` does (an id seen before the elevation does not carry it), and a new CSRF
   * token; the time is stored beside the data as `reauthenticatedAt`, not in it, and the login time (the
   * start of the absolute timeout) does not change.
   *
   * @throws UnauthorizedException (401) when nobody is logged in.
   * @throws as `regenerate` does (401 ended elsewhere, 429, 503); the stamp is then not recorded.
   * @example
   * @Post('confirm-password')
   * async confirm(@Body() body: { password: string }) {
   *   await this.users.checkPassword(this.sessions.requireUserId(), body.password); // throws when wrong
   *   await this.sessions.confirmAuthentication();
   * }
   */
  async confirmAuthentication(): Promise<void> {
    if (!this.isAuthenticated()) throw new UnauthorizedException('Authentication required');
    const meta = this.store.metaOf(this.current.require('confirmAuthentication'));
    const previous = meta.reauthenticatedAt;
    meta.reauthenticatedAt = new Date(); // carried to the new document by the rotation
    try {
      await this.regenerate({ keep: true });
    } catch (error) {
      meta.reauthenticatedAt = previous;
      throw error;
    }
  }

  /**
   * Logs a user in: regenerates the session id first (no session fixation), then stores `data` with the
   * login time, user agent and client address. The new document is in MongoDB when the promise resolves.
   * With `maxSessionsPerUser`, the user's oldest sessions are ended, or the login is refused.
   *
   * @throws SessionDataError (400) when `data`'s user id (the `userIdField` option) is not a non-empty string
   * or a finite number, or `data` cannot be stored as `patch` checks it; nothing changes.
   * @throws ForbiddenException (403) when the session limit is reached and `onSessionLimit` is `'refuse'`.
   * @throws SessionBusyError (429) when other changes to the user's sessions hold the user's lock too long.
   * @throws SessionStoreError (503) when MongoDB failed; no session and no cookie come out of the request.
   */
  login(data: S, options: LoginOptions = {}): Promise<void> {
    return this.rotation.login(data, options);
  }

  /**
   * The current session's CSRF token, for `CsrfGuard`: embed it in forms (`_csrf` field) or send it in the
   * `X-CSRF-Token` header of unsafe requests. Created on first use (a stored session that has none gets one,
   * saved at the end of the request) and renewed at every login. A visitor without a stored session gets a
   * token that is stored only if the session is stored for another reason: no document for anonymous traffic.
   *
   * @throws SessionNotAvailableError outside a request that has a session.
   */
  csrfToken(): string {
    const session = asRecord(this.current.require('csrfToken'));
    const token = session[CSRF_KEY];
    if (typeof token === 'string') return token;
    const created = newCsrfToken();
    if (this.store.isStored(session)) {
      session[CSRF_KEY] = created; // a change of the session: saved at the end of the request
    } else {
      // Not enumerable, so not a change: stored only if the session is stored for another reason, and an
      // anonymous visit writes nothing (a request without a session is judged by its Origin instead).
      Object.defineProperty(session, CSRF_KEY, { value: created, writable: true, configurable: true });
    }
    return created;
  }

  /**
   * Ends the current session. When the promise resolves the document is gone from MongoDB, the cookie is
   * cleared on the response (same name, path and domain), the response is marked `Cache-Control: no-store`
   * and `req.session` is gone. Harmless when called twice or on a request without a session.
   *
   * @throws SessionStoreError when MongoDB could not delete the document.
   */
  async destroy(): Promise<void> {
    await this.current.end('destroyed', 'logout');
  }

  /**
   * Lists a user's live sessions (through the user-id index), newest expiry first, with their times and
   * devices. Each carries a public handle, never its id.
   *
   * @throws SessionDataError (400) when `userId` is not a non-empty string or a finite number (an operator
   * object from a request body, `undefined`…); nothing is queried.
   */
  listForUser(userId: SessionUserId<S>): Promise<SessionInfo<S>[]> {
    return this.users.list(userId) as Promise<SessionInfo<S>[]>;
  }

  /**
   * Ends one session of a user, by the handle `listForUser` gave; the handle stays the same when the session
   * rotates its id (`regenerate`), so a session cannot dodge its revocation by rotating. A session of another
   * user is never touched: the answer is then `false`, as for an unknown handle. Ending the current session
   * clears its cookie, as `destroy()` does.
   *
   * @throws SessionDataError (400) when `userId` is not a non-empty string or a finite number, or `handle`
   * is not a string of the handle format; nothing is queried.
   */
  revoke(userId: SessionUserId<S>, handle: string): Promise<boolean> {
    return this.users.revoke(userId, handle);
  }

  /**
   * Ends every session of a user, everywhere. The current request's session is ended too (cookie cleared,
   * as by `destroy()`) when it is the user's, unless `exceptCurrent` is set. Resolves to the number ended.
   *
   * @throws SessionDataError (400) when `userId` is not a non-empty string or a finite number; nothing is
   * queried, deleted or locked.
   */
  destroyAllForUser(userId: SessionUserId<S>, options: DestroyAllOptions = {}): Promise<number> {
    return this.users.destroyAll(userId, options);
  }
}
