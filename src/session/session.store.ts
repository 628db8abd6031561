import { Logger } from '@nestjs/common';
import { MongoStore } from 'connect-mongo';
import type { Request } from 'express';
import type { Session, SessionData } from 'express-session';
import type { Collection, MongoClient } from 'mongodb';
import { csrfField, sessionData, storedSession } from './session.data.js';
import { SessionOptionsError } from './session.errors.js';
import type { SessionEvents } from './session.events.js';
import { SessionExpiry } from './session.expiry.js';
import { handleOfKey, storageKey } from './session.ids.js';
import type { ResolvedSessionOptions } from './session.options.js';
import { checkSessionData } from './session.schema.js';
import { UserLock } from './session.user-lock.js';
import { ClientRecovery } from './store/client-recovery.js';

/**
 * A session as stored in MongoDB: the data as a document (connect-mongo's `stringify: false` layout), under
 * the hash of its id (`storageKey`), never the id itself.
 */
export interface SessionDocument extends Partial<SessionMeta> {
  /** `storageKey(sessionId)`. */
  _id: string;
  session: Record<string, unknown>;
  expires: Date;
}

/** What the store keeps beside the data: times and the device, recorded at creation and login. */
export interface SessionMeta {
  /** When the session was created. */
  createdAt: Date;
  /** When its user logged in; the start of the absolute timeout. */
  loginAt?: Date;
  /** Last write or touch (as often as touch throttling allows). */
  lastSeenAt: Date;
  /** `User-Agent` at login, cut to 256 characters. */
  userAgent?: string;
  /** Client address at login (`req.ip`, which honours Express `trust proxy`). */
  ip?: string;
  /** Logged in with "remember me": the `rememberMe` timeouts apply, and the cookie is persistent. */
  remember?: boolean;
}

type Callback<T = void> = (error: unknown, result?: T) => void;

/** The store took longer than `storeTimeoutMs`. */
export class StoreTimeoutError extends Error {
  override readonly name = 'StoreTimeoutError';
}

/** MongoDB error codes meaning "this server does not implement that" (FerretDB 1.x for TTL indexes). */
const NOT_IMPLEMENTED_CODES = new Set([115, 238]);

/** `createIndex` with other options than the existing index's. */
const INDEX_OPTIONS_CONFLICT = 85;

/** What the store knows of one session object while a request holds it. */
interface SessionRecord {
  /** Its document exists (loaded, or inserted by this request): it is saved by update only, never upserted. */
  persisted: boolean;
  /** Saving or touching it found the document gone: it was ended elsewhere while this request ran. */
  ended: boolean;
  /** What was last written, so that saving it again unchanged costs nothing. */
  written?: string;
  /** Its times and device. */
  meta: SessionMeta;
}

/** How a rotation that keeps data ended. */
export type RotationOutcome = 'rotated' | 'ended';

/** Unknown-id lookups waiting for the middleware to report them, at most. */
const MAX_PENDING_UNKNOWN = 1000;

/** Expired sessions deleted per cleanup batch. */
const CLEANUP_BATCH = 500;

/**
 * The connect-mongo store behind the session middleware, with the guarantees connect-mongo lacks:
 *
 * - a session loaded from MongoDB is only ever updated, never upserted: once it is destroyed (logout,
 *   revocation, expiry), a request still in flight cannot write it back; only a session created in this
 *   request is inserted;
 * - a rotation that keeps data writes the new document before deleting the old one, and gives the new one
 *   up when the old one was already gone: a per-user deletion cannot miss a session that is changing its id;
 * - every call is bounded by `storeTimeoutMs`, and an outage is logged once, with the recovery;
 * - a stored document that is not a session, or fails the `schema` option, is treated as no session and
 *   deleted; expiry follows the timeouts in force (`SessionExpiry`), and cleanup reports what it removes.
 *
 * Sessions are stored as documents (`stringify: false`) so that the user id is queryable through an index.
 */
