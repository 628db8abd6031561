import { HttpException, Inject, Injectable } from '@nestjs/common';
import type { Session as ExpressSession } from 'express-session';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import type { ResolvedSessionOptions } from '../interfaces/resolved-session-options.interface.js';
import { RESOLVED_SESSION_OPTIONS, SESSION_COOKIES, SESSION_STORE } from '../session.constants.js';
import { SessionEndedError, SessionNotAvailableError, SessionStoreError } from '../session.errors.js';
import type { SessionStore } from '../store/session-store.interface.js';
import type { SessionCookies } from './session-cookies.interface.js';
import { sessionContext, throwIfLoadFailed, type SessionContext } from './session.context.js';
import { asRecord, userIdOf } from './session-data.util.js';
import { SessionEvents, type SessionEventReason } from './session.events.js';
import { storageKey } from './session-id.util.js';

/**
 * The session of the request being handled, and what ending or failing it does to the response: what
 * `SessionService` and `UserSessions` share. Found through the session middleware's async context.
 */
@Injectable()
export class CurrentSession {
  constructor(
    @Inject(RESOLVED_SESSION_OPTIONS) private readonly settings: ResolvedSessionOptions,
    @Inject(SESSION_STORE) private readonly store: SessionStore,
    private readonly events: SessionEvents,
    @Inject(SESSION_COOKIES) private readonly cookies: SessionCookies,
  ) {}

  /** The request's context. @throws SessionNotAvailableError outside a request. */
  context(method: string): SessionContext {
    const context = sessionContext.getStore();
    if (!context) throw new SessionNotAvailableError(method);
    return context;
  }

  /** The context, once the session middleware loaded the session (or found none). */
  loaded(method: string): SessionContext {
    const context = this.context(method);
    throwIfLoadFailed(context);
    return context;
  }

  /** The request's session. @throws SessionNotAvailableError when it has none. */
  require(method: string): ExpressSession {
    const session = this.loaded(method).req.session as ExpressSession | undefined;
    if (!session) throw new SessionNotAvailableError(method);
    return session;
  }

  /** The storage key of the current request's session, if it has one. */
  currentKey(): string | undefined {
    const id = sessionContext.getStore()?.req.session?.id;
    return id === undefined ? undefined : storageKey(id);
  }

  /** Stores checked fields (`undefined` removes one). */
  apply(values: object): void {
    const session = asRecord(this.require('patch'));
    for (const [key, value] of Object.entries(values)) {
      if (value === undefined) delete session[key];
      else session[key] = value;
    }
  }

  /**
   * Runs a store call: a failure of the store becomes `SessionStoreError` (503), an HTTP answer stays as it
   * is. With `detach`, a failure of a write of the current session also takes the session off the request,
   * so that express-session neither saves it again at the end (a second wait on a failing store) nor sends a
   * cookie for it.
   */
  async storeCall<T>(action: string, run: () => Promise<T>, onFailure: 'detach' | 'keep' = 'keep'): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (onFailure === 'detach') this.detach();
      throw error instanceof HttpException ? error : new SessionStoreError(action, error);
    }
  }

  /** Ends the current session: document, cookie, `req.session`; and says so in an event. */
  async end(type: 'destroyed' | 'revoked', reason: SessionEventReason): Promise<void> {
    const { req } = this.loaded('destroy');
    const session = req.session as ExpressSession | undefined;
    if (session) {
      const userId = userIdOf(session, this.settings);
      const handle = this.store.handleOf(session);
      await this.storeCall('delete the session', () => fromCallback((done) => session.destroy(done)), 'detach');
      this.events.emit(type, handle, userId, reason);
    }
    this.clearCookie();
  }

  /** The session was ended elsewhere during this request: no session, cookie cleared, 401. */
  ended(): never {
    this.detach();
    this.clearCookie();
    throw new SessionEndedError();
  }

  /** Takes the session off the request: express-session then writes nothing and sets no cookie. */
  detach(): void {
    const context = sessionContext.getStore();
    if (context) delete (context.req as { session?: unknown }).session;
  }

  /** Clears the session cookie, and marks the answer `Cache-Control: no-store`. */
  clearCookie(): void {
    const context = sessionContext.getStore();
    if (!context) return;
    this.cookies.clear(context);
    this.noStore();
  }

  /** Gives the cookie the session's lifetime when the headers are written (a remembered login). */
  fitCookieLifetime(context: SessionContext): void {
    this.cookies.fitLifetime(context);
  }

  /** Marks the answer `Cache-Control: no-store`, unless its headers are gone. */
  noStore(): void {
    const res = sessionContext.getStore()?.res;
    if (res && !res.headersSent) res.setHeader('Cache-Control', 'no-store');
  }
}

/** Runs an express-session callback API as a promise. */
export function fromCallback(run: (done: (error?: unknown) => void) => void): Promise<void> {
  return promisify(run)();
}

/** A new CSRF token: 32 random bytes, base64url. */
export function newCsrfToken(): string {
  return randomBytes(32).toString('base64url');
}
