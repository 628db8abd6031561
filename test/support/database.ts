import { randomUUID } from 'node:crypto';
import { MongoClient, type Collection } from 'mongodb';
import type { AutoRemoveMode } from 'nestjs-typed-session';
import { storedIdOf } from './cookies.js';

/** A stored session, as the tests read it straight from the collection. */
export interface StoredSession {
  _id: string;
  session: Record<string, unknown> & { cookie: Record<string, unknown> };
  expires: Date;
  handle?: string;
  createdAt?: Date;
  loginAt?: Date;
  lastSeenAt?: Date;
  userAgent?: string;
  ip?: string;
  remember?: boolean;
}

/** The URI of the real server the global setup found or started. */
export function mongoUri(): string {
  const uri = process.env.MONGODB_URI;
  if (!uri)
    throw new Error('MONGODB_URI is not set: run the tests with `npm test`, whose global setup provides a server.');
  return uri;
}

/** `'interval'` on servers without TTL indexes (FerretDB 1.x), else `'native'`. */
export function autoRemoveMode(): AutoRemoveMode {
  return process.env.SESSION_AUTO_REMOVE === 'interval' ? 'interval' : 'native';
}

/** A database of its own for one test file, and a direct handle on its sessions collection. */
export class TestDatabase {
  readonly name = `test-${randomUUID().slice(0, 8)}`;
  private readonly client = new MongoClient(mongoUri());

  sessions(collectionName = 'sessions'): Collection<StoredSession> {
    return this.client.db(this.name).collection<StoredSession>(collectionName);
  }

  /** The stored sessions of a user, read with the same filter the library uses. */
  byUser(userId: string): Promise<StoredSession[]> {
    return this.sessions().find({ 'session.userId': userId }).toArray();
  }

  /** The public handle of a cookie's session, as stored with it; `undefined` when it is not stored. */
  async handleOf(cookie: string): Promise<string | undefined> {
    return (await this.sessions().findOne({ _id: storedIdOf(cookie) }))?.handle;
  }

  async close(): Promise<void> {
    await this.client
      .db(this.name)
      .dropDatabase()
      .catch(() => undefined);
    await this.client.close();
  }
}
