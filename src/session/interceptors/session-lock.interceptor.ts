import { Inject, Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request, Response } from 'express';
import type { Session } from 'express-session';
import { promisify } from 'node:util';
import { from, switchMap, type Observable } from 'rxjs';
import type { SessionLockOptions } from '../interfaces/decorator-options.interface.js';
import { clearSessionCookie } from '../http/session-cookie.util.js';
import { SessionEndedError, SessionStoreError } from '../session.errors.js';
import { RESOLVED_SESSION_OPTIONS, SESSION_STORE, SessionLockMetadata } from '../session.constants.js';
import type { ResolvedSessionOptions } from '../interfaces/resolved-session-options.interface.js';
import { sessionContextOf, throwIfLoadFailed } from '../core/session.context.js';
import type { SessionStore } from '../store/session-store.interface.js';

/** The lease of `@SessionLock()` when it names none. */
const DEFAULT_LEASE_MS = 30_000;

/** express-session's message when a reload finds no document. */
const NOT_FOUND = 'failed to load session';

/**
 * `@SessionLock()`: takes the session's lock before the handler and reloads the session under it, so that
 * the handler reads what the previous holder stored; the lock is released once the response is done, after
 * the commit. A request without a stored session (nothing to race with) is not held.
 */
@Injectable()
export class SessionLockInterceptor implements NestInterceptor {
  constructor(
    @Inject(RESOLVED_SESSION_OPTIONS) protected readonly settings: ResolvedSessionOptions,
    @Inject(SESSION_STORE) protected readonly store: SessionStore,
    protected readonly reflector: Reflector,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const session = sessionContextOf(context);
    throwIfLoadFailed(session);
    if (!session?.req.session || !this.store.isStored(session.req.session)) return next.handle();
    const options = this.options(context);
    return from(this.lock(session.req, session.res, options.leaseMs ?? DEFAULT_LEASE_MS)).pipe(
      switchMap(() => next.handle()),
    );
  }

  /** Options for this route: `@SessionLock()` metadata on the handler, else on the class. */
  protected options(context: ExecutionContext): SessionLockOptions {
    return this.reflector.getAllAndOverride(SessionLockMetadata, [context.getHandler(), context.getClass()]) ?? {};
  }

  /** Takes the lock (released when the response closes) and loads the session again under it. */
  protected async lock(req: Request, res: Response, leaseMs: number): Promise<void> {
    let release: () => Promise<void>;
    try {
      release = await this.store.lockSession(req.sessionID, leaseMs);
    } catch (error) {
      throw asHttpError(error, 'lock the session');
    }
    if (res.writableFinished || res.destroyed) void release();
    else res.once('close', () => void release());
    try {
      await promisify((done: (error?: unknown) => void) => (req.session as Session).reload(done))();
    } catch (error) {
      if ((error as Error | undefined)?.message !== NOT_FOUND) throw asHttpError(error, 'load the session');
      this.store.wasUnknown(req.sessionID);
      delete (req as { session?: Session }).session;
      clearSessionCookie(req, res, this.settings);
      throw new SessionEndedError();
    }
  }
}

function asHttpError(error: unknown, action: string): Error {
  return typeof (error as { getStatus?: unknown }).getStatus === 'function'
    ? (error as Error)
    : new SessionStoreError(action, error);
}
