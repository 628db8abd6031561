import { ForbiddenException, Inject, Injectable } from '@nestjs/common';
import type { DestroyAllOptions } from '../interfaces/session-service-options.interface.js';
import type { ResolvedSessionOptions } from '../interfaces/resolved-session-options.interface.js';
import type { SessionInfo } from '../interfaces/session-data.interface.js';
import { RESOLVED_SESSION_OPTIONS, SESSION_STORE } from '../session.constants.js';
import { SessionDataError } from '../session.errors.js';
import type { SessionDocument, SessionStore } from '../store/session-store.interface.js';
import { CurrentSession } from './current-session.service.js';
import { sessionContext } from './session.context.js';
import { applicationData, assertUserId, userIdOf } from './session-data.util.js';
import { SessionEvents } from './session.events.js';
import { handleOfDocument, isHandle } from './session-id.util.js';

/**
 * Every session of one user: listing, revoking one by its handle, ending all, and the session limit at login.
 * What `SessionService`'s per-user methods run; the public documentation is theirs.
 */
@Injectable()
export class UserSessions {
  constructor(
    @Inject(RESOLVED_SESSION_OPTIONS) private readonly settings: ResolvedSessionOptions,
    @Inject(SESSION_STORE) private readonly store: SessionStore,
    private readonly events: SessionEvents,
    private readonly current: CurrentSession,
  ) {}

  async list(userId: unknown): Promise<SessionInfo<object>[]> {
    assertUserId('SessionService.listForUser()', userId);
    const currentKey = this.current.currentKey();
    const documents = await this.current.storeCall('list the sessions', () => this.store.findByUser(userId));
    return documents.map((document: SessionDocument) => ({
      handle: handleOfDocument(document),
      current: document._id === currentKey,
      createdAt: document.createdAt,
      loginAt: document.loginAt,
      lastSeenAt: document.lastSeenAt,
      expiresAt: document.expires,
      userAgent: document.userAgent,
      ip: document.ip,
      data: applicationData(document.session),
    }));
  }

  async revoke(userId: unknown, handle: string): Promise<boolean> {
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
      this.current.noStore();
      await this.current.end('revoked', 'revoke');
      return true;
    }
    // Under the user's lock, as every per-user deletion: never between a rotation's insert and its delete.
    const deleted = await this.current.storeCall('delete the session', () =>
      this.store.withUserLock(userId, () => this.store.deleteByHandle(userId, handle)),
    );
    if (deleted === 0) return false;
    this.current.noStore();
    this.events.emit('revoked', handle, userId, 'revoke');
    return true;
  }

  destroyAll(userId: unknown, options: DestroyAllOptions): Promise<number> {
    assertUserId('SessionService.destroyAllForUser()', userId);
    // Under the user's lock, so that no rotation of one of the user's sessions is half done meanwhile.
    return this.current.storeCall('delete the sessions', () =>
      this.store.withUserLock(userId, () => this.destroyAllLocked(userId, options)),
    );
  }

  /**
   * Makes room for one more session of the user, under the per-user lock: ends the oldest sessions, or
   * refuses the login (`onSessionLimit: 'refuse'`). The current session, replaced by the login, does not count.
   */
  async makeRoom(userId: string | number, limit: number): Promise<void> {
    const currentKey = this.current.currentKey();
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

  private async destroyAllLocked(userId: string | number, options: DestroyAllOptions): Promise<number> {
    const reason = options.reason ?? 'revoke-all';
    const current = sessionContext.getStore()?.req.session;
    this.current.noStore();
    let ended = 0;
    if (current && !options.exceptCurrent && userIdOf(current, this.settings) === userId) {
      await this.current.end('revoked', reason);
      ended = 1;
    }
    const keepKey = options.exceptCurrent ? this.current.currentKey() : undefined;
    const others = await this.current.storeCall('list the sessions', () => this.store.findByUser(userId));
    const deleted = await this.current.storeCall('delete the sessions', () =>
      this.store.deleteByUser(userId, { except: keepKey }),
    );
    for (const document of others) {
      if (document._id !== keepKey) this.events.emit('revoked', handleOfDocument(document), userId, reason);
    }
    return ended + deleted;
  }
}

function loginTime(document: SessionDocument): number {
  return (document.loginAt ?? document.createdAt)?.getTime() ?? 0;
}
