import { applicationData, copyCsrfToken, userIdOf, userIdRootKey } from '../../core/session-data.util.js';
import type { SessionMeta } from '../session-store.interface.js';
import { changesSince, type FieldSnapshot } from './session-changes.util.js';
import { freshMeta } from './session.document.js';

/** What the store knows of one session object while a request holds it. */
export interface SessionRecord {
  /** Its document exists (loaded, or inserted by this request): it is saved by update only, never upserted. */
  persisted: boolean;
  /** Saving or touching it found the document gone: it was ended elsewhere while this request ran. */
  ended: boolean;
  /** The document was gone because a rotation of this process moved the session on: it was not ended. */
  rotatedAway?: boolean;
  /**
   * Each top-level field as last loaded or written (`undefined` before the first write of a new session): a
   * save writes only the fields that differ from it.
   */
  fields?: FieldSnapshot;
  /** `lastSeenAt` as loaded: whether the cookie is due again is judged against it, before this request's write. */
  seenAtLoad?: Date;
  /** Its times and device. */
  meta: SessionMeta;
  /**
   * The user id a session not stored yet may be written with: the one `login()` gave it (`setMeta`), or the
   * one the session a rotation carries over was stored with. A stored session's is the one in `fields`.
   */
  grantedUserId?: string | number;
}

/**
 * Where a session object carries its `SessionRecord`: a symbol property, which neither express-session (its
 * hash is JSON, its copies `for…in`), nor JSON, nor `Object.keys`/`entries` see. Not a WeakMap keyed by
 * session: every entry of one is an ephemeron the garbage collector traces, one per request, and a plain
 * property costs less to set than a non-enumerable one.
 */
const RECORD = Symbol('nestjs-typed-session.record');

interface Recorded {
  [RECORD]?: SessionRecord;
}

export function recordIn(session: object): SessionRecord | undefined {
  return (session as Recorded)[RECORD];
}

export function attachRecord(session: object, record: SessionRecord): void {
  (session as Recorded)[RECORD] = record;
}

/** The record of `session`, attached now (a session not stored yet, with fresh times) when it has none. */
export function recordOf(session: object): SessionRecord {
  let record = recordIn(session);
  if (!record) {
    record = { persisted: false, ended: false, meta: freshMeta() };
    attachRecord(session, record);
  }
  return record;
}

/** The fields a session stores: its application data, its CSRF token and express-session's cookie. */
export function fieldsOf(session: object): Record<string, unknown> {
  const fields = applicationData(session);
  copyCsrfToken(session, fields);
  fields.cookie = cookieFields((session as { cookie?: unknown }).cookie);
  return fields;
}

/** The members of express-session's `Cookie` that it stores (`Cookie.data`). */
const COOKIE_FIELDS = [
  'originalMaxAge',
  'partitioned',
  'priority',
  'expires',
  'secure',
  'httpOnly',
  'domain',
  'path',
  'sameSite',
] as const;

/**
 * The stored form of a session's cookie: an express-session `Cookie` as it serializes itself; a plain object
 * (as `get` answers it, or a JSON copy of that) cut to the Cookie's own members with scalar values, `expires`
 * as a Date; `undefined` when there is no cookie object.
 */
export function cookieFields(cookie: unknown): Record<string, unknown> | undefined {
  if (typeof cookie !== 'object' || cookie === null) return undefined;
  const { toJSON } = cookie as { toJSON?: unknown };
  if (typeof toJSON === 'function') {
    const fields = (toJSON as () => Record<string, unknown>).call(cookie);
    // An invalid maxAge or expires is stored as JSON stores it, null: some servers drop the connection on NaN.
    if (typeof fields.originalMaxAge === 'number' && !Number.isFinite(fields.originalMaxAge))
      fields.originalMaxAge = null;
    if (fields.expires instanceof Date && Number.isNaN(fields.expires.getTime())) fields.expires = null;
    return fields;
  }
  const fields: Record<string, unknown> = {};
  for (const name of COOKIE_FIELDS) {
    let value = (cookie as Record<string, unknown>)[name];
    if (name === 'expires' && typeof value === 'string') value = new Date(value);
    if (value instanceof Date ? !Number.isNaN(value.getTime()) : isScalar(value)) fields[name] = value;
  }
  return fields;
}

function isScalar(value: unknown): boolean {
  return value === null || typeof value === 'string' || typeof value === 'boolean' || Number.isFinite(value);
}

/**
 * `true` when saving `session` would write: a stored session with a field changed, set or removed since it
 * was loaded (or last written), or a new session holding data. The cookie alone is no change.
 */
export function hasChanges(session: object): boolean {
  const record = recordOf(session);
  // A new session is written once it holds data; a CSRF token alone (an anonymous form) is none.
  if (!record.persisted) return Object.keys(applicationData(session)).length > 0;
  return changesSince(record.fields ?? new Map<string, string>(), fieldsOf(session)) !== undefined;
}

/**
 * The one user id a write may store for `session`: the one it was stored with (loaded, or written by this
 * request), or, before its first write, the one `login()` or a rotation gave it (`grantedUserId`).
 */
export function grantedUserId(record: SessionRecord, userIdField: string): string | number | undefined {
  if (!record.persisted) return record.grantedUserId;
  const root = userIdRootKey(userIdField);
  const stored = record.fields?.get(root);
  return stored === undefined ? undefined : userIdOf({ [root]: JSON.parse(stored) as unknown }, { userIdField });
}
