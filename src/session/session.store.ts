import { Logger } from '@nestjs/common';
import { MongoStore } from 'connect-mongo';
import { createHash } from 'node:crypto';
import type { Collection, MongoClient } from 'mongodb';
import { SessionOptionsError } from './session.errors.js';
import type { ResolvedSessionOptions } from './session.options.js';

/** A session as stored in MongoDB (connect-mongo with `stringify: false`). */
export interface SessionDocument {
  _id: string;
  session: Record<string, unknown>;
  expires: Date;
  lastModified?: Date;
}

/** Public handle of a session id: stable, not reversible, safe to show and to put in URLs. */
export function sessionHandle(sessionId: string): string {
  return createHash('sha256').update(sessionId).digest('base64url').slice(0, 22);
}

/** MongoDB error codes meaning "this server does not implement that" (FerretDB 1.x for TTL indexes). */
const NOT_IMPLEMENTED_CODES = new Set([115, 238]);

/**
 * The connect-mongo store the session middleware uses, plus the per-user queries of `SessionService`.
 * Sessions are stored as documents (`stringify: false`) so that the user id is queryable through an index.
 */
export class SessionStore extends MongoStore {
  /** The sessions collection. */
  readonly collection: Collection<SessionDocument>;
  private readonly logger = new Logger('SessionModule');
  private readonly userIdPath: string;
  private indexes?: Promise<void>;
  private cleanupTimer?: NodeJS.Timeout;

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
      // Expiry cleanup is done below: connect-mongo's own TTL index creation, when refused by the server,
      // would fail every later store call.
      autoRemove: 'disabled',
    });
    this.collection = client.db(settings.dbName).collection<SessionDocument>(settings.collectionName);
    this.userIdPath = `session.${settings.userIdField}`;
  }

  /**
   * Creates the user-id index (and the TTL index with `autoRemove: 'native'`) and starts interval cleanup.
   * An unreachable server is logged, not thrown, so that the application still boots; the indexes are
   * then created on the first per-user call. A server that refuses the TTL index is a configuration error.
   *
   * @throws SessionOptionsError when `autoRemove: 'native'` is used against a server without TTL indexes.
   */
  async init(): Promise<void> {
    if (this.settings.autoRemove === 'interval' && !this.cleanupTimer) {
      this.cleanupTimer = setInterval(() => void this.removeExpired(), this.settings.autoRemoveInterval * 60_000);
      this.cleanupTimer.unref();
    }
    try {
      await this.ensureIndexes();
    } catch (error) {
      if (error instanceof SessionOptionsError) throw error;
      this.logger.error(`MongoDB is unreachable at start-up (${describe(error)}); sessions will be served once it answers.`);
    }
  }

  /** Deletes expired documents; what `autoRemove: 'interval'` runs on its timer. */
  async removeExpired(): Promise<number> {
    try {
      const { deletedCount } = await this.collection.deleteMany({ expires: { $lt: new Date() } });
      return deletedCount;
    } catch (error) {
      this.logger.warn(`Expired-session cleanup failed: ${describe(error)}`);
      return 0;
    }
  }

  /** The user's sessions that have not expired, through the user-id index. */
  async findByUser(userId: unknown): Promise<SessionDocument[]> {
    await this.ensureIndexes();
    return this.collection
      .find({ [this.userIdPath]: userId, expires: { $gt: new Date() } })
      .sort({ expires: -1 })
      .toArray();
  }

  /** Deletes the user's sessions, except the one with id `keepId`. Resolves to the number deleted. */
  async deleteByUser(userId: unknown, keepId?: string): Promise<number> {
    await this.ensureIndexes();
    const filter = keepId === undefined ? { [this.userIdPath]: userId } : { [this.userIdPath]: userId, _id: { $ne: keepId } };
    const { deletedCount } = await this.collection.deleteMany(filter);
    return deletedCount;
  }

  /** Stops the cleanup timer and closes the client when the module created it. */
  override async close(): Promise<void> {
    clearInterval(this.cleanupTimer);
    this.cleanupTimer = undefined;
    if (this.ownsClient) await this.client.close();
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

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
