import { MongoStore } from 'connect-mongo';
import type { Request } from 'express';
import type { Session, SessionData } from 'express-session';
import type { Collection, MongoClient } from 'mongodb';
import { cookieAttributesInForce } from '../../http/cookie-attributes.util.js';
import {
  applicationData,
  assertStorableSession,
  copyCsrfToken,
  storedSession,
  userIdOf,
} from '../../core/session-data.util.js';
import type { SessionEvents } from '../../core/session.events.js';
import { handleOfDocument, storageKey } from '../../core/session-id.util.js';
import { sessionLogger } from '../../core/session.logger.js';
import type { ResolvedSessionOptions } from '../../interfaces/resolved-session-options.interface.js';
import { checkSessionData } from '../../core/session.schema.js';
import { changesSince, snapshotOf, type FieldSnapshot } from './session-changes.util.js';
import { SessionCollection } from './session.collection.js';
import type { RotationOutcome, SessionDocument, SessionMeta, SessionStore } from '../session-store.interface.js';
import { freshMeta } from './session.document.js';
import { SessionExpiry } from './session-expiry.util.js';
import { StoreCalls } from './store-calls.util.js';
import { UserLock } from './user.lock.js';
import { WriteQueue } from './write.queue.js';

type Callback<T = void> = (error: unknown, result?: T) => void;

/** What the store knows of one session object while a request holds it. */
interface SessionRecord {
  /** Its document exists (loaded, or inserted by this request): it is saved by update only, never upserted. */
  persisted: boolean;
  /** Saving or touching it found the document gone: it was ended elsewhere while this request ran. */
  ended: boolean;
  /**
   * Each top-level field as last loaded or written (`undefined` before the first write of a new session): a
   * save writes only the fields that differ from it.
   */
  fields?: FieldSnapshot;
  /** `lastSeenAt` as loaded: whether the cookie is due again is judged against it, before this request's write. */
  seenAtLoad?: Date;
  /** Its times and device. */
  meta: SessionMeta;
}

/**
 * Where a session object carries its `SessionRecord`: a symbol property, which neither express-session (its
 * hash is JSON, its copies `for…in`), nor JSON, nor `Object.keys`/`entries` see. Not a WeakMap keyed by
 * session: every entry of one is an ephemeron the garbage collector traces, one per request, and a plain
 * property costs less to set than a non-enumerable one (both profiled).
 */
const RECORD = Symbol('nestjs-typed-session.record');

interface Recorded {
  [RECORD]?: SessionRecord;
}

function recordIn(session: object): SessionRecord | undefined {
  return (session as Recorded)[RECORD];
}

function attachRecord(session: object, record: SessionRecord): void {
  (session as Recorded)[RECORD] = record;
}

/** Unknown-id lookups waiting for the middleware to report them, at most. */
const MAX_PENDING_UNKNOWN = 1000;

/**
 * The MongoDB `SessionStore`: connect-mongo's express-session store, with the guarantees of the storage
 * contract (`SessionStore`) that it lacks.
 *
 * - a session loaded from MongoDB is only ever updated, never upserted: once it is destroyed (logout,
 *   revocation, expiry), a request still in flight cannot write it back; only a session created in this
 *   request is inserted;
 * - a rotation that keeps data writes the new document before deleting the old one, and gives the new one
 *   up when the old one was no longer live: a per-user deletion cannot miss a session changing its id;
 * - every call is bounded by `storeTimeoutMs` (`StoreCalls`), and an outage is logged once, with the recovery;
 * - a stored document that is not a session, or fails the `schema` option, is treated as no session and
 *   deleted; expiry follows the timeouts in force (`SessionExpiry`).
 *
 * It extends connect-mongo's `MongoStore` for what it does not override (`all`, `length`, `clear`), given
 * only the options those read. Per-user queries, indexes and cleanup live in `SessionCollection` (`sessions`),
 * the per-user lock in `UserLock`. Sessions are stored as documents (`stringify: false`), under the hash of
 * their id, so that the user id is queryable through an index and the collection holds no usable id.
 */
export class MongoSessionStore extends MongoStore implements SessionStore {
  /** The sessions collection: per-user queries, indexes, cleanup. */
  readonly sessions: SessionCollection;
  /** The expiry rules in force. */
  readonly expiry: SessionExpiry;
  private readonly logger = sessionLogger;
  private readonly calls: StoreCalls;
  private readonly userLock: UserLock;
  /** Updates of one document, one after the other in this process. */
  private readonly updates = new WriteQueue();
  /** The sessions collection for the read of every request (see the constructor). */
  private readonly reads: Collection<SessionDocument>;
  /** Session ids whose lookup found no document, until the middleware takes them (`wasUnknown`). */
  private readonly unknown = new Set<string>();

