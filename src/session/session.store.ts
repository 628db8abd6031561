import { Logger } from '@nestjs/common';
import { MongoStore } from 'connect-mongo';
import type { Request } from 'express';
import type { Session, SessionData } from 'express-session';
import { createHash } from 'node:crypto';
import type { Collection, MongoClient } from 'mongodb';
import { sessionData, storedSession } from './session.data.js';
import { SessionOptionsError } from './session.errors.js';
import type { SessionEvents } from './session.events.js';
import type { ResolvedSessionOptions } from './session.options.js';
import { checkSessionData } from './session.schema.js';

/** A session as stored in MongoDB: the data as a document (connect-mongo's `stringify: false` layout). */
export interface SessionDocument extends Partial<SessionMeta> {
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
}

type Callback<T = void> = (error: unknown, result?: T) => void;

/** Public handle of a session id: stable, not reversible, safe to show and to put in URLs. */
export function sessionHandle(sessionId: string): string {
  return createHash('sha256').update(sessionId).digest('base64url').slice(0, 22);
}

/** The store took longer than `storeTimeoutMs`. */
export class StoreTimeoutError extends Error {
  override readonly name = 'StoreTimeoutError';
}

/** MongoDB error codes meaning "this server does not implement that" (FerretDB 1.x for TTL indexes). */
const NOT_IMPLEMENTED_CODES = new Set([115, 238]);

/**
 * The connect-mongo store behind the session middleware, with the guarantees connect-mongo lacks:
 *
 * - a session loaded from MongoDB is only ever updated, never upserted: once it is destroyed (logout,
 *   revocation, expiry), a request still in flight cannot write it back; only a session created in this
 *   request is inserted;
 * - every call is bounded by `storeTimeoutMs`, and an outage is logged once, with the recovery;
 * - a stored document that is not a session, or fails the `schema` option, is treated as no session and
 *   deleted.
 *
 * Sessions are stored as documents (`stringify: false`) so that the user id is queryable through an index.
 */
