import { ForbiddenException, HttpException, Inject, Injectable, UnauthorizedException } from '@nestjs/common';
import type { Session as ExpressSession } from 'express-session';
import {
  assertStorable,
  assertUserId,
  assertWithinSize,
  CSRF_KEY,
  asRecord,
  applicationData,
  isReservedKey,
  userIdOf,
} from './session-data.util.js';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import {
  SessionCookieError,
  SessionDataError,
  SessionEndedError,
  SessionNotAvailableError,
  SessionStoreError,
} from '../session.errors.js';
import { SessionEvents, type SessionEventReason } from './session.events.js';
import { RESOLVED_SESSION_OPTIONS, SESSION_COOKIES, SESSION_STORE } from '../session.constants.js';
import type { SessionCookies } from './session-cookies.interface.js';
import { isSocketContext, sessionContext, throwIfLoadFailed, type SessionContext } from './session.context.js';
import type { ResolvedSessionOptions } from '../options/session-options.resolver.js';
import { handleOfDocument, isHandle, storageKey } from './session-id.util.js';
import type { SessionDocument, SessionStore } from '../store/session-store.interface.js';
import { SocketSessionRotationError } from '../session.errors.js';
import type {
  AppSessionData,
  SessionInfo,
  SessionKey,
  SessionUserId,
  UserSession,
} from '../interfaces/session-data.interface.js';

/** Options of `SessionService.regenerate`. */
export interface RegenerateOptions<S extends object = AppSessionData> {
  /** Data to carry over to the new id: a list of keys, or `true` for all of it. Default: nothing. */
  keep?: readonly SessionKey<S>[] | true;
}

/** Options of `SessionService.login`. */
export interface LoginOptions {
  /**
   * "Remember me": this session gets the `rememberMe` timeouts (default: 30 days idle) and a persistent
   * cookie that follows them, whatever `cookie.persistent` says. Default `false`.
   */
  remember?: boolean;
}