  constructor(
    private readonly settings: ResolvedSessionOptions,
    private readonly client: MongoClient,
    private readonly ownsClient: boolean,
    private readonly events: SessionEvents,
  ) {
    // Only what connect-mongo's own methods read; its TTL index is not wanted (a server without TTL indexes
    // would fail every call), the cleanup is `SessionCollection`'s.
    super({
      client,
      dbName: settings.dbName,
      collectionName: settings.collectionName,
      stringify: false,
      autoRemove: 'disabled',
    });
    const db = client.db(settings.dbName);
    // Reads from the primary, writes acknowledged as configured (a majority by default): after a failover,
    // an ended session stays ended.
    const durability = { writeConcern: settings.writeConcern, readPreference: 'primary' } as const;
    const documents = db.collection<SessionDocument>(settings.collectionName, durability);
    // The read of every request goes through a handle without the write concern: the driver copies a
    // collection's write concern into each operation's options, and a find then deletes it from them, which
    // leaves an object V8 handles slowly through the rest of the operation (about 10 µs a read, profiled).
    this.reads = db.collection<SessionDocument>(settings.collectionName, { readPreference: 'primary' });
    this.expiry = new SessionExpiry(settings);
    this.calls = new StoreCalls(client, documents, settings.storeTimeoutMs, ownsClient);
    this.sessions = new SessionCollection(documents, settings, this.expiry, this.calls, events);
    this.userLock = new UserLock(
      db.collection(`${settings.collectionName}_locks`, durability),
      // The sections under the lock make at most four store calls, each bounded by storeTimeoutMs.
      5 * settings.storeTimeoutMs,
      settings.storeTimeoutMs,
    );
  }

  /** The sessions collection itself. */
  private get documents() {
    return this.sessions.documents;
  }

  /** Creates the indexes and starts the cleanup (see `SessionCollection.init`). */
  init(): Promise<void> {
    return this.sessions.init();
  }

