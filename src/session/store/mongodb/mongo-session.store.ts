import { MongoStore } from 'connect-mongo';
import type { Request } from 'express';
import type { Session, SessionData } from 'express-session';
import type { MongoClient } from 'mongodb';
import type { SessionEvents } from '../../core/session.events.js';
import { userIdOf } from '../../core/session-data.util.js';
import { storageKey } from '../../core/session-id.util.js';
import { cookieAttributesInForce } from '../../http/cookie-attributes.util.js';
import type { ResolvedSessionOptions } from '../../interfaces/resolved-session-options.interface.js';
import type { RotationOutcome, SessionDocument, SessionMeta, SessionStore } from '../session-store.interface.js';
import { SessionCollection } from './session.collection.js';
import { freshMeta } from './session.document.js';
import { SessionExpiry } from './session-expiry.util.js';
import { SessionReader } from './session.reader.js';
import { attachRecord, hasChanges, recordIn, recordOf } from './session.record.js';
import { SessionWriter } from './session.writer.js';
import { answer, StoreCalls } from './store-calls.util.js';
import { DirectSessionWriter, isRequestSession } from './direct-session.writer.js';
import { UserLock } from './user.lock.js';

type Callback<T = void> = (error: unknown, result?: T) => void;

/** Unknown-id lookups waiting for the middleware to report them, at most. */
const MAX_PENDING_UNKNOWN = 1000;

/**
 * The MongoDB `SessionStore`: connect-mongo's express-session store (given only the options it reads at
 * construction), with the guarantees of the storage contract that it lacks. Reads go through `SessionReader`,
 * writes (update only while live, rotation new before old) through `SessionWriter`, those of direct callers
 * through `DirectSessionWriter`, every call through `StoreCalls` (bounded, an outage logged once); queries
 * beyond one session, indexes and cleanup are `SessionCollection`'s, the per-user lock `UserLock`'s. Sessions
 * are documents (`stringify: false`) under the hash of their id: the user id is queryable through an index
 * and the collection holds no usable id.
 */
export class MongoSessionStore extends MongoStore implements SessionStore {
  /** The sessions collection: per-user queries, indexes, cleanup. */
  readonly sessions: SessionCollection;
  /** The expiry rules in force. */
  readonly expiry: SessionExpiry;
  private readonly calls: StoreCalls;
  private readonly userLock: UserLock;
  private readonly reader: SessionReader;
  private readonly writer: SessionWriter;
  private readonly direct: DirectSessionWriter;
  /** Session ids whose lookup found no document, until the middleware takes them (`wasUnknown`). */
  private readonly unknown = new Set<string>();

  constructor(
    private readonly settings: ResolvedSessionOptions,
    private readonly client: MongoClient,
    private readonly ownsClient: boolean,
    events: SessionEvents,
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
    // leaves an object V8 handles slowly through the rest of the operation.
    const reads = db.collection<SessionDocument>(settings.collectionName, { readPreference: 'primary' });
    this.expiry = new SessionExpiry(settings);
    this.calls = new StoreCalls(client, documents, settings.storeTimeoutMs, ownsClient);
    this.reader = new SessionReader(reads, documents, settings, this.expiry, events);
    this.writer = new SessionWriter(documents, settings, this.expiry, this.calls);
    this.direct = new DirectSessionWriter(this.reader, this.writer, this.calls, settings);
    this.sessions = new SessionCollection(documents, settings, this.expiry, this.calls, events);
    this.userLock = new UserLock(
      db.collection(`${settings.collectionName}_locks`, durability),
      // The sections under the lock make at most four store calls, each bounded by storeTimeoutMs.
      5 * settings.storeTimeoutMs,
      settings.storeTimeoutMs,
    );
  }

  /** Creates the indexes and starts the cleanup (see `SessionCollection.init`). */
  init(): Promise<void> {
    return this.sessions.init();
  }