/** Options of `SessionService.destroyAllForUser`. */
export interface DestroyAllOptions {
  /** Leave the session of the current request alive. Default `false`. */
  exceptCurrent?: boolean;
  /** The reason given in the `revoked` events. Default `'revoke-all'`. */
  reason?: SessionEventReason;
}

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
    @Inject(SESSION_COOKIES) private readonly cookies: SessionCookies,
  ) {}

  /** The current session, typed; `undefined` when the request has none (or after `destroy()`). */
  get session(): UserSession<S> | undefined {
    return this.loaded('session').req.session as UserSession<S> | undefined;
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
    if (this.settings.userIdField in values) {
      throw new SessionDataError(
        `"${this.settings.userIdField}" (the user id) is set by login() only, which rotates the session id first.`,
      );
    }
    for (const [key, value] of Object.entries(values)) assertStorable(key, value);
    const after = applicationData(this.require('patch'));
    for (const [key, value] of Object.entries(values)) {
      if (value === undefined) delete after[key];
      else after[key] = value;
    }
    assertWithinSize(after, this.settings.maxSessionBytes);
    this.apply(values);
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
    const session = this.require('save');
    await this.guarded('save the session', () => fromCallback((done) => session.save(done)));
    if (this.store.wasEndedElsewhere(session)) this.ended();
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
  async regenerate(options: RegenerateOptions<S> = {}): Promise<void> {
    const { req } = this.context('regenerate');
    this.assertCanIssueCookie(req);
    const old = this.require('regenerate');
    const oldId = old.id;
    const data = applicationData(old);
    const keep = options.keep === true ? Object.keys(data) : (options.keep ?? []);
    for (const key of keep) {
      if (typeof key !== 'string' || isReservedKey(key)) {
        throw new SessionDataError(`regenerate() cannot keep ${JSON.stringify(String(key))}: it is not a data key.`);
      }
    }
    const kept = Object.fromEntries(keep.filter((key) => key in data).map((key) => [key, data[key]]));
    for (const [key, value] of Object.entries(kept)) assertStorable(key, value);
    assertWithinSize(kept, this.settings.maxSessionBytes);
    if (Object.keys(kept).length === 0) {
      await this.guarded('regenerate the session', () => fromCallback((done) => old.regenerate(done)));
    } else {
      // Under the user's lock, as per-user deletions are: no deletion can run between the new document's
      // insert and the old one's delete, which a multi-document delete (not a snapshot) could miss.
      const userId = userIdOf(old, this.settings);
      const rotate = () => this.store.rotateKeeping(req, kept);
      const outcome = await this.guarded('regenerate the session', () =>
        userId === undefined ? rotate() : this.store.withUserLock(userId, rotate),
      );
      if (outcome === 'ended') this.ended();
    }
    this.events.rotated(oldId); // its sockets reconnect with the new cookie
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
    const meta = this.store.metaOf(this.require('confirmAuthentication'));
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
  async login(data: S, options: LoginOptions = {}): Promise<void> {
    const userId = asRecord(data)[this.settings.userIdField];
    assertUserId(`SessionService.login() (data.${this.settings.userIdField}, the option userIdField)`, userId);
    for (const [key, value] of Object.entries(data)) assertStorable(key, value);
    assertWithinSize(data, this.settings.maxSessionBytes);
    const context = this.context('login');
    const { req } = context;
    this.assertCanIssueCookie(req);
    const old = this.require('login');
    const oldId = old.id;
    const open = async () => {
      await fromCallback((done) => old.regenerate(done));
      this.apply(data); // checked above, before the old session was given up
      const now = new Date();
      this.store.setMeta(req.session, {
        createdAt: now,
        loginAt: now,
        lastSeenAt: now,
        userAgent: req.get('user-agent')?.slice(0, 256),
        ip: req.ip,
        remember: options.remember === true ? true : undefined,
      });
      if (options.remember === true) this.cookies.fitLifetime(context);
      asRecord(req.session)[CSRF_KEY] = newCsrfToken(); // a new token with every login
      await fromCallback((done) => req.session.save(done));
    };
    await this.guarded('log in', async () => {
      if (this.settings.maxSessionsPerUser === undefined) return open();
      return this.store.withUserLock(userId, async () => {
        await this.makeRoom(userId, this.settings.maxSessionsPerUser!);
        await open();
      });
    });
    this.events.rotated(oldId);
    this.events.emit('created', this.store.handleOf(req.session), userId, 'login');
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
    const session = asRecord(this.require('csrfToken'));
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
    await this.end('destroyed', 'logout');
  }

  /**
   * Lists a user's live sessions (through the user-id index), newest expiry first, with their times and
   * devices. Each carries a public handle, never its id.
   *
   * @throws SessionDataError (400) when `userId` is not a non-empty string or a finite number (an operator
   * object from a request body, `undefined`…); nothing is queried.
   */
  async listForUser(userId: SessionUserId<S>): Promise<SessionInfo<S>[]> {
    assertUserId('SessionService.listForUser()', userId);
    const currentKey = this.currentKey();
    const documents = await asStoreCall('list the sessions', () => this.store.findByUser(userId));
    return documents.map((document: SessionDocument) => ({
      handle: handleOfDocument(document),
      current: document._id === currentKey,
      createdAt: document.createdAt,
      loginAt: document.loginAt,
      lastSeenAt: document.lastSeenAt,
      expiresAt: document.expires,
      userAgent: document.userAgent,
      ip: document.ip,
      data: applicationData(document.session) as Partial<S>,
    }));
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
  async revoke(userId: SessionUserId<S>, handle: string): Promise<boolean> {
    assertUserId('SessionService.revoke()', userId);
    if (!isHandle(handle)) {
      throw new SessionDataError('SessionService.revoke() needs a session handle as listForUser() gives it.');
    }
    const current = sessionContext.getStore()?.req.session;
    if (
      current &&
      this.store.isStored(current) &&
      this.store.handleOf(current) === handle &&
      userIdOf(current, this.settings) === userId
    ) {
      this.noStore();
      await this.end('revoked', 'revoke');
      return true;
    }
    const deleted = await asStoreCall('delete the session', () => this.store.deleteByHandle(userId, handle));
    if (deleted === 0) return false;
    this.noStore();
    this.events.emit('revoked', handle, userId, 'revoke');
    return true;
  }

  /**
   * Ends every session of a user, everywhere. The current request's session is ended too (cookie cleared,
   * as by `destroy()`) when it is the user's, unless `exceptCurrent` is set. Resolves to the number ended.
   *
   * @throws SessionDataError (400) when `userId` is not a non-empty string or a finite number; nothing is
   * queried, deleted or locked.
   */
  async destroyAllForUser(userId: SessionUserId<S>, options: DestroyAllOptions = {}): Promise<number> {
    assertUserId('SessionService.destroyAllForUser()', userId);
    // Under the user's lock, so that no rotation of one of the user's sessions is half done meanwhile.
    return asStoreCall('delete the sessions', () =>
      this.store.withUserLock(userId, () => this.destroyAllLocked(userId, options)),
    );
  }

  private async destroyAllLocked(userId: string | number, options: DestroyAllOptions): Promise<number> {
    const reason = options.reason ?? 'revoke-all';
    const current = sessionContext.getStore()?.req.session;
    this.noStore();
    let ended = 0;
    if (current && !options.exceptCurrent && userIdOf(current, this.settings) === userId) {
      await this.end('revoked', reason);
      ended = 1;
    }
    const keepKey = options.exceptCurrent ? this.currentKey() : undefined;
    const others = await asStoreCall('list the sessions', () => this.store.findByUser(userId));
    const deleted = await asStoreCall('delete the sessions', () =>
      this.store.deleteByUser(userId, { except: keepKey }),
    );
    for (const document of others) {
      if (document._id !== keepKey) this.events.emit('revoked', handleOfDocument(document), userId, reason);
    }
    return ended + deleted;
  }

  /** Ends the current session: document, cookie, `req.session`; and says so in an event. */
  private async end(type: 'destroyed' | 'revoked', reason: SessionEventReason): Promise<void> {
    const { req } = this.loaded('destroy');
    const session = req.session as ExpressSession | undefined;
    if (session) {
      const userId = userIdOf(session, this.settings);
      const handle = this.store.handleOf(session);
      await this.guarded('delete the session', () => fromCallback((done) => session.destroy(done)));
      this.events.emit(type, handle, userId, reason);
    }
    this.clearCookie();
  }

  /**
   * Makes room for one more session of the user, under the per-user lock: ends the oldest sessions, or
   * refuses the login (`onSessionLimit: 'refuse'`). The current session, replaced by the login, does not count.
   */
  private async makeRoom(userId: string | number, limit: number): Promise<void> {
    const currentKey = this.currentKey();
    const sessions = (await this.store.findByUser(userId)).filter((document) => document._id !== currentKey);
    if (sessions.length < limit) return;
    if (this.settings.onSessionLimit === 'refuse') {
      throw new ForbiddenException(
        `Too many active sessions for this account (at most ${limit}): log out on another device first.`,
      );
    }
    sessions.sort((a, b) => loginTime(a) - loginTime(b));
    const evicted = sessions.slice(0, sessions.length - limit + 1);
    await this.store.deleteByUser(userId, { only: evicted.map((document) => document._id) });
    for (const document of evicted) this.events.emit('revoked', handleOfDocument(document), userId, 'session-limit');
  }

  /**
   * Refuses to issue a new session id where its cookie cannot reach the client: over a WebSocket (no HTTP
   * response), or as a Secure cookie on a request that is not HTTPS.
   */
  private assertCanIssueCookie(req: { secure: boolean }): void {
    if (isSocketContext(sessionContext.getStore())) throw new SocketSessionRotationError();
    if (this.settings.cookie.secure === true && !req.secure) throw new SessionCookieError();
  }

  /** The storage key of the current request's session, if it has one. */
  private currentKey(): string | undefined {
    const id = sessionContext.getStore()?.req.session?.id;
    return id === undefined ? undefined : storageKey(id);
  }

  /** Stores checked fields (`undefined` removes one). */
  private apply(values: object): void {
    const session = asRecord(this.require('patch'));
    for (const [key, value] of Object.entries(values)) {
      if (value === undefined) delete session[key];
      else session[key] = value;
    }
  }

  /**
   * Runs a write of the current session. When it fails, the session is detached from the request, so that
   * express-session neither saves it again at the end (a second wait on a failing store) nor sends a cookie
   * for it; a store failure becomes `SessionStoreError`, an HTTP answer stays as it is.
   */
  private async guarded<T>(action: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      this.detach();
      throw error instanceof HttpException ? error : new SessionStoreError(action, error);
    }
  }

  /** The session was ended elsewhere during this request: no session, cookie cleared, 401. */
  private ended(): never {
    this.detach();
    this.clearCookie();
    throw new SessionEndedError();
  }

  /** Takes the session off the request: express-session then writes nothing and sets no cookie. */
  private detach(): void {
    const context = sessionContext.getStore();
    if (context) delete (context.req as { session?: unknown }).session;
  }

  private clearCookie(): void {
    const context = sessionContext.getStore();
    if (!context) return;
    this.cookies.clear(context);
    this.noStore();
  }

  private noStore(): void {
    const res = sessionContext.getStore()?.res;
    if (res && !res.headersSent) res.setHeader('Cache-Control', 'no-store');
  }

  private context(method: string): SessionContext {
    const context = sessionContext.getStore();
    if (!context) throw new SessionNotAvailableError(method);
    return context;
  }

  /** The context, once the session middleware loaded the session (or found none). */
  private loaded(method: string): SessionContext {
    const context = this.context(method);
    throwIfLoadFailed(context);
    return context;
  }

  private require(method: string): ExpressSession {
    const session = this.loaded(method).req.session as ExpressSession | undefined;
    if (!session) throw new SessionNotAvailableError(method);
    return session;
  }
}

/** Runs an express-session callback API as a promise. */
function fromCallback(run: (done: (error?: unknown) => void) => void): Promise<void> {
  return promisify(run)();
}

/** Runs a store call; a failure of the store becomes `SessionStoreError`, an HTTP answer stays as it is. */
async function asStoreCall<T>(action: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw error instanceof HttpException ? error : new SessionStoreError(action, error);
  }
}

function loginTime(document: SessionDocument): number {
  return (document.loginAt ?? document.createdAt)?.getTime() ?? 0;
}

/** A new CSRF token: 32 random bytes, base64url. */
function newCsrfToken(): string {
  return randomBytes(32).toString('base64url');
}