export class SessionStore extends MongoStore {
  /** The sessions collection. */
  readonly collection: Collection<SessionDocument>;
  /** The expiry rules in force. */
  readonly expiry: SessionExpiry;
  private readonly logger = new Logger('SessionModule');
  private readonly userIdPath: string;
  private readonly userLock: UserLock;
  /** Per session object: whether it is stored, whether it was ended meanwhile, what was written, its times. */
  private readonly records = new WeakMap<object, SessionRecord>();
  private indexes?: Promise<void>;
  private cleanupTimer?: NodeJS.Timeout;
  private unreachable = false;
  private closing = false;
  private reconnecting?: Promise<void>;
  /** Reconnects the client when the driver's server monitor hangs (see `ClientRecovery`). */
  private readonly recovery: ClientRecovery;
  /**
   * Ids of new sessions whose insert failed in an outage, or timed out: the server may still apply it later,
   * though no client was given the id. Deleted once MongoDB answers again.
   */
  private readonly unsettled = new Set<string>();
  /** Session ids whose lookup found no document, until the middleware takes them (`wasUnknown`). */
  private readonly unknown = new Set<string>();

  constructor(
    private readonly settings: ResolvedSessionOptions,
    private readonly client: MongoClient,
    private readonly ownsClient: boolean,
    private readonly events: SessionEvents,
  ) {
    super({
      client,
      dbName: settings.dbName,
      collectionName: settings.collectionName,
      ttl: settings.idleTimeout,
      touchAfter: settings.touchAfter,
      stringify: false,
      // Cleanup is done below: connect-mongo's own TTL index, when the server refuses it, fails every call.
      autoRemove: 'disabled',
    });
    const db = client.db(settings.dbName);
    // Reads from the primary, writes acknowledged as configured (a majority by default): after a failover,
    // an ended session stays ended.
    const durability = { writeConcern: settings.writeConcern, readPreference: 'primary' } as const;
    this.collection = db.collection<SessionDocument>(settings.collectionName, durability);
    this.expiry = new SessionExpiry(settings);
    this.userIdPath = `session.${settings.userIdField}`;
    this.userLock = new UserLock(
      db.collection(`${settings.collectionName}_locks`, durability),
      // The section under the lock makes at most four store calls, each bounded by storeTimeoutMs.
      5 * settings.storeTimeoutMs,
      settings.storeTimeoutMs,
    );
    this.recovery = new ClientRecovery(client, settings.storeTimeoutMs, ownsClient);
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
      await this.run(() => this.ensureIndexes());
    } catch (error) {
      if (error instanceof SessionOptionsError) throw error;
      this.failed(error);
    }
  }

  override get(sid: string, callback: Callback<SessionData | null>): void {
    this.call(async () => {
      const session = await this.read(storageKey(sid));
      if (session === undefined) {
        // Taken by the middleware as soon as this answers; bounded in case another caller never takes it.
        if (this.unknown.size >= MAX_PENDING_UNKNOWN) this.unknown.clear();
        this.unknown.add(sid);
      }
      return session ?? null;
    }, callback);
  }

  /** `true` (once) when loading the session `sid` found no document at all: an unknown or forged id. */
  wasUnknown(sid: string): boolean {
    return this.unknown.delete(sid);
  }

  /**
   * How long the cookie of `session` should live from `now`, in milliseconds: the idle timeout of its kind,
   * capped by its absolute deadline; `null` for a browser-session cookie (not persistent, not remembered).
   */
  cookieLifetime(session: object, now: number): number | null {
    const { meta } = this.recordOf(session);
    if (!this.settings.cookie.persistent && meta.remember !== true) return null;
    return Math.max(0, this.expiry.next(meta, now).getTime() - now);
  }

  override set(sid: string, session: SessionData, callback: Callback = noop): void {
    const key = storageKey(sid);
    const inserting = !this.records.get(session)?.persisted;
    this.call(() => this.write(key, session as SessionData & Session), callback, inserting ? key : undefined);
  }

  override touch(sid: string, session: SessionData, callback: Callback = noop): void {
    // Throttled (the usual case): nothing to write, so answered at once, as connect-mongo does; express-session
    // then ends the response in one write instead of waiting for a store round trip that does nothing.
    if (!this.touchDue(session, Date.now())) return callback(null);
    this.call(() => this.extend(storageKey(sid), session), callback);
  }

  override destroy(sid: string, callback: Callback = noop): void {
    this.call(async () => void (await this.collection.deleteOne({ _id: storageKey(sid) })), callback);
  }

  /**
   * express-session's `regenerate`: deletes the old document, then generates a new, empty session. When
   * the delete fails, the request keeps its session and nothing new is generated (nor saved, nor sent). A
   * session never stored has no document to delete.
   */
  override regenerate(req: Request, callback: (error?: unknown) => void): void {
    const old = req.session as object | undefined;
    if (!old || !this.records.get(old)?.persisted) {
      this.generateFor(req);
      return callback();
    }
    this.call(
      () => this.collection.deleteOne({ _id: storageKey(req.sessionID) }),
      (error) => {
        if (!error) this.generateFor(req);
        callback(error ?? undefined);
      },
    );
  }

  /**
   * Gives the request's session a new id and carries `kept` over to it. The new document is written first,
   * then the old one deleted; if the old one was already gone, the session was ended meanwhile (logout,
   * revocation, per-user deletion, expiry), so the new document is deleted too and the outcome is `'ended'`.
   * Either way no per-user deletion can miss the session. On `'ended'` or a failure the caller detaches the
   * session from the request, so that nothing more is written or sent.
   */
  async rotateKeeping(req: Request, kept: Record<string, unknown>): Promise<RotationOutcome> {
    const old = req.session as object;
    const oldKey = storageKey(req.sessionID);
    const oldRecord = this.recordOf(old);
    this.generateFor(req);
    const fresh = req.session as SessionData & Session;
    Object.assign(fresh, kept);
    // The login time and device carry over: the absolute timeout is not reset by a rotation.
    this.records.set(fresh, { persisted: false, ended: false, meta: { ...oldRecord.meta } });
    const freshKey = storageKey(fresh.id);
    await this.attempt(() => this.write(freshKey, fresh), freshKey);
    if (!oldRecord.persisted) return 'rotated';
    let deleted: number;
    try {
      // Only a live session is carried over: one that expired meanwhile counts as ended, like a deleted one.
      const live = { $and: [{ _id: oldKey }, this.expiry.liveFilter(Date.now()) as object] };
      deleted = (await this.attempt(() => this.collection.deleteOne(live))).deletedCount;
    } catch (error) {
      // Unknown whether the old session still exists: fail closed, give up the new one.
      await this.attempt(() => this.collection.deleteOne({ _id: freshKey }), freshKey).catch(noop);
      throw error;
    }
    if (deleted === 1) return 'rotated';
    oldRecord.ended = true;
    await this.attempt(() => this.collection.deleteMany({ _id: { $in: [freshKey, oldKey] } }), freshKey);
    return 'ended';
  }

  /** Marks sessions read from MongoDB, so that saving them can never re-create a deleted document. */
  override createSession(req: Request, data: SessionData): Session & SessionData {
    const record = this.records.get(data);
    const session = super.createSession(req, data);
    this.records.set(session, record ?? { persisted: true, ended: false, meta: freshMeta() });
    return session;
  }

  /** `true` when `session` has a document: loaded from MongoDB, or written by this request. */
  isStored(session: object): boolean {
    return this.records.get(session)?.persisted === true;
  }

  /** The times and device of a live session (fresh ones for a session not stored yet). */
  metaOf(session: object): SessionMeta {
    return this.recordOf(session).meta;
  }

  /** Sets what the next write of `session` records beside its data (login time, device). */
  setMeta(session: object, meta: SessionMeta): void {
    this.recordOf(session).meta = meta;
  }

  /**
   * `true` when saving, touching or rotating `session` found its document gone: it was ended elsewhere
   * (logout, revocation, expiry) while this request ran.
   */
  wasEndedElsewhere(session: object): boolean {
    return this.records.get(session)?.ended === true;
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
        const expired = await this.attempt(() =>
          this.collection
            .find(this.expiry.expiredFilter(now) as object, {
              projection: { expires: 1, createdAt: 1, loginAt: 1, lastSeenAt: 1, [this.userIdPath]: 1 },
            })
            .limit(CLEANUP_BATCH)
            .toArray(),
        );
        // One by one, each filtered again: a session touched since it was read is not deleted, and each
        // event is for a session this call deleted.
        const deleted = await Promise.all(
          expired.map((document) =>
            this.attempt(() =>
              this.collection.deleteOne({ $and: [{ _id: document._id }, this.expiry.expiredFilter(now) as object] }),
            ).then(({ deletedCount }) => deletedCount === 1),
          ),
        );
        expired.forEach((document, index) => {
          if (!deleted[index]) return;
          removed += 1;
          const reason = this.expiry.expiredBecause(document, now) ?? 'idle-timeout';
          this.events.emit('expired', handleOfKey(document._id), document.session?.[this.settings.userIdField], reason);
        });
        if (expired.length < CLEANUP_BATCH) return removed;
      }
    } catch (error) {
      this.failed(error);
      return removed;
    }
  }

  /** The user's live sessions (by the expiry rules in force), through the user-id index. */
  async findByUser(userId: unknown): Promise<SessionDocument[]> {
    return this.attempt(async () => {
      await this.ensureIndexes();
      const filter = { $and: [{ [this.userIdPath]: userId }, this.expiry.liveFilter(Date.now()) as object] };
      return this.collection.find(filter).sort({ expires: -1 }).toArray();
    });
  }

  /**
   * Deletes the user's sessions: all of them, all `except` one, or `only` the ones given (never another
   * user's), by storage key. Resolves to the number deleted.
   */
  async deleteByUser(userId: unknown, select: { except?: string; only?: string | string[] } = {}): Promise<number> {
    const filter: Record<string, unknown> = { [this.userIdPath]: userId };
    if (select.except !== undefined) filter._id = { $ne: select.except };
    if (select.only !== undefined) filter._id = { $in: Array.isArray(select.only) ? select.only : [select.only] };
    return this.attempt(async () => {
      await this.ensureIndexes();
      return (await this.collection.deleteMany(filter)).deletedCount;
    });
  }

  /**
   * Runs `section` while holding the user's lock (a document in `<collection>_locks`), so that concurrent
   * logins of one user are counted one after the other (the session limit).
   *
   * @throws SessionBusyError (429) when other logins of the user hold the lock for longer than
   * `storeTimeoutMs`.
   */
  withUserLock<T>(userId: unknown, section: () => Promise<T>): Promise<T> {
    return this.userLock.run(userId, (operation) => this.run(operation), section);
  }

  /** Stops the cleanup timer and closes the client when the module created it. */
  override async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.cleanupTimer);
    this.cleanupTimer = undefined;
    await this.recovery.stop();
    if (this.ownsClient) await this.client.close();
  }

  private recordOf(session: object): SessionRecord {
    let record = this.records.get(session);
    if (!record) {
      record = { persisted: false, ended: false, meta: freshMeta() };
      this.records.set(session, record);
    }
    return record;
  }

  /** express-session's own `generate` (set on the store by the middleware): a new id and an empty session. */
  private generateFor(req: Request): void {
    (this as unknown as { generate(req: Request): void }).generate(req);
  }

  /** The stored session, `null` when it cannot be served (expired, invalid), `undefined` when there is none. */
  private async read(key: string): Promise<SessionData | null | undefined> {
    const document = await this.collection.findOne({ _id: key });
    if (!document) return undefined;
    const stored = storedSession(document.session);
    const userId = stored?.data[this.settings.userIdField];
    const now = Date.now();
    if (!(document.expires instanceof Date)) return this.reject(key, userId, 'it has no expiry date');
    const expired = this.expiry.expiredBecause(document, now);
    if (expired) {
      // Served by nobody from now on; deleted here rather than by the next cleanup.
      const { deletedCount } = await this.collection.deleteOne({ _id: key });
      if (deletedCount === 1) this.events.emit('expired', handleOfKey(key), userId, expired);
      return null;
    }
    if (!stored) return this.reject(key, undefined, 'the stored value is not a session object');
    let data = stored.data;
    if (this.settings.schema) {
      let verdict = checkSessionData(this.settings.schema, data);
      if (verdict instanceof Promise) verdict = await verdict;
      if (!verdict.ok) return this.reject(key, userId, `it does not match the session schema (${verdict.reason})`);
      // The schema's output may be any object: copied without unsafe keys, as stored data is.
      data = sessionData(verdict.data);
    }
    Object.assign(data, csrfField(stored.raw));
    data.cookie = stored.cookie;
    const session = data as unknown as SessionData;
    const createdAt = document.createdAt instanceof Date ? document.createdAt : new Date(now);
    this.records.set(session, {
      persisted: true,
      ended: false,
      meta: {
        createdAt,
        loginAt: document.loginAt,
        lastSeenAt: document.lastSeenAt instanceof Date ? document.lastSeenAt : createdAt,
        userAgent: document.userAgent,
        ip: document.ip,
        remember: document.remember === true ? true : undefined,
      },
    });
    return session;
  }

  /** Inserts a session created in this request; updates, never upserts, one that already had a document. */
  private async write(key: string, session: SessionData & Session): Promise<void> {
    const now = new Date();
    const record = this.recordOf(session);
    const { meta } = record;
    const data = {
      ...sessionData(session),
      ...csrfField(session),
      cookie: (session.cookie as unknown as { toJSON(): object }).toJSON(),
    };
    const expires = this.expiry.next(meta, now.getTime());
    // An explicit save() followed by express-session's own at the end of the request writes once.
    const snapshot = `${key}|${JSON.stringify(data)}`;
    if (record.written === snapshot) return;
    if (!record.persisted) {
      const recorded = Object.fromEntries(Object.entries(meta).filter(([, value]) => value !== undefined));
      await this.collection.insertOne({ _id: key, session: data, expires, ...recorded, lastSeenAt: now });
      record.persisted = true;
    } else {
      const { matchedCount } = await this.collection.updateOne(
        { _id: key, expires: { $gt: now } },
        { $set: { session: data, expires, lastSeenAt: now } },
      );
      if (matchedCount === 0) {
        record.ended = true;
        return;
      }
    }
    meta.lastSeenAt = now;
    record.written = snapshot;
  }

  /** `true` when `touchAfter` has passed since the session was last written or touched. */
  touchDue(session: object, now: number): boolean {
    return now - this.metaOf(session).lastSeenAt.getTime() >= this.settings.touchAfter * 1000;
  }

  /** Slides the expiry of an unchanged session (`touch` calls it once `touchAfter` has passed); never re-creates it. */
  private async extend(key: string, session: SessionData): Promise<void> {
    const record = this.recordOf(session);
    const now = Date.now();
    const { matchedCount } = await this.collection.updateOne(
      { _id: key, expires: { $gt: new Date(now) } },
      { $set: { expires: this.expiry.next(record.meta, now), lastSeenAt: new Date(now) } },
    );
    if (matchedCount === 0) record.ended = true;
    else record.meta.lastSeenAt = new Date(now);
  }

  /** Deletes a stored document that cannot be served, and logs why, once (it is gone afterwards). */
  private async reject(key: string, userId: unknown, reason: string): Promise<null> {
    const handle = handleOfKey(key);
    this.logger.warn(`Stored session ${handle} was discarded: ${reason}.`);
    await this.collection.deleteOne({ _id: key });
    this.events.emit('invalid', handle, userId, reason);
    return null;
  }

  /** Runs a store operation for express-session: bounded in time, outages logged, callback style. */
  private call<T>(operation: () => Promise<T>, callback: Callback<T>, inserting?: string): void {
    this.attempt(operation, inserting).then(
      (result) => callback(null, result),
      (error: unknown) => callback(error),
    );
  }

  /**
   * Runs a store operation bounded in time, logging an outage once and the recovery. `inserting` names a new
   * session the operation writes: if it fails in an outage, that document is deleted once MongoDB is back.
   */
  private async attempt<T>(operation: () => Promise<T>, inserting?: string): Promise<T> {
    let result: T;
    try {
      result = await this.run(operation);
    } catch (error) {
      if (inserting !== undefined && isOutage(error)) this.unsettled.add(inserting);
      this.failed(error);
      throw error;
    }
    await this.recovered();
    return result;
  }

  /** Runs a store operation: reconnecting if needed, bounded by `storeTimeoutMs`. */
  private run<T>(operation: () => Promise<T>): Promise<T> {
    return this.bounded(this.reconnectable(operation));
  }

  /**
   * Runs `operation`, reconnecting once when the driver's topology is closed: a client whose first
   * connection failed (MongoDB down at boot) stays closed for good unless it is connected again.
   */
  private reconnectable<T>(operation: () => Promise<T>): Promise<T> {
    let pending: Promise<T>;
    try {
      pending = operation();
    } catch (error) {
      pending = Promise.reject(error);
    }
    return pending.catch((error: unknown) => {
      if (this.closing || (error as Error | undefined)?.name !== 'MongoTopologyClosedError') throw error;
      this.reconnecting ??= this.client
        .connect()
        .then(noop)
        .finally(() => (this.reconnecting = undefined));
      return this.reconnecting.then(operation);
    });
  }

  /** `operation`, or a `StoreTimeoutError` after `storeTimeoutMs` (one timer, no extra promise chain). */
  private bounded<T>(operation: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new StoreTimeoutError(`MongoDB did not answer within ${this.settings.storeTimeoutMs} ms`)),
        this.settings.storeTimeoutMs,
      );
      // Settled after the timeout, the outcome is ignored: nobody waits for it any more.
      operation.then(
        (result) => {
          clearTimeout(timer);
          resolve(result);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  private failed(error: unknown): void {
    if (!isOutage(error)) {
      this.logger.error(`Session store operation failed: ${describe(error)}`);
      return;
    }
    this.recovery.outage();
    if (this.unreachable) return;
    this.unreachable = true;
    this.logger.error(`MongoDB is unreachable (${describe(error)}); session routes answer 503 until it is back.`);
  }

  /** After an outage: logs the recovery and deletes the new sessions whose inserts were given up on. */
  private async recovered(): Promise<void> {
    if (!this.unreachable) return;
    this.unreachable = false;
    this.logger.log('MongoDB is reachable again; sessions are served.');
    if (this.unsettled.size === 0) return;
    const ids = [...this.unsettled];
    try {
      await this.run(() => this.collection.deleteMany({ _id: { $in: ids } }));
      for (const id of ids) this.unsettled.delete(id);
    } catch (error) {
      this.failed(error); // tried again after the next outage
    }
  }

  private ensureIndexes(): Promise<void> {
    this.indexes ??= this.createIndexes().catch((error: unknown) => {
      this.indexes = undefined;
      throw error;
    });
    return this.indexes;
  }

  private async createIndexes(): Promise<void> {
    await this.collection.createIndex({ [this.userIdPath]: 1 });
    if (this.settings.autoRemove !== 'native') return;
    // The TTL index is the safety net: it removes a document two cleanup intervals after its expiry, by when
    // the cleanup timer has normally deleted it and emitted its `expired` event (MongoDB's TTL monitor tells
    // nobody what it removes).
    const expireAfterSeconds = 2 * this.settings.autoRemoveInterval * 60;
    try {
      await this.collection.createIndex({ expires: 1 }, { expireAfterSeconds });
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (typeof code === 'number' && NOT_IMPLEMENTED_CODES.has(code)) {
        throw new SessionOptionsError(
          'autoRemove',
          `is 'native', but this MongoDB server refuses TTL indexes (${describe(error)}). ` +
            "Set autoRemove: 'interval' (FerretDB 1.x needs it).",
        );
      }
      if (code !== INDEX_OPTIONS_CONFLICT) throw error;
      // A TTL index from an earlier version or setting (connect-mongo's has 0 s): changed in place.
      await this.collection.db.command({
        collMod: this.collection.collectionName,
        index: { keyPattern: { expires: 1 }, expireAfterSeconds },
      });
    }
  }
}

function noop(): void {}

/** Times of a session created now. */
function freshMeta(): SessionMeta {
  const now = new Date();
  return { createdAt: now, lastSeenAt: now };
}

const OUTAGE_ERRORS = new Set([
  'StoreTimeoutError',
  'MongoServerSelectionError',
  'MongoNetworkError',
  'MongoNetworkTimeoutError',
  'MongoTopologyClosedError',
  'MongoNotConnectedError',
]);

/** An error that means "MongoDB cannot be reached", as opposed to one about the operation itself. */
function isOutage(error: unknown): boolean {
  return error instanceof Error && OUTAGE_ERRORS.has(error.name);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
