import type { Request } from 'express';
import type { Session, SessionData } from 'express-session';
import type { Collection } from 'mongodb';
import { assertStorableSession, userIdOf, userIdRootKey } from '../../core/session-data.util.js';
import { storageKey } from '../../core/session-id.util.js';
import type { ResolvedSessionOptions } from '../../interfaces/resolved-session-options.interface.js';
import type { RotationOutcome, SessionDocument } from '../session-store.interface.js';
import { applicationData } from '../../core/session-data.util.js';
import { changesSince, concurrentChanges, snapshotOf, type FieldSnapshot } from './session-changes.util.js';
import type { SessionExpiry } from './session-expiry.util.js';
import { attachRecord, fieldsOf, grantedUserId, recordOf, type SessionRecord } from './session.record.js';
import { SessionUserIdError } from '../../session.errors.js';
import type { StoreCalls } from './store-calls.util.js';
import { WriteQueue } from './write.queue.js';

/** How long a rotated session's successor is remembered for the writes in flight (`successors`). */
const SUCCESSOR_MS = 60_000;

/** The keys a rotation carries over: all of them, or those named. */
type Carried = true | readonly string[];

/**
 * The writes of a session: an insert for a session created in this request, else an update that matches only
 * a live document (never an upsert), of the changed fields only; and the touch that slides an unchanged
 * session's expiry. A write or touch that matches nothing marks the session ended elsewhere.
 */
export class SessionWriter {
  /** Updates of one document, one after the other in this process. */
  private readonly updates = new WriteQueue();
  /**
   * Where the rotations of this process moved each session (old storage key to the new one, and the keys
   * carried), for a minute: a write of another request of the session, loaded before the rotation and
   * committed after it, is applied to the new document rather than lost or refused.
   */
  private readonly successors = new Map<string, { key: string; keep: Carried }>();

  constructor(
    private readonly documents: Collection<SessionDocument>,
    private readonly settings: ResolvedSessionOptions,
    private readonly expiry: SessionExpiry,
    private readonly calls: StoreCalls,
  ) {}

  /**
   * Inserts a session created in this request. One that already had a document is updated, never upserted,
   * and only in the top-level fields this request changed (`$set`/`$unset` of `session.<key>`): concurrent
   * requests of one session that change different keys all keep their changes.
   *
   * @throws SessionUserIdError when the session holds a user id other than the one it was stored or logged
   * in with (put on `req.session` directly); nothing is written.
   */
  async write(key: string, session: SessionData & Session): Promise<void> {
    assertStorableSession(session, this.settings.maxSessionBytes); // data put on req.session directly, too
    const now = new Date();
    const record = recordOf(session);
    const { meta } = record;
    const fields = fieldsOf(session);
    const expires = this.expiry.next(meta, now.getTime());
    if (!record.persisted) {
      this.assertGrantedUserId(session, record);
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
      if (`session.${userIdRootKey(this.settings.userIdField)}` in changes.set)
        this.assertGrantedUserId(session, record);
      const update: { $set: Record<string, unknown>; $unset?: Record<string, ''> } = {
        $set: { ...changes.set, expires, lastSeenAt: now },
      };
      if (Object.keys(changes.unset).length > 0) update.$unset = changes.unset;
      // Bounded inside the queue too: an update the driver never settles must not hold the next ones.
      const updateLive = (target: string) =>
        this.updates.run(target, () =>
          this.calls.bounded(() => this.documents.updateOne({ _id: target, expires: { $gt: now } }, update)),
        );
      let { matchedCount } = await updateLive(key);
      const successor = matchedCount === 0 ? this.successors.get(key) : undefined;
      if (successor) {
        const changed = [...Object.keys(changes.set), ...Object.keys(changes.unset)].map((path) => path.slice(8));
        const carried = changed.every((name) => name === 'cookie' || isCarried(successor.keep, name));
        if (carried) ({ matchedCount } = await updateLive(successor.key));
        else record.rotatedAway = true;
      }
      if (matchedCount === 0) {
        record.ended = true;
        return;
      }
      record.fields = changes.snapshot;
    }
    meta.lastSeenAt = now;
  }

  /** Slides the expiry of an unchanged session (`touch` calls it once `touchAfter` has passed); never re-creates it. */
  async extend(key: string, session: SessionData): Promise<void> {
    const record = recordOf(session);
    const now = Date.now();
    const extendLive = (target: string) =>
      this.updates.run(target, () =>
        this.calls.bounded(() =>
          this.documents.updateOne(
            { _id: target, expires: { $gt: new Date(now) } },
            { $set: { expires: this.expiry.next(record.meta, now), lastSeenAt: new Date(now) } },
          ),
        ),
      );
    let { matchedCount } = await extendLive(key);
    // A session a rotation of this process moved on was not ended, unless its new document is gone too.
    const successor = matchedCount === 0 ? this.successors.get(key) : undefined;
    if (successor) ({ matchedCount } = await extendLive(successor.key));
    if (matchedCount === 0) record.ended = true;
    else record.meta.lastSeenAt = new Date(now);
  }