  override get(sid: string, callback: Callback<SessionData | null>): void {
    this.calls.callback(
      () => this.read(storageKey(sid)),
      (error, session) => {
        if (error) return callback(error);
        if (session === undefined) {
          // Taken by the middleware as soon as this answers; bounded in case another caller never takes it.
          if (this.unknown.size >= MAX_PENDING_UNKNOWN) this.unknown.clear();
          this.unknown.add(sid);
        }
        callback(null, session ?? null);
      },
    );
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

  override set(sid: string, session: SessionData, callback: Callback = () => undefined): void {
    const key = storageKey(sid);
    const inserting = !recordIn(session)?.persisted;
    this.calls.callback(() => this.write(key, session as SessionData & Session), callback, inserting ? key : undefined);
  }

  override touch(sid: string, session: SessionData, callback: Callback = () => undefined): void {
    // Throttled (the usual case): nothing to write, so answered at once, as connect-mongo does; express-session
    // then ends the response in one write instead of waiting for a store round trip that does nothing.
    if (!this.touchDue(session, Date.now())) return callback(null);
    this.calls.callback(() => this.extend(storageKey(sid), session), callback);
  }

  override destroy(sid: string, callback: Callback = () => undefined): void {
    this.calls.callback(async () => void (await this.documents.deleteOne({ _id: storageKey(sid) })), callback);
  }

  /**
   * express-session's `regenerate`: deletes the old document, then generates a new, empty session. When
   * the delete fails, the request keeps its session and nothing new is generated (nor saved, nor sent). A
   * session never stored has no document to delete.
   */
  override regenerate(req: Request, callback: (error?: unknown) => void): void {
    const old = req.session as object | undefined;
    if (!old || !recordIn(old)?.persisted) {
      this.generateFor(req);
      return callback();
    }
    this.calls.callback(
      () => this.documents.deleteOne({ _id: storageKey(req.sessionID) }),
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
    // The handle, login time and device carry over: the session is the same one (revocable by the handle the
    // user was shown), and the absolute timeout is not reset by a rotation.
    attachRecord(fresh, { persisted: false, ended: false, meta: { ...oldRecord.meta } });
    const freshKey = storageKey(fresh.id);
    await this.calls.call(() => this.write(freshKey, fresh), freshKey);
    if (!oldRecord.persisted) return 'rotated';
    let deleted: number;
    try {
      // Only a live session is carried over: one that expired meanwhile counts as ended, like a deleted one.
      const live = { $and: [{ _id: oldKey }, this.expiry.liveFilter(Date.now()) as object] };
      deleted = (await this.calls.call(() => this.documents.deleteOne(live))).deletedCount;
    } catch (error) {
      // Unknown whether the old session still exists: fail closed, give up the new one.
      await this.calls.call(() => this.documents.deleteOne({ _id: freshKey }), freshKey).catch(() => undefined);
      throw error;
    }
    if (deleted === 1) return 'rotated';
    oldRecord.ended = true;
    await this.calls.call(() => this.documents.deleteMany({ _id: { $in: [freshKey, oldKey] } }), freshKey);
    return 'ended';
  }

  /**
   * Marks sessions read from MongoDB, so that saving them can never re-create a deleted document. Their
   * cookie takes the attributes in force (`cookieAttributesInForce`), keeping only its stored lifetime.
   */
  override createSession(req: Request, data: SessionData): Session & SessionData {
    const record = recordIn(data);
    Object.assign(data.cookie, cookieAttributesInForce(this.settings, req));
    const session = super.createSession(req, data);
    // Attributes in force are no change of the request's: compared against as loaded.
    record?.fields?.set('cookie', JSON.stringify((session.cookie as unknown as { toJSON(): object }).toJSON()));
    attachRecord(session, record ?? { persisted: true, ended: false, meta: freshMeta() });
    return session;
  }

  /** `true` when `session` has a document: loaded from MongoDB, or written by this request. */
  isStored(session: object): boolean {
    return recordIn(session)?.persisted === true;
  }

  /** The times and device of a live session (fresh ones for a session not stored yet). */
  metaOf(session: object): SessionMeta {
    return this.recordOf(session).meta;
  }

  /** `true` when `session` was logged in with "remember me" (the `rememberMe` timeouts). */
  isRemembered(session: object): boolean {
    return recordIn(session)?.meta.remember === true;
  }

  /** The public handle of a live session (stable across its rotations). */
  handleOf(session: object): string {
    return this.recordOf(session).meta.handle;
  }

  /** Sets what the next write of `session` records beside its data (login time, device); its handle stays. */
  setMeta(session: object, meta: Omit<SessionMeta, 'handle'>): void {
    const record = this.recordOf(session);
    record.meta = { ...meta, handle: record.meta.handle };
  }

  /**
   * `true` when saving, touching or rotating `session` found its document gone: it was ended elsewhere
   * (logout, revocation, expiry) while this request ran.
   */
  wasEndedElsewhere(session: object): boolean {
    return recordIn(session)?.ended === true;
  }

  /**
   * Runs `section` while holding the user's lock (a document in `<collection>_locks`): logins under the
   * session limit, rotations that keep data and per-user deletions of one user happen one at a time.
   *
   * @throws SessionBusyError (429) when other changes of the user's sessions hold the lock for longer than
   * `storeTimeoutMs`.
   */
  withUserLock<T>(userId: string | number, section: () => Promise<T>): Promise<T> {
    return this.userLock.run(userId, (operation) => this.calls.bounded(operation), section);
  }

  /**
   * Takes the lock of the session `sid` for a `@SessionLock()` route (a document in `<collection>_locks`,
   * held at most `leaseMs`) and resolves to the function that releases it.
   *
   * @throws SessionBusyError (429) when another request of the session holds it for longer than `storeTimeoutMs`.
   */
  lockSession(sid: string, leaseMs: number): Promise<() => Promise<void>> {
    // Raw, never JSON as the user locks' ids are: a user id cannot name a session's lock.
    return this.userLock.acquire(
      `session ${storageKey(sid)}`,
      (operation) => this.calls.bounded(operation),
      leaseMs,
      'Another request of this session is being handled; try again in a moment.',
    );
  }

  findByUser(userId: string | number): Promise<SessionDocument[]> {
    return this.sessions.findByUser(userId);
  }

  deleteByHandle(userId: unknown, handle: unknown): Promise<number> {
    return this.sessions.deleteByHandle(userId, handle);
  }

  deleteByUser(userId: string | number, select?: { except?: string; only?: string | string[] }): Promise<number> {
    return this.sessions.deleteByUser(userId, select);
  }

  liveAmong(keys: string[]): Promise<Set<string>> {
    return this.sessions.liveAmong(keys);
  }

  /** Stops the cleanup and the client's recovery, and closes the client when the module created it. */
  override async close(): Promise<void> {
    this.sessions.stop();
    await this.calls.stop();
    if (this.ownsClient) await this.client.close();
  }

  private recordOf(session: object): SessionRecord {
    let record = recordIn(session);
    if (!record) {
      record = { persisted: false, ended: false, meta: freshMeta() };
      attachRecord(session, record);
    }
    return record;
  }

  /** express-session's own `generate` (set on the store by the middleware): a new id and an empty session. */
  private generateFor(req: Request): void {
    (this as unknown as { generate(req: Request): void }).generate(req);
  }

  /** The stored session, `null` when it cannot be served (expired, invalid), `undefined` when there is none. */
  private async read(key: string): Promise<SessionData | null | undefined> {
    const document = await this.reads.findOne({ _id: key });
    if (!document) return undefined;
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

  /**
   * `true` when saving `session` would write: a stored session with a field changed, set or removed since it
   * was loaded (or last written), or a new session holding data. The cookie alone is no change.
   */
  hasChanges(session: object): boolean {
    const record = this.recordOf(session);
    // A new session is written once it holds data; a CSRF token alone (an anonymous form) is none.
    if (!record.persisted) return Object.keys(applicationData(session)).length > 0;
    return changesSince(record.fields ?? new Map<string, string>(), fieldsOf(session)) !== undefined;
  }

  /**
   * Inserts a session created in this request. One that already had a document is updated, never upserted,
   * and only in the top-level fields this request changed (`$set`/`$unset` of `session.<key>`): concurrent
   * requests of one session that change different keys all keep their changes.
   */
  private async write(key: string, session: SessionData & Session): Promise<void> {
    assertStorableSession(session, this.settings.maxSessionBytes); // data put on req.session directly, too
    const now = new Date();
    const record = this.recordOf(session);
    const { meta } = record;
    const fields = fieldsOf(session);
    const expires = this.expiry.next(meta, now.getTime());
    if (!record.persisted) {
      const recorded = Object.fromEntries(Object.entries(meta).filter(([, value]) => value !== undefined));
      const snapshot = snapshotOf(fields);
      const stored = Object.fromEntries([...snapshot.keys()].map((name) => [name, fields[name]]));
      await this.documents.insertOne({ _id: key, session: stored, expires, ...recorded, lastSeenAt: now });
      record.persisted = true;
      record.fields = snapshot;
    } else {
      // An explicit save() followed by the commit at the end of the request writes once.
      const changes = changesSince(record.fields ?? new Map<string, string>(), fields);
      if (!changes) return;
      const update: { $set: Record<string, unknown>; $unset?: Record<string, ''> } = {
        $set: { ...changes.set, expires, lastSeenAt: now },
      };
      if (Object.keys(changes.unset).length > 0) update.$unset = changes.unset;
      // Bounded inside the queue too: an update the driver never settles must not hold the next ones.
      const { matchedCount } = await this.updates.run(key, () =>
        this.calls.bounded(() => this.documents.updateOne({ _id: key, expires: { $gt: now } }, update)),
      );
      if (matchedCount === 0) {
        record.ended = true;
        return;
      }
      record.fields = changes.snapshot;
    }
    meta.lastSeenAt = now;
  }

  /**
   * `true` when `touchAfter` had passed, when this request loaded `session`, since it was last written or
   * touched: its expiry moves in this request, so its cookie is sent again (judged as at load, since the
   * commit before the answer has written it by the time the headers go out).
   */
  cookieDue(session: object, now: number): boolean {
    const record = this.recordOf(session);
    const seen = record.seenAtLoad ?? record.meta.lastSeenAt;
    return now - seen.getTime() >= this.settings.touchAfter * 1000;
  }

  /** `true` when `touchAfter` has passed since the session was last written or touched. */
  touchDue(session: object, now: number): boolean {
    return now - this.metaOf(session).lastSeenAt.getTime() >= this.settings.touchAfter * 1000;
  }

  /** Slides the expiry of an unchanged session (`touch` calls it once `touchAfter` has passed); never re-creates it. */
  private async extend(key: string, session: SessionData): Promise<void> {
    const record = this.recordOf(session);
    const now = Date.now();
    const { matchedCount } = await this.updates.run(key, () =>
      this.calls.bounded(() =>
        this.documents.updateOne(
          { _id: key, expires: { $gt: new Date(now) } },
          { $set: { expires: this.expiry.next(record.meta, now), lastSeenAt: new Date(now) } },
        ),
      ),
    );
    if (matchedCount === 0) record.ended = true;
    else record.meta.lastSeenAt = new Date(now);
  }

  /** Deletes a stored document that cannot be served, and logs why, once (it is gone afterwards). */
  private async reject(key: string, handle: string, userId: unknown, reason: string): Promise<null> {
    this.logger.warn(`Stored session ${handle} was discarded: ${reason}.`);
    await this.documents.deleteOne({ _id: key });
    this.events.emit('invalid', handle, userId, reason);
    return null;
  }
}

/** The fields a session stores: its application data, its CSRF token and express-session's cookie. */
function fieldsOf(session: object): Record<string, unknown> {
  const fields = applicationData(session);
  copyCsrfToken(session, fields);
  fields.cookie = (session as { cookie: { toJSON(): object } }).cookie.toJSON();
  return fields;
}