export class SessionStore extends MongoStore {
  /** The sessions collection. */
  readonly collection: Collection<SessionDocument>;
  private readonly logger = new Logger('SessionModule');
  private readonly userIdPath: string;
  /** Sessions whose document exists (loaded, or inserted by this request): saved by update only. */
  private readonly persisted = new WeakSet<object>();
  /** Sessions whose document was found gone when saving: ended elsewhere while this request ran. */
  private readonly gone = new WeakSet<object>();
  /** What was last written for a session, so that saving it again unchanged costs nothing. */
  private readonly written = new WeakMap<object, string>();
  /** Times and device of each live session; of loaded data until express-session makes it a session. */
  private readonly metas = new WeakMap<object, SessionMeta>();
  private indexes?: Promise<void>;
  private cleanupTimer?: NodeJS.Timeout;
  private unreachable = false;
  private closing = false;
  private reconnecting?: Promise<void>;

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
    this.collection = client.db(settings.dbName).collection<SessionDocument>(settings.collectionName);
    this.userIdPath = `session.${settings.userIdField}`;
  }

  /**
   * Creates the indexes and starts interval cleanup. An unreachable server is logged and the application
   * boots anyway (the indexes are created on the first per-user call); a server that refuses the TTL index
   * is a configuration error.
   *
   * @throws SessionOptionsError when `autoRemove: 'native'` is used against a server without TTL indexes.
   */
  async init(): Promise<void> {
    if (this.settings.autoRemove === 'interval' && !this.cleanupTimer) {
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
    this.call(() => this.read(sid), callback);
  }

  override set(sid: string, session: SessionData, callback: Callback = noop): void {
    this.call(() => this.write(sid, session as SessionData & Session), callback);
  }

  override touch(sid: string, session: SessionData, callback: Callback = noop): void {
    // Throttled (the usual case): nothing to write, so answered at once, as connect-mongo does; express-session
    // then ends the response in one write instead of waiting for a store round trip that does nothing.
    if (!this.touchDue(session, Date.now())) return callback(null);
    this.call(() => this.extend(sid, session), callback);
  }

  override destroy(sid: string, callback: Callback = noop): void {
    this.call(async () => void (await this.collection.deleteOne({ _id: sid })), callback);
  }

  /**
   * Deletes the old document and generates a new session (express-session's `regenerate`), noting when a
   * stored session was already gone, so that its data is not carried over to a new id.
   */
  override regenerate(req: Request, callback: (error?: unknown) => void): void {
    const old = req.session as object | undefined;
    this.call(
      async () => (await this.collection.deleteOne({ _id: req.sessionID })).deletedCount,
      (error, deleted) => {
        if (!error && deleted === 0 && old && this.persisted.has(old)) this.gone.add(old);
        (this as unknown as { generate(req: Request): void }).generate(req);
        callback(error);
      },
    );
  }

  /** Marks sessions read from MongoDB, so that saving them can never re-create a deleted document. */
  override createSession(req: Request, data: SessionData): Session & SessionData {
    const meta = this.metas.get(data);
    const session = super.createSession(req, data);
    this.persisted.add(session);
    if (meta) {
      this.metas.delete(data);
      this.metas.set(session, meta);
    }
    return session;
  }

  /** The times and device of a live session (fresh ones for a session not stored yet). */
  metaOf(session: object): SessionMeta {
    let meta = this.metas.get(session);
    if (!meta) {
      const now = new Date();
      meta = { createdAt: now, lastSeenAt: now };
      this.metas.set(session, meta);
    }
    return meta;
  }

  /** Sets what the next write of `session` records beside its data (login time, device). */
  setMeta(session: object, meta: SessionMeta): void {
    this.metas.set(session, meta);
  }

  /**
   * `true` when saving, touching or regenerating `session` found its document gone: it was ended elsewhere
   * (logout, revocation, expiry) while this request ran.
   */
  wasEndedElsewhere(session: object): boolean {
    return this.gone.has(session);
  }

  /** Deletes expired documents; what `autoRemove: 'interval'` runs on its timer. */
  async removeExpired(): Promise<number> {
    try {
      const { deletedCount } = await this.run(() => this.collection.deleteMany({ expires: { $lt: new Date() } }));
      return deletedCount;
    } catch (error) {
      this.failed(error);
      return 0;
    }
  }

  /** The user's sessions that have not expired, through the user-id index. */
  async findByUser(userId: unknown): Promise<SessionDocument[]> {
    return this.run(async () => {
      await this.ensureIndexes();
      return this.collection
        .find({ [this.userIdPath]: userId, expires: { $gt: new Date() } })
        .sort({ expires: -1 })
        .toArray();
    });
  }

  /**
   * Deletes the user's sessions: all of them, all `except` one id, or `only` the ids given (never another
   * user's). Resolves to the number deleted.
   */
  async deleteByUser(userId: unknown, select: { except?: string; only?: string | string[] } = {}): Promise<number> {
    const filter: Record<string, unknown> = { [this.userIdPath]: userId };
    if (select.except !== undefined) filter._id = { $ne: select.except };
    if (select.only !== undefined) filter._id = { $in: Array.isArray(select.only) ? select.only : [select.only] };
    return this.run(async () => {
      await this.ensureIndexes();
      return (await this.collection.deleteMany(filter)).deletedCount;
    });
  }

  /**
   * Runs `critical` while holding a per-user lock (a document in `<collection>_locks`), so that concurrent
   * logins of one user are applied one after the other. A lock left by a crashed process expires after
   * `storeTimeoutMs`.
   *
   * @throws StoreTimeoutError when the lock stays taken for longer than `storeTimeoutMs`.
   */
  async withUserLock<T>(userId: unknown, critical: () => Promise<T>): Promise<T> {
    const locks = this.client.db(this.settings.dbName).collection<{ _id: string; until: Date }>(`${this.settings.collectionName}_locks`);
    const _id = JSON.stringify(userId);
    const deadline = Date.now() + this.settings.storeTimeoutMs;
    for (let attempt = 1; ; attempt += 1) {
      try {
        await this.reconnectable(() => locks.insertOne({ _id, until: new Date(Date.now() + this.settings.storeTimeoutMs) }));
        break;
      } catch (error) {
        if ((error as { code?: unknown }).code !== 11000) throw error;
        await locks.deleteOne({ _id, until: { $lt: new Date() } }); // taken over from a crashed holder
        if (Date.now() > deadline) throw new StoreTimeoutError('another login of this user holds the session-limit lock');
        await new Promise((resolve) => setTimeout(resolve, Math.min(50, 2 * attempt) + Math.random() * 5));
      }
    }
    try {
      return await critical();
    } finally {
      await locks.deleteOne({ _id }).catch(noop);
    }
  }

  /** Stops the cleanup timer and closes the client when the module created it. */
  override async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.cleanupTimer);
    this.cleanupTimer = undefined;
    if (this.ownsClient) await this.client.close();
  }

  private async read(sid: string): Promise<SessionData | null> {
    const document = await this.collection.findOne({ _id: sid });
    if (!document) return null;
    const stored = storedSession(document.session);
    const userId = stored?.data[this.settings.userIdField];
    const now = Date.now();
    if (!(document.expires instanceof Date)) return this.reject(sid, userId, 'it has no expiry date');
    // The timeouts in force now decide, also for sessions written under longer ones.
    const idleDeadline = document.lastSeenAt instanceof Date ? document.lastSeenAt.getTime() + this.settings.idleTimeout * 1000 : Infinity;
    const absoluteDeadline = this.absoluteDeadline(document);
    if (Math.min(document.expires.getTime(), idleDeadline, absoluteDeadline) <= now) {
      // Served by nobody from now on; deleted here rather than by the next cleanup.
      await this.collection.deleteOne({ _id: sid });
      this.events.emit('expired', sessionHandle(sid), userId, absoluteDeadline <= now ? 'absolute-timeout' : 'idle-timeout');
      return null;
    }
    if (!stored) return this.reject(sid, undefined, 'the stored value is not a session object');
    let data = stored.data;
    if (this.settings.schema) {
      let verdict = checkSessionData(this.settings.schema, data);
      if (verdict instanceof Promise) verdict = await verdict;
      if (!verdict.ok) return this.reject(sid, userId, `it does not match the session schema (${verdict.reason})`);
      // The schema's output may be any object: copied without unsafe keys, as stored data is.
      data = sessionData(verdict.data);
    }
    data.cookie = stored.cookie;
    const session = data as unknown as SessionData;
    const createdAt = document.createdAt instanceof Date ? document.createdAt : new Date(now);
    this.metas.set(session, {
      createdAt,
      loginAt: document.loginAt,
      lastSeenAt: document.lastSeenAt instanceof Date ? document.lastSeenAt : createdAt,
      userAgent: document.userAgent,
      ip: document.ip,
    });
    return session;
  }

  /** When the absolute timeout ends a session that logged in (or was created) at these times. */
  private absoluteDeadline(meta: Partial<SessionMeta>): number {
    if (this.settings.absoluteTimeout === undefined) return Number.POSITIVE_INFINITY;
    const start = meta.loginAt ?? meta.createdAt;
    return start ? start.getTime() + this.settings.absoluteTimeout * 1000 : Number.POSITIVE_INFINITY;
  }

  /** Inserts a session created in this request; updates, never upserts, one that already had a document. */
  private async write(sid: string, session: SessionData & Session): Promise<void> {
    const now = new Date();
    const meta = this.metaOf(session);
    const data = { ...sessionData(session), cookie: (session.cookie as unknown as { toJSON(): object }).toJSON() };
    const expires = this.expiry(meta, now.getTime());
    // An explicit save() followed by express-session's own at the end of the request writes once.
    const snapshot = `${sid}|${JSON.stringify(data)}`;
    if (this.written.get(session) === snapshot) return;
    if (!this.persisted.has(session)) {
      const recorded = Object.fromEntries(Object.entries(meta).filter(([, value]) => value !== undefined));
      await this.collection.insertOne({ _id: sid, session: data, expires, ...recorded, lastSeenAt: now });
      this.persisted.add(session);
    } else {
      const { matchedCount } = await this.collection.updateOne(
        { _id: sid, expires: { $gt: now } },
        { $set: { session: data, expires, lastSeenAt: now } },
      );
      if (matchedCount === 0) {
        this.gone.add(session);
        return;
      }
    }
    meta.lastSeenAt = now;
    this.written.set(session, snapshot);
  }

  /** `true` when `touchAfter` has passed since the session was last written or touched. */
  private touchDue(session: object, now: number): boolean {
    return now - this.metaOf(session).lastSeenAt.getTime() >= this.settings.touchAfter * 1000;
  }

  /** Slides the expiry of an unchanged session (`touch` calls it once `touchAfter` has passed); never re-creates it. */
  private async extend(sid: string, session: SessionData): Promise<void> {
    const meta = this.metaOf(session);
    const now = Date.now();
    const { matchedCount } = await this.collection.updateOne(
      { _id: sid, expires: { $gt: new Date(now) } },
      { $set: { expires: this.expiry(meta, now), lastSeenAt: new Date(now) } },
    );
    if (matchedCount === 0) this.gone.add(session);
    else meta.lastSeenAt = new Date(now);
  }

  /** Idle timeout from now, capped by the absolute timeout since login. */
  private expiry(meta: SessionMeta, now: number): Date {
    return new Date(Math.min(now + this.settings.idleTimeout * 1000, this.absoluteDeadline(meta)));
  }

  /** Deletes a stored document that cannot be served, and logs why, once (it is gone afterwards). */
  private async reject(sid: string, userId: unknown, reason: string): Promise<null> {
    const handle = sessionHandle(sid);
    this.logger.warn(`Stored session ${handle} was discarded: ${reason}.`);
    await this.collection.deleteOne({ _id: sid });
    this.events.emit('invalid', handle, userId, reason);
    return null;
  }

  /** Runs a store operation for express-session: bounded in time, outages logged, callback style. */
  private call<T>(operation: () => Promise<T>, callback: Callback<T>): void {
    this.run(operation).then(
      (result) => {
        this.recovered();
        callback(null, result);
      },
      (error: unknown) => {
        this.failed(error);
        callback(error);
      },
    );
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
    if (this.unreachable) return;
    this.unreachable = true;
    this.logger.error(`MongoDB is unreachable (${describe(error)}); session routes answer 503 until it is back.`);
  }

  private recovered(): void {
    if (!this.unreachable) return;
    this.unreachable = false;
    this.logger.log('MongoDB is reachable again; sessions are served.');
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
    try {
      await this.collection.createIndex({ expires: 1 }, { expireAfterSeconds: 0 });
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (typeof code === 'number' && NOT_IMPLEMENTED_CODES.has(code)) {
        throw new SessionOptionsError(
          'autoRemove',
          `is 'native', but this MongoDB server refuses TTL indexes (${describe(error)}). ` +
            "Set autoRemove: 'interval' (FerretDB 1.x needs it).",
        );
      }
      throw error;
    }
  }
}

function noop(): void {}

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