  /**
   * Gives the request's session a new id and carries `kept` over to it. The new document is written first,
   * then the old one deleted and read at once: the kept keys other requests changed on it since this one
   * loaded it (writes answered 2xx meanwhile) are carried to the new one too, and writes still in flight in
   * this process follow the session to its new document. If the old one was already gone, the session was ended meanwhile (logout,
   * revocation, per-user deletion, expiry), so the new document is deleted too and the outcome is `'ended'`.
   * Either way no per-user deletion can miss the session. On `'ended'` or a failure the caller detaches the
   * session from the request, so that nothing more is written or sent.
   */
  async rotateKeeping(
    req: Request,
    kept: Record<string, unknown>,
    keep: Carried,
    generate: () => void,
  ): Promise<RotationOutcome> {
    const old = req.session as object;
    const own = applicationData(old);
    const oldKey = storageKey(req.sessionID);
    const oldRecord = recordOf(old);
    generate();
    const fresh = req.session as SessionData & Session;
    Object.assign(fresh, kept);
    // The handle, login time and device carry over: the session is the same one (revocable by the handle the
    // user was shown), and the absolute timeout is not reset by a rotation.
    // Only the user id the old session was stored or logged in with: not one put on req.session meanwhile.
    const userId = grantedUserId(oldRecord, this.settings.userIdField);
    attachRecord(fresh, { persisted: false, ended: false, meta: { ...oldRecord.meta }, grantedUserId: userId });
    const freshKey = storageKey(fresh.id);
    await this.calls.call(() => this.write(freshKey, fresh), freshKey);
    if (!oldRecord.persisted) return 'rotated';
    let deleted: SessionDocument | null;
    try {
      // Only a live session is carried over: one that expired meanwhile counts as ended, like a deleted one.
      const live = { $and: [{ _id: oldKey }, this.expiry.liveFilter(Date.now()) as object] };
      deleted = await this.updates.run(oldKey, () => this.calls.call(() => this.documents.findOneAndDelete(live)));
    } catch (error) {
      // Unknown whether the old session still exists: fail closed, give up the new one.
      await this.calls.call(() => this.documents.deleteOne({ _id: freshKey }), freshKey).catch(() => undefined);
      throw error;
    }
    if (deleted !== null) {
      this.successors.set(oldKey, { key: freshKey, keep });
      setTimeout(() => this.successors.delete(oldKey), SUCCESSOR_MS).unref();
      await this.carryConcurrentChanges(freshKey, deleted, oldRecord.fields, own, keep);
      return 'rotated';
    }
    oldRecord.ended = true;
    await this.calls.call(() => this.documents.deleteMany({ _id: { $in: [freshKey, oldKey] } }), freshKey);
    return 'ended';
  }

  /**
   * Refuses a user id that `login()` did not give the session: a login made on `req.session` would skip the
   * new id, the session limit and the login's time and device. Removing the user id (a logout) is allowed.
   */
  private assertGrantedUserId(session: object, record: SessionRecord): void {
    const userId = userIdOf(session, this.settings);
    if (userId !== undefined && userId !== grantedUserId(record, this.settings.userIdField)) {
      throw new SessionUserIdError(this.settings.userIdField);
    }
  }

  /**
   * Adds to the new document of a rotation the kept fields other requests changed on the old one meanwhile.
   * When that fails the rotation fails (503) and the new document is deleted too: the session has ended, and
   * a write answered meanwhile is never silently dropped from a session that goes on.
   */
  private async carryConcurrentChanges(
    freshKey: string,
    deleted: SessionDocument,
    loaded: FieldSnapshot | undefined,
    own: Record<string, unknown>,
    keep: Carried,
  ): Promise<void> {
    const stored = applicationData(deleted.session);
    const changes = concurrentChanges(loaded ?? new Map<string, string>(), stored, own, (key) => isCarried(keep, key));
    if (!changes) return;
    const update: { $set?: Record<string, unknown>; $unset?: Record<string, ''> } = {};
    if (Object.keys(changes.set).length > 0) update.$set = changes.set;
    if (Object.keys(changes.unset).length > 0) update.$unset = changes.unset;
    try {
      await this.updates.run(freshKey, () =>
        this.calls.call(() => this.documents.updateOne({ _id: freshKey }, update)),
      );
    } catch (error) {
      await this.calls.call(() => this.documents.deleteOne({ _id: freshKey }), freshKey).catch(() => undefined);
      throw error;
    }
  }
}

function isCarried(keep: Carried, key: string): boolean {
  return keep === true || keep.includes(key);
}
