import type { Collection } from 'mongodb';
import { assertUserId, copyCsrfToken, storedSession, userIdOf } from '../../core/session-data.util.js';
import { SessionOptionsError } from '../../session.errors.js';
import type { SessionEvents } from '../../core/session.events.js';
import { handleOfDocument, isHandle } from '../../core/session-id.util.js';
import type { ResolvedSessionOptions } from '../../interfaces/resolved-session-options.interface.js';
import type { SessionDocument } from './session.document.js';
import type { SessionExpiry } from './session-expiry.util.js';
import { describeError } from '../../core/log-text.util.js';
import type { StoreCalls } from './store-calls.util.js';

/** The shape of a storage key (`storageKey`): 43 base64url characters. */
const STORAGE_KEY = /^[\w-]{43}$/;

/** MongoDB error codes meaning "this server does not implement that" (FerretDB 1.x for TTL indexes). */
const NOT_IMPLEMENTED_CODES = new Set([115, 238]);

/** `createIndex` with other options than the existing index's. */
const INDEX_OPTIONS_CONFLICT = 85;

/** Expired sessions deleted per cleanup batch. */
const CLEANUP_BATCH = 500;

/**
 * The sessions collection beyond one request's session: per-user queries through the user-id index, the
 * indexes themselves, and the cleanup of expired sessions (on a timer, with an `expired` event for each).
 */
export class SessionCollection {
  private readonly userIdPath: string;
  private indexes?: Promise<void>;
  private cleanupTimer?: NodeJS.Timeout;

  constructor(
    readonly documents: Collection<SessionDocument>,
    private readonly settings: ResolvedSessionOptions,
    private readonly expiry: SessionExpiry,
    private readonly calls: StoreCalls,
    private readonly events: SessionEvents,
  ) {
    this.userIdPath = `session.${settings.userIdField}`;
  }

  /**
   * Creates the indexes and starts the cleanup timer. An unreachable server is logged and the application
   * boots anyway (the indexes are created on the first per-user call); a server that refuses the TTL index
   * is a configuration error.
   *
   * @throws SessionOptionsError when `autoRemove: 'native'` is used against a server without TTL indexes.
   */
  async init(): Promise<void> {
    if (this.settings.autoRemove !== 'disabled' && !this.cleanupTimer) {
      this.cleanupTimer = setInterval(() => void this.removeExpired(), this.settings.autoRemoveInterval * 60_000);
      this.cleanupTimer.unref();
    }
    try {
      await this.calls.bounded(() => this.ensureIndexes());
    } catch (error) {
      if (error instanceof SessionOptionsError) throw error;
      this.calls.failed(error);
    }
  }

  /** Stops the cleanup timer. */
  stop(): void {
    clearInterval(this.cleanupTimer);
    this.cleanupTimer = undefined;
  }

  /**
   * The user's live sessions (by the expiry rules in force), through the user-id index. A session stored
   * by connect-mongo before the switch and not moved under its hash yet (`legacyIds`) is not among them:
   * its derived handle would be the start of its id. It is listed once its next request has moved it.
   */
  findByUser(userId: string | number): Promise<SessionDocument[]> {
    assertUserId('SessionCollection.findByUser()', userId); // never an operator object in the filter
    return this.calls.call(async () => {
      await this.ensureIndexes();
      const filter = { $and: [{ [this.userIdPath]: userId }, this.expiry.liveFilter(Date.now()) as object] };
      const found = await this.documents.find(filter).sort({ expires: -1 }).toArray();
      return found.filter((document) => STORAGE_KEY.test(document._id));
    });
  }

  /**
   * Deletes the user's live session with this public handle, whatever id it has at that moment (one that
   * rotates meanwhile is deleted under its new id, or its rotation ends it): one delete through the
   * user-and-handle index, never another user's session. A session stored by an earlier version without a
   * `handle` field is matched by its derived handle, the start of its storage key. A value that is not a
   * handle matches nothing. Resolves to the number deleted.
   */
  deleteByHandle(userId: unknown, handle: unknown): Promise<number> {
    assertUserId('SessionCollection.deleteByHandle()', userId); // never an operator object in the filter
    if (!isHandle(handle)) return Promise.resolve(0);
    // Base64url characters all sort before '~': the range holds exactly the keys that start with `handle`.
    const derived = { handle: { $exists: false }, _id: { $gte: handle, $lt: `${handle}~` } };
    const filter = {
      $and: [
        { [this.userIdPath]: userId },
        { $or: [{ handle }, derived] },
        this.expiry.liveFilter(Date.now()) as object,
      ],
    };
    return this.calls.call(async () => {
      await this.ensureIndexes();
      return (await this.documents.deleteMany(filter)).deletedCount;
    });
  }

  /**
   * Which of these storage keys are sessions still live (by the expiry rules in force): one query, bounded,
   * not logged (the caller reports its own failures).
   */
  async liveAmong(keys: string[]): Promise<Set<string>> {
    const filter = { $and: [{ _id: { $in: keys } }, this.expiry.liveFilter(Date.now()) as object] };
    const live = await this.calls.bounded(() => this.documents.find(filter, { projection: { _id: 1 } }).toArray());
    return new Set(live.map((document) => document._id));
  }

