import type { SessionData } from 'express-session';
import type { Collection } from 'mongodb';
import {
  applicationData,
  assertStorableSession,
  copyCsrfToken,
  storedSession,
  userIdOf,
} from '../../core/session-data.util.js';
import type { SessionEvents } from '../../core/session.events.js';
import { handleOfDocument, handleOfKey, newHandle } from '../../core/session-id.util.js';
import { sessionLogger } from '../../core/session.logger.js';
import { checkSessionData } from '../../core/session.schema.js';
import type { ResolvedSessionOptions } from '../../interfaces/resolved-session-options.interface.js';
import type { SessionDocument, SessionMeta } from '../session-store.interface.js';
import { snapshotOf } from './session-changes.util.js';
import type { SessionExpiry } from './session-expiry.util.js';
import { attachRecord } from './session.record.js';

/**
 * The read of every request: a stored document becomes a session only when it is live, a session, and
 * passes the `schema` option; otherwise it is deleted (with an `expired` or `invalid` event) and served as
 * none.
 */
export class SessionReader {
  private readonly logger = sessionLogger;

  constructor(
    /** A handle without the write concern (see `MongoSessionStore`'s constructor). */
    private readonly reads: Collection<SessionDocument>,
    private readonly documents: Collection<SessionDocument>,
    private readonly settings: ResolvedSessionOptions,
    private readonly expiry: SessionExpiry,
    private readonly events: SessionEvents,
  ) {}

  /**
   * The stored session, `null` when it cannot be served (expired, invalid), `undefined` when there is none.
   * Given the id itself (`sid`) and with `legacyIds` on, a miss looks the id up once more as connect-mongo
   * stored it (`readLegacy`).
   */
  async read(key: string, sid?: string): Promise<SessionData | null | undefined> {
    const document = await this.reads.findOne({ _id: key });
    if (document) return this.serve(key, document);
    if (sid === undefined || !this.settings.legacyIds || !isLegacyId(sid)) return undefined;
    return this.readLegacy(key, sid);
  }

  /**
   * The second read of a miss: the hashed key and the plain id in one query, so that a concurrent request
   * that moved the session meanwhile (hashed document inserted before the plain one is deleted) is seen
   * under one of them. A legacy document found is moved (`moveLegacy`).
   */
  private async readLegacy(key: string, sid: string): Promise<SessionData | null | undefined> {
    const found = await this.reads.find({ _id: { $in: [key, sid] } }).toArray();
    const hashed = found.find((document) => document._id === key);
    if (hashed) return this.serve(key, hashed);
    const legacy = found.find((document) => document._id === sid);
    // Never a document of this version: their keys have the storage-key shape, which `isLegacyId` refuses.
    if (!legacy) return undefined;
    return this.moveLegacy(key, sid, legacy);
  }

  /**
   * Moves a live legacy document under the hash of its id, with the library's fields (a new handle; created,
   * logged in and last seen as `legacyStart` says), then deletes the plain one only if it is still live: if
   * that finds nothing (ended meanwhile, by the old app), the moved one is deleted too and nothing is served.
   * Its data is checked as any stored session's; a document that fails is dropped (`invalid`).
   */
  private async moveLegacy(key: string, sid: string, legacy: LegacyDocument): Promise<SessionData | null | undefined> {
    const now = Date.now();
    const handle = handleOfKey(key);
    // Expired: not served, not moved; the cleanup (or connect-mongo's TTL index) removes it.
    if (!(legacy.expires instanceof Date) || legacy.expires.getTime() <= now) return null;
    const stored = storedSession(parseLegacy(legacy.session));
    const userId = stored && userIdOf(stored.data, this.settings);
    if (!stored) return this.rejectLegacy(sid, handle, undefined, 'the stored value is not a session object');
    const cookie = { ...stored.cookie };
    if (typeof cookie.expires === 'string') cookie.expires = new Date(cookie.expires);
    const session = { ...stored.data, cookie };
    try {
      assertStorableSession(session, this.settings.maxSessionBytes);
    } catch (error) {
      return this.rejectLegacy(sid, handle, userId, error instanceof Error ? error.message : String(error));
    }
    if (this.settings.schema) {
      let verdict = checkSessionData(this.settings.schema, stored.data);
      if (verdict instanceof Promise) verdict = await verdict;
      if (!verdict.ok)
        return this.rejectLegacy(sid, handle, userId, `it does not match the session schema (${verdict.reason})`);
    }
    // A document of an earlier version of this library keeps its own times, handle and device.
    const start = legacyStart(cookie, now);
    const loginAt = dateOr(legacy.loginAt, userId !== undefined ? start : undefined);
    const meta = Object.fromEntries(
      Object.entries({
        handle: typeof legacy.handle === 'string' ? legacy.handle : newHandle(),
        createdAt: dateOr(legacy.createdAt, start),
        loginAt,
        reauthenticatedAt: dateOr(legacy.reauthenticatedAt, undefined),
        lastSeenAt: new Date(now),
        userAgent: typeof legacy.userAgent === 'string' ? legacy.userAgent : undefined,
        ip: typeof legacy.ip === 'string' ? legacy.ip : undefined,
        remember: legacy.remember === true ? true : undefined,
      }).filter(([, value]) => value !== undefined),
    ) as unknown as SessionMeta;
    const document: SessionDocument = { _id: key, session, expires: this.expiry.next(meta, now), ...meta };
    // Older than the absolute timeout allows: ended, as a session of the library would be.
    if (this.expiry.expiredBecause(document, now)) return null;
    try {
      await this.documents.insertOne(document);
    } catch (error) {
      if ((error as { code?: unknown }).code !== 11000) throw error;
      // Moved by a concurrent request of the same session: served as it moved it.
      const moved = await this.reads.findOne({ _id: key });
      return moved ? this.serve(key, moved) : undefined;
    }
    let deletedCount: number;
    try {
      ({ deletedCount } = await this.documents.deleteOne({ _id: sid, expires: { $gt: new Date(now) } }));
    } catch (error) {
      // Unknown whether the legacy session still exists: fail closed, give up the moved one.
      await this.documents.deleteOne({ _id: key }).catch(() => undefined);
      throw error;
    }
    if (deletedCount === 0) {
      await this.documents.deleteMany({ _id: { $in: [key, sid] } });
      return null;
    }
    this.logger.debug(`Stored session ${meta.handle} was moved from its plain id to the hashed one.`);
    return this.serve(key, document);
  }

