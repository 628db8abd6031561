import type { Session, SessionData } from 'express-session';
import { applicationData, assertStorableSession, copyCsrfToken, CSRF_KEY } from '../../core/session-data.util.js';
import { checkSessionData } from '../../core/session.schema.js';
import type { ResolvedSessionOptions } from '../../interfaces/resolved-session-options.interface.js';
import { SessionDataError, SessionEndedError } from '../../session.errors.js';
import type { SessionReader } from './session.reader.js';
import { attachRecord, cookieFields, recordIn, type SessionRecord } from './session.record.js';
import type { SessionWriter } from './session.writer.js';
import type { StoreCalls } from './store-calls.util.js';

/**
 * `true` for a session object express-session made for a request (its `Session`, which carries the request):
 * what the middleware saves and touches. Any other object given to `set` or `touch` comes from code that uses
 * the store directly (a script, an admin tool), as `get` answered it, a copy of that, or one it built.
 */
export function isRequestSession(session: object): boolean {
  return Object.hasOwn(session, 'req');
}

/** The refusal of a direct write to an id without a live session. */
function noLiveSession(): SessionEndedError {
  return new SessionEndedError(
    'No live session is stored under this id: it was never created by a request, or it has ended (logged out, ' +
      'revoked, expired). A direct set() or touch() updates a live session only; it never creates or re-creates one.',
  );
}

/**
 * The writes of callers that use the store directly, as an express-session `Store`, with the rule of every
 * write: a live session is updated, never upserted; none is created or brought back. Their data is checked as
 * the request's, and by the `schema` option too (nothing else has checked it). A session `get` answered in
 * this process is written as a request's, by the fields changed since; any other object is written as the
 * changes from the stored session to it (its whole data replaces the stored data), keeping the stored cookie
 * and CSRF token when it has none.
 */
export class DirectSessionWriter {
  constructor(
    private readonly reader: SessionReader,
    private readonly writer: SessionWriter,
    private readonly calls: StoreCalls,
    private readonly settings: ResolvedSessionOptions,
  ) {}

  /**
   * Writes `given` to the live session `sid` (storage key `key`).
   *
   * @throws SessionDataError when the data cannot be stored or fails the schema; nothing is written.
   * @throws SessionEndedError when no live session has this id; nothing is written.
   */
  async set(key: string, sid: string, given: object): Promise<void> {
    assertStorableSession(given, this.settings.maxSessionBytes);
    await this.checkSchema(given);
    const loaded = recordIn(given);
    const record = loaded?.persisted ? loaded : await this.liveRecord(key, sid);
    const session = applicationData(given);
    copyCsrfToken(given, session);
    if (session[CSRF_KEY] === undefined) keepStored(record, CSRF_KEY, session);
    session.cookie = cookieFields((given as { cookie?: unknown }).cookie);
    if (session.cookie === undefined) keepStored(record, 'cookie', session);
    attachRecord(session, record);
    await this.calls.call(() => this.writer.write(key, session as unknown as SessionData & Session));
    if (record.ended || record.rotatedAway) throw noLiveSession();
  }

  /**
   * Slides the expiry of the live session `sid` once `touchAfter` has passed since its last write or touch.
   *
   * @throws SessionEndedError when no live session has this id; nothing is written.
   */
  async touch(key: string, sid: string): Promise<void> {
    const record = await this.liveRecord(key, sid);
    if (Date.now() - record.meta.lastSeenAt.getTime() < this.settings.touchAfter * 1000) return;
    const session = {};
    attachRecord(session, record); // the expiry follows the stored times
    await this.calls.call(() => this.writer.extend(key, session as SessionData));
    if (record.ended) throw noLiveSession();
  }

  /** The record of the stored session, read as a request reads it (an expired or invalid one is deleted). */
  private async liveRecord(key: string, sid: string): Promise<SessionRecord> {
    const current = await this.calls.call(() => this.reader.read(key, sid));
    const record = current ? recordIn(current) : undefined;
    if (!record) throw noLiveSession();
    return record;
  }

  private async checkSchema(given: object): Promise<void> {
    if (!this.settings.schema) return;
    const verdict = await checkSessionData(this.settings.schema, applicationData(given));
    if (!verdict.ok) {
      throw new SessionDataError(
        `Session data does not match the session schema (${verdict.reason}); nothing was written.`,
      );
    }
  }
}

/** Copies onto `session` the field `name` as the record last saw it stored (a JSON snapshot). */
function keepStored(record: SessionRecord, name: string, session: Record<string, unknown>): void {
  const stored = record.fields?.get(name);
  if (stored === undefined) return;
  const value: unknown = JSON.parse(stored);
  session[name] = name === 'cookie' ? cookieFields(value) : value;
}
