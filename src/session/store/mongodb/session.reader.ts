import type { SessionData } from 'express-session';
import type { Collection } from 'mongodb';
import { applicationData, copyCsrfToken, storedSession, userIdOf } from '../../core/session-data.util.js';
import type { SessionEvents } from '../../core/session.events.js';
import { handleOfDocument } from '../../core/session-id.util.js';
import { sessionLogger } from '../../core/session.logger.js';
import { checkSessionData } from '../../core/session.schema.js';
import type { ResolvedSessionOptions } from '../../interfaces/resolved-session-options.interface.js';
import type { SessionDocument } from '../session-store.interface.js';
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

  /** The stored session, `null` when it cannot be served (expired, invalid), `undefined` when there is none. */
  async read(key: string): Promise<SessionData | null | undefined> {
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

  /** Deletes a stored document that cannot be served, and logs why, once (it is gone afterwards). */
  private async reject(key: string, handle: string, userId: unknown, reason: string): Promise<null> {
    this.logger.warn(`Stored session ${handle} was discarded: ${reason}.`);
    await this.documents.deleteOne({ _id: key });
    this.events.emit('invalid', handle, userId, reason);
    return null;
  }
}