  override get(sid: string, callback: Callback<SessionData | null>): void {
    this.calls.callback(
      () => this.reader.read(storageKey(sid), sid),
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

  /** How long the cookie of `session` lives from `now` (ms): its idle timeout, capped; `null` for a browser session. */
  cookieLifetime(session: object, now: number): number | null {
    const { meta } = recordOf(session);
    if (!this.settings.cookie.persistent && meta.remember !== true) return null;
    return Math.max(0, this.expiry.next(meta, now).getTime() - now);
  }

  /** Saves a request's session (`SessionWriter.write`), or an object a direct caller gives (`DirectSessionWriter`). */
  override set(sid: string, session: SessionData, callback: Callback = () => undefined): void {
    const key = storageKey(sid);
    if (!isRequestSession(session)) return answer(this.direct.set(key, sid, session), callback);
    const inserting = !recordIn(session)?.persisted;
    this.calls.callback(
      () => this.writer.write(key, session as SessionData & Session),
      callback,
      inserting ? key : undefined,
    );
  }

  override touch(sid: string, session: SessionData, callback: Callback = () => undefined): void {
    if (!isRequestSession(session)) return answer(this.direct.touch(storageKey(sid), sid), callback);
    // Throttled (the usual case): answered at once, so express-session ends the response without a round trip.
    if (!this.touchDue(session, Date.now())) return callback(null);
    this.calls.callback(() => this.writer.extend(storageKey(sid), session), callback);
  }

  /** The live sessions as stored, never with their ids (the store holds none): `SessionCollection.listLive`. */
  override all(callback: Callback<SessionData[]>): void {
    answer(this.sessions.listLive() as Promise<unknown> as Promise<SessionData[]>, callback);
  }

  override length(callback: (error: unknown, length: number) => void): void {
    answer(this.sessions.countLive(), (error, count) => callback(error, count ?? 0));
  }

  override clear(callback: Callback = () => undefined): void {
    answer(this.sessions.clear(), callback);
  }

  override destroy(sid: string, callback: Callback = () => undefined): void {
    this.calls.callback(async () => void (await this.sessions.documents.deleteOne({ _id: storageKey(sid) })), callback);
  }

  /**
   * express-session's `regenerate`: deletes the old document (if stored), then generates a new, empty session.
   * When the delete fails, the request keeps its session and nothing new is generated (nor saved, nor sent).
   */
  override regenerate(req: Request, callback: (error?: unknown) => void): void {
    const old = req.session as object | undefined;
    if (!old || !recordIn(old)?.persisted) {
      this.generateFor(req);
      return callback();
    }
    this.calls.callback(
      () => this.sessions.documents.deleteOne({ _id: storageKey(req.sessionID) }),
      (error) => {
        if (!error) this.generateFor(req);
        callback(error ?? undefined);
      },
    );
  }

  /** Gives the request's session a new id carrying `kept` over (see `SessionWriter.rotateKeeping`). */
  rotateKeeping(req: Request, kept: Record<string, unknown>, keep: true | readonly string[]): Promise<RotationOutcome> {
    return this.writer.rotateKeeping(req, kept, keep, () => this.generateFor(req));
  }

  /**
   * Marks sessions read from MongoDB, so that saving them never re-creates a deleted document. Their cookie
   * takes the attributes in force (`cookieAttributesInForce`), keeping only its stored lifetime.
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
    return recordOf(session).meta;
  }

  /** `true` when `session` was logged in with "remember me" (the `rememberMe` timeouts). */
  isRemembered(session: object): boolean {
    return recordIn(session)?.meta.remember === true;
  }

  /** The public handle of a live session (stable across its rotations). */
  handleOf(session: object): string {
    return recordOf(session).meta.handle;
  }

  /** Sets what the next write of `session` records beside its data (login time, device); its handle stays. */
  setMeta(session: object, meta: Omit<SessionMeta, 'handle'>): void {
    const record = recordOf(session);
    record.meta = { ...meta, handle: record.meta.handle };
    record.grantedUserId = userIdOf(session, this.settings); // a login: its write may carry this user id
  }

  /** `true` when saving, touching or rotating `session` found its document gone: ended elsewhere meanwhile. */
  wasEndedElsewhere(session: object): boolean {
    return recordIn(session)?.ended === true;
  }

  /** `true` when a write of `session` found it moved on by a rotation that did not keep what it changed. */
  wasRotatedAway(session: object): boolean {
    return recordIn(session)?.rotatedAway === true;
  }

  /**
   * Runs `section` holding the user's lock (a document in `<collection>_locks`).
   * @throws SessionBusyError (429) when other changes of the user's sessions hold it longer than `storeTimeoutMs`.
   */
  withUserLock<T>(userId: string | number, section: () => Promise<T>): Promise<T> {
    return this.userLock.run(userId, (operation) => this.calls.bounded(operation), section);
  }

  /**
   * Takes the lock of the session `sid` for a `@SessionLock()` route (held at most `leaseMs`); resolves to its release.
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

  /** express-session's own `generate` (set on the store by the middleware): a new id and an empty session. */
  private generateFor(req: Request): void {
    (this as unknown as { generate(req: Request): void }).generate(req);
  }

  /** `true` when saving `session` would write (see `hasChanges` of the session record). */
  hasChanges(session: object): boolean {
    return hasChanges(session);
  }

  /**
   * `true` when `touchAfter` had passed, at load, since `session` was last written or touched: its expiry moves
   * in this request, so its cookie is sent again (judged as at load: the commit has written it by the headers).
   */
  cookieDue(session: object, now: number): boolean {
    const record = recordOf(session);
    const seen = record.seenAtLoad ?? record.meta.lastSeenAt;
    return now - seen.getTime() >= this.settings.touchAfter * 1000;
  }

  /** `true` when `touchAfter` has passed since the session was last written or touched. */
  touchDue(session: object, now: number): boolean {
    return now - this.metaOf(session).lastSeenAt.getTime() >= this.settings.touchAfter * 1000;
  }
}