  /** Serves a document found under `key`, as `read` describes. */
  private async serve(key: string, document: SessionDocument): Promise<SessionData | null> {
    const handle = handleOfDocument(document);
    const stored = storedSession(document.session);
    const userId = stored && userIdOf(stored.data, this.settings);
    const now = Date.now();
    if (!(document.expires instanceof Date)) return this.reject(key, handle, userId, 'it has no expiry date');
    const expired = this.expiry.expiredBecause(document, now);
    if (expired) {
      // Served by nobody from now on; deleted here rather than by the next cleanup.
      const { deletedCount } = await this.documents.deleteOne({ _id: key });
      if (deletedCount === 1) this.events.emit('expired', handle, userId, expired);
      return null;
    }
    if (!stored) return this.reject(key, handle, undefined, 'the stored value is not a session object');
    let data = stored.data;
    if (this.settings.schema) {
      let verdict = checkSessionData(this.settings.schema, data);
      if (verdict instanceof Promise) verdict = await verdict;
      if (!verdict.ok)
        return this.reject(key, handle, userId, `it does not match the session schema (${verdict.reason})`);
      // The schema's output may be any object: copied without unsafe keys, as stored data is.
      data = applicationData(verdict.data);
    }
    copyCsrfToken(stored.raw, data);
    data.cookie = stored.cookie;
    const session = data as unknown as SessionData;
    const createdAt = document.createdAt instanceof Date ? document.createdAt : new Date(now);
    const lastSeenAt = document.lastSeenAt instanceof Date ? document.lastSeenAt : createdAt;
    attachRecord(session, {
      persisted: true,
      ended: false,
      fields: snapshotOf(data),
      seenAtLoad: lastSeenAt,
      meta: {
        handle,
        createdAt,
        loginAt: document.loginAt,
        reauthenticatedAt: document.reauthenticatedAt instanceof Date ? document.reauthenticatedAt : undefined,
        lastSeenAt,
        userAgent: document.userAgent,
        ip: document.ip,
        remember: document.remember === true ? true : undefined,
      },
    });
    return session;
  }

  /** Deletes a legacy document that cannot be served, as `reject` does. */
  private async rejectLegacy(sid: string, handle: string, userId: unknown, reason: string): Promise<null> {
    this.logger.warn(`Stored connect-mongo session ${handle} was discarded: ${reason}.`);
    await this.documents.deleteOne({ _id: sid });
    this.events.emit('invalid', handle, userId, reason);
    return null;
  }

  /** Deletes a stored document that cannot be served, and logs why, once (it is gone afterwards). */
  private async reject(key: string, handle: string, userId: unknown, reason: string): Promise<null> {
    this.logger.warn(`Stored session ${handle} was discarded: ${reason}.`);
    await this.documents.deleteOne({ _id: key });
    this.events.emit('invalid', handle, userId, reason);
    return null;
  }
}

/**
 * `true` for an id the legacy lookup may try: a string of at most 255 characters (express-session's own are
 * 32), never shaped like a storage key (43 base64url characters), so that a key read from the collection,
 * presented as an id, never names the document it is the key of.
 */
function isLegacyId(sid: string): boolean {
  return sid.length > 0 && sid.length <= 255 && !/^[\w-]{43}$/.test(sid);
}

/** A document found under a plain id: connect-mongo's, or one of an earlier version of this library. */
interface LegacyDocument {
  session: unknown;
  expires: unknown;
  handle?: unknown;
  createdAt?: unknown;
  loginAt?: unknown;
  reauthenticatedAt?: unknown;
  userAgent?: unknown;
  ip?: unknown;
  remember?: unknown;
}

/** `value` when it is a date, else `fallback`. */
function dateOr<T>(value: unknown, fallback: T): Date | T {
  return value instanceof Date ? value : fallback;
}

/** connect-mongo's `session` field: a JSON string (`stringify: true`, its default) or the object itself. */
function parseLegacy(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * When a legacy session is taken to have started: when express-session last set its cookie (`expires` less
 * `originalMaxAge`), which is no earlier than its login, so the absolute timeout never runs longer than it
 * would have; the move time for a browser-session cookie, which records no time.
 */
function legacyStart(cookie: Record<string, unknown>, now: number): Date {
  const expires = cookie.expires instanceof Date ? cookie.expires.getTime() : Number.NaN;
  const maxAge = cookie.originalMaxAge;
  if (typeof maxAge !== 'number' || !Number.isFinite(expires)) return new Date(now);
  const set = expires - maxAge;
  return new Date(Number.isFinite(set) && set < now ? set : now);
}