  /**
   * Deletes the user's sessions: all of them, all `except` one, or `only` the ones given (never another
   * user's), by storage key. Resolves to the number deleted.
   */
  deleteByUser(userId: string | number, select: { except?: string; only?: string | string[] } = {}): Promise<number> {
    assertUserId('SessionCollection.deleteByUser()', userId);
    const filter: Record<string, unknown> = { [this.userIdPath]: userId };
    if (select.except !== undefined) filter._id = { $ne: select.except };
    if (select.only !== undefined) filter._id = { $in: Array.isArray(select.only) ? select.only : [select.only] };
    return this.calls.call(async () => {
      await this.ensureIndexes();
      return (await this.documents.deleteMany(filter)).deletedCount;
    });
  }

  /**
   * Every live session (by the expiry rules in force), as stored: its data, CSRF token and cookie, never its
   * key or id. A document that is no session, or a legacy one not moved under its hash yet (a request of
   * it moves it), is left out.
   */
  listLive(): Promise<Record<string, unknown>[]> {
    return this.calls.call(async () => {
      const found = await this.documents.find(this.liveSessionsFilter()).toArray();
      return found.flatMap((document) => {
        const stored = storedSession(document.session);
        if (!stored) return [];
        copyCsrfToken(stored.raw, stored.data);
        return [{ ...stored.data, cookie: stored.cookie }];
      });
    });
  }

  /** How many sessions `listLive` lists (a document that is no session aside). */
  countLive(): Promise<number> {
    return this.calls.call(() => this.documents.countDocuments(this.liveSessionsFilter()));
  }

  /** Deletes every session, live or not; the collection and its indexes stay. */
  clear(): Promise<void> {
    return this.calls.call(async () => void (await this.documents.deleteMany({})));
  }

  /**
   * Deletes the sessions that the expiry rules in force have ended, and emits an `expired` event for each
   * one it deleted; what the cleanup timer runs. Resolves to the number deleted.
   */
  async removeExpired(): Promise<number> {
    let removed = 0;
    try {
      for (;;) {
        const now = Date.now();
        const expired = await this.calls.call(() =>
          this.documents
            .find(this.expiry.expiredFilter(now) as object, {
              projection: {
                handle: 1,
                expires: 1,
                createdAt: 1,
                loginAt: 1,
                lastSeenAt: 1,
                remember: 1,
                [this.userIdPath]: 1,
              },
            })
            .limit(CLEANUP_BATCH)
            .toArray(),
        );
        // One by one, each filtered again: a session touched since it was read is not deleted, and each
        // event is for a session this call deleted.
        const deleted = await Promise.all(
          expired.map((document) =>
            this.calls
              .call(() =>
                this.documents.deleteOne({ $and: [{ _id: document._id }, this.expiry.expiredFilter(now) as object] }),
              )
              .then(({ deletedCount }) => deletedCount === 1),
          ),
        );
        expired.forEach((document, index) => {
          if (!deleted[index]) return;
          removed += 1;
          const reason = this.expiry.expiredBecause(document, now) ?? 'idle-timeout';
          this.events.emit(
            'expired',
            handleOfDocument(document),
            userIdOf(document.session ?? {}, this.settings),
            reason,
          );
        });
        if (expired.length < CLEANUP_BATCH) return removed;
      }
    } catch {
      return removed; // logged by the calls; the next round tries again
    }
  }

  /** Live documents stored under a storage key, with a session object. */
  private liveSessionsFilter(): object {
    const stored = { _id: { $regex: STORAGE_KEY.source }, 'session.cookie': { $type: 'object' } };
    return { $and: [stored, this.expiry.liveFilter(Date.now()) as object] };
  }

  private ensureIndexes(): Promise<void> {
    this.indexes ??= this.createIndexes().catch((error: unknown) => {
      this.indexes = undefined;
      throw error;
    });
    return this.indexes;
  }

  private async createIndexes(): Promise<void> {
    // The user id first: per-user queries use its prefix, a revocation by handle all of it. (The user-id
    // index of earlier versions, `<path>_1`, is then redundant and can be dropped.)
    await this.documents.createIndex({ [this.userIdPath]: 1, handle: 1 });
    if (this.settings.autoRemove !== 'native') return;
    // The TTL index is the safety net: it removes a document two cleanup intervals after its expiry, by when
    // the cleanup timer has normally deleted it and emitted its `expired` event (MongoDB's TTL monitor tells
    // nobody what it removes).
    const expireAfterSeconds = 2 * this.settings.autoRemoveInterval * 60;
    try {
      await this.documents.createIndex({ expires: 1 }, { expireAfterSeconds });
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (typeof code === 'number' && NOT_IMPLEMENTED_CODES.has(code)) {
        throw new SessionOptionsError(
          'autoRemove',
          `is 'native', but this MongoDB server refuses TTL indexes (${describeError(error)}). ` +
            "Set autoRemove: 'interval' (FerretDB 1.x needs it).",
        );
      }
      if (code !== INDEX_OPTIONS_CONFLICT) throw error;
      // A TTL index from an earlier version or setting (connect-mongo's has 0 s): changed in place.
      await this.documents.db.command({
        collMod: this.documents.collectionName,
        index: { keyPattern: { expires: 1 }, expireAfterSeconds },
      });
    }
  }
}
