import type { Request } from 'express';
import type { Session, SessionData } from 'express-session';
import type { Collection } from 'mongodb';
import { assertStorableSession } from '../../core/session-data.util.js';
import { storageKey } from '../../core/session-id.util.js';
import type { ResolvedSessionOptions } from '../../interfaces/resolved-session-options.interface.js';
import type { RotationOutcome, SessionDocument } from '../session-store.interface.js';
import { changesSince, snapshotOf } from './session-changes.util.js';
import type { SessionExpiry } from './session-expiry.util.js';
import { attachRecord, fieldsOf, recordOf } from './session.record.js';
import type { StoreCalls } from './store-calls.util.js';
import { WriteQueue } from './write.queue.js';

/**
 * The writes of a session: an insert for a session created in this request, else an update that matches only
 * a live document (never an upsert), of the changed fields only; and the touch that slides an unchanged
 * session's expiry. A write or touch that matches nothing marks the session ended elsewhere.
 */
export class SessionWriter {
  /** Updates of one document, one after the other in this process. */
  private readonly updates = new WriteQueue();

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
   */
  async write(key: string, session: SessionData & Session): Promise<void> {
    assertStorableSession(session, this.settings.maxSessionBytes); // data put on req.session directly, too
    const now = new Date();
    const record = recordOf(session);
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

  /** Slides the expiry of an unchanged session (`touch` calls it once `touchAfter` has passed); never re-creates it. */
  async extend(key: string, session: SessionData): Promise<void> {
    const record = recordOf(session);
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

  /**
   * Gives the request's session a new id and carries `kept` over to it. The new document is written first,
   * then the old one deleted; if the old one was already gone, the session was ended meanwhile (logout,
   * revocation, per-user deletion, expiry), so the new document is deleted too and the outcome is `'ended'`.
   * Either way no per-user deletion can miss the session. On `'ended'` or a failure the caller detaches the
   * session from the request, so that nothing more is written or sent.
   */
  async rotateKeeping(req: Request, kept: Record<string, unknown>, generate: () => void): Promise<RotationOutcome> {
    const old = req.session as object;
    const oldKey = storageKey(req.sessionID);
    const oldRecord = recordOf(old);
    generate();
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
}
