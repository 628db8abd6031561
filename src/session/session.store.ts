import { Logger } from '@nestjs/common';
import { MongoStore } from 'connect-mongo';
import type { Request } from 'express';
import type { Session, SessionData } from 'express-session';
import { createHash } from 'node:crypto';
import type { Collection, MongoClient } from 'mongodb';
import { sessionData, storedSession } from './session.data.js';
import { SessionOptionsError } from './session.errors.js';
import type { ResolvedSessionOptions } from './session.options.js';
import { checkSessionData } from './session.schema.js';

/** A session as stored in MongoDB: the data as a document (connect-mongo's `stringify: false` layout). */
export interface SessionDocument {
  _id: string;
  session: Record<string, unknown>;
  expires: Date;
  lastModified?: Date;
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
  private indexes?: Promise<void>;
  private cleanupTimer?: NodeJS.Timeout;
  private unreachable = false;
  private closing = false;
  private reconnecting?: Promise<void>;

  constructor(
    private readonly settings: ResolvedSessionOptions,
    private readonly client: MongoClient,
    private readonly ownsClient: boolean,
  ) {
    super({
      client,
      dbName: settings.dbName,
      collectionName: settings.collectionName,
      ttl: settings.ttl,
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
      await this.bounded(this.reconnectable(() => this.ensureIndexes()));
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

  override touch(sid: string, session: SessionData & { lastModified?: Date }, callback: Callback = noop): void {
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
    const session = super.createSession(req, data);
    this.persisted.add(session);
    return session;
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
      const { deletedCount } = await this.bounded(
        this.reconnectable(() => this.collection.deleteMany({ expires: { $lt: new Date() } })),
      );
      return deletedCount;
    } catch (error) {
      this.failed(error);
      return 0;
    }
  }

  /** The user's sessions that have not expired, through the user-id index. */
  async findByUser(userId: unknown): Promise<SessionDocument[]> {
    return this.bounded(
      this.reconnectable(async () => {
        await this.ensureIndexes();
        return this.collection
          .find({ [this.userIdPath]: userId, expires: { $gt: new Date() } })
          .sort({ expires: -1 })
          .toArray();
      }),
    );
  }

  /** Deletes the user's sessions, except the one with id `keepId`. Resolves to the number deleted. */
  async deleteByUser(userId: unknown, keepId?: string): Promise<number> {
    return this.bounded(
      this.reconnectable(async () => {
        await this.ensureIndexes();
        const filter = keepId === undefined ? { [this.userIdPath]: userId } : { [this.userIdPath]: userId, _id: { $ne: keepId } };
        return (await this.collection.deleteMany(filter)).deletedCount;
      }),
    );
  }

  /** Stops the cleanup timer and closes the client when the module created it. */
  override async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.cleanupTimer);
    this.cleanupTimer = undefined;
    if (this.ownsClient) await this.client.close();
  }

  private async read(sid: string): Promise<SessionData | null> {
    const document = await this.collection.findOne({ _id: sid, expires: { $gt: new Date() } });
    if (!document) return null;
    const stored = storedSession(document.session);
    if (!stored) return this.reject(sid, 'the stored value is not a session object');
    let data = sessionData(stored);
    if (this.settings.schema) {
      const verdict = await checkSessionData(this.settings.schema, data);
      if (!verdict.ok) return this.reject(sid, `it does not match the session schema (${verdict.reason})`);
      data = verdict.data;
    }
    const session: Record<string, unknown> = Object.assign(Object.create(null), data, { cookie: stored.cookie });
    if (this.settings.touchAfter > 0 && document.lastModified) session.lastModified = document.lastModified;
    return session as unknown as SessionData;
  }

  /** Inserts a session created in this request; updates, never upserts, one that already had a document. */
  private async write(sid: string, session: SessionData & Session): Promise<void> {
    const now = new Date();
    const fields: Omit<SessionDocument, '_id'> = {
      session: { ...sessionData(session), cookie: (session.cookie as unknown as { toJSON(): object }).toJSON() },
      expires: this.expiry(session),
      ...(this.settings.touchAfter > 0 ? { lastModified: now } : {}),
    };
    // An explicit save() followed by express-session's own at the end of the request writes once.
    const snapshot = `${sid}|${fields.expires.getTime()}|${JSON.stringify(fields.session)}`;
    if (this.written.get(session) === snapshot) return;
    if (!this.persisted.has(session)) {
      await this.collection.insertOne({ _id: sid, ...fields });
      this.persisted.add(session);
    } else {
      const { matchedCount } = await this.collection.updateOne({ _id: sid, expires: { $gt: now } }, { $set: fields });
      if (matchedCount === 0) {
        this.gone.add(session);
        return;
      }
    }
    this.written.set(session, snapshot);
  }

  /** Extends the expiry of an unchanged session, at most once per `touchAfter`; never re-creates it. */
  private async extend(sid: string, session: SessionData & { lastModified?: Date }): Promise<void> {
    const now = Date.now();
    const last = session.lastModified ? new Date(session.lastModified).getTime() : 0;
    if (this.settings.touchAfter > 0 && now - last < this.settings.touchAfter * 1000) return;
    const { matchedCount } = await this.collection.updateOne(
      { _id: sid, expires: { $gt: new Date(now) } },
      { $set: { expires: this.expiry(session), ...(this.settings.touchAfter > 0 ? { lastModified: new Date(now) } : {}) } },
    );
    if (matchedCount === 0) this.gone.add(session);
  }

  private expiry(session: SessionData): Date {
    const expires = session.cookie?.expires;
    return expires ? new Date(expires) : new Date(Date.now() + this.settings.ttl * 1000);
  }

  /** Deletes a stored document that cannot be served, and logs why, once (it is gone afterwards). */
  private async reject(sid: string, reason: string): Promise<null> {
    this.logger.warn(`Stored session ${sessionHandle(sid)} was discarded: ${reason}.`);
    await this.collection.deleteOne({ _id: sid });
    return null;
  }

  /** Runs a store operation for express-session: bounded in time, outages logged, callback style. */
  private call<T>(operation: () => Promise<T>, callback: Callback<T>): void {
    this.bounded(this.reconnectable(operation)).then(
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

  /**
   * Runs `operation`, reconnecting once when the driver's topology is closed: a client whose first
   * connection failed (MongoDB down at boot) stays closed for good unless it is connected again.
   */
  private async reconnectable<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      if (this.closing || (error as Error | undefined)?.name !== 'MongoTopologyClosedError') throw error;
      this.reconnecting ??= this.client
        .connect()
        .then(noop)
        .finally(() => (this.reconnecting = undefined));
      await this.reconnecting;
      return operation();
    }
  }

  private bounded<T>(operation: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new StoreTimeoutError(`MongoDB did not answer within ${this.settings.storeTimeoutMs} ms`)),
        this.settings.storeTimeoutMs,
      );
    });
    operation.catch(noop); // settled later than the timeout: nobody waits for it any more
    return Promise.race([operation, timeout]).finally(() => clearTimeout(timer));
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
