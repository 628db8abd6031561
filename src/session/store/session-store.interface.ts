import type { Request } from 'express';
import type { SessionData, Store } from 'express-session';

/**
 * A session as a store keeps it: the data as a document, under the hash of its id (`storageKey`), never the
 * id itself, with its times and device beside the data.
 */
export interface SessionDocument extends Partial<SessionMeta> {
  /** `storageKey(sessionId)`. */
  _id: string;
  /** The application's data, express-session's `cookie` and the CSRF token. */
  session: Record<string, unknown>;
  /** When the session expires unless it is used again. */
  expires: Date;
}

/** What the store keeps beside the data: times and the device, recorded at creation and login. */
export interface SessionMeta {
  /**
   * The public handle (`newHandle`), given at creation and carried over by rotations. Absent from documents
   * stored by an earlier version: their handle is derived from their key (`handleOfDocument`).
   */
  handle: string;
  /** When the session was created. */
  createdAt: Date;
  /** When its user logged in; the start of the absolute timeout. */
  loginAt?: Date;
  /**
   * When its user last confirmed their identity again (`SessionService.confirmAuthentication()`), for
   * `@RequireRecentAuth()`. Kept apart from `loginAt`, so that it does not move the absolute timeout.
   */
  reauthenticatedAt?: Date;
  /** Last write or touch (as often as touch throttling allows). */
  lastSeenAt: Date;
  /** `User-Agent` at login, cut to 256 characters. */
  userAgent?: string;
  /** Client address at login (`req.ip`, which honours Express `trust proxy`). */
  ip?: string;
  /** Logged in with "remember me": the `rememberMe` timeouts apply, and the cookie is persistent. */
  remember?: boolean;
}

/** How a rotation that keeps data ended. */
export type RotationOutcome = 'rotated' | 'ended';

/**
 * The storage contract: what the session middleware, `SessionService`, the guards and the socket registry
 * rely on, provided under `SESSION_STORE`. It is an express-session `Store` (the middleware loads and saves
 * through it) with the guarantees the library's promises rest on. A store must:
 *
 * - **update only while live, never upsert**: a session loaded from the store is saved by an update that
 *   matches only a live document; when none matches, the session was ended elsewhere (`wasEndedElsewhere`)
 *   and nothing is re-created. Only a session created in this request is inserted. `touch` follows the
 *   same rule.
 * - **serve only live sessions**: `get` answers `null` for an expired document (and deletes it, emitting
 *   `expired`), and for one that is not a session or fails the `schema` option (deleted, `invalid`);
 * - **rotate new before old**: `rotateKeeping` writes the new document before deleting the old one, and
 *   gives the new one up (outcome `'ended'`) when the old one was no longer live, so that a per-user
 *   deletion running meanwhile cannot miss the session; and it loses no write answered meanwhile: what
 *   other requests stored on the old document before its delete is carried to the new one (kept keys);
 *   writes that come later either follow the session to its new document or are refused (401);
 * - **store only the user id of a login**: a write never gives a session a user id other than the one it was
 *   stored with or `setMeta` opened its login with (one put on `req.session` directly fails the write with
 *   `SessionUserIdError`, nothing written); a rotation carries the old session's stored user id only;
 * - **serialize per user**: `withUserLock` runs one section at a time per user, across processes; logins
 *   under the session limit, rotations that keep data and per-user deletions run under it;
 * - **bound every call** by `storeTimeoutMs`, and fail with an error (never hang, never answer "no
 *   session") when the backend is unreachable: the library turns it into a 503.
 */
export interface SessionStore extends Store {
  /** Slides the expiry of an unchanged live session (never re-creates it); express-session's `touch`. */
  touch(sid: string, session: SessionData, callback?: (error?: unknown) => void): void;
  /** Prepares the backend (indexes, cleanup); called once at start-up. */
  init(): Promise<void>;
  /** Stops background work and releases what the store opened; called at shutdown. */
  close(): Promise<void>;

  /** `true` (once) when loading the session `sid` found no document at all: an unknown or forged id. */
  wasUnknown(sid: string): boolean;
  /** `true` when `session` has a document: loaded from the store, or written by this request. */
  isStored(session: object): boolean;
  /** `true` when saving `session` would write (a field changed, or a new session holding data). */
  hasChanges(session: object): boolean;
  /** `true` when saving, touching or rotating `session` found its document gone: ended elsewhere. */
  wasEndedElsewhere(session: object): boolean;
  /**
   * `true` when a write of `session` found it moved on by a concurrent rotation that did not keep what the
   * write changed: refused (401), but the session goes on under its new id, so its cookie is not cleared.
   */
  wasRotatedAway(session: object): boolean;

  /** The times and device of a live session (fresh ones for a session not stored yet). */
  metaOf(session: object): SessionMeta;
  /**
   * Opens a login: sets what the next write of `session` records beside its data (login time, device; its
   * handle stays), and lets that write store the user id `session` holds now.
   */
  setMeta(session: object, meta: Omit<SessionMeta, 'handle'>): void;
  /** The public handle of a live session (stable across its rotations). */
  handleOf(session: object): string;
  /** `true` when `session` was logged in with "remember me". */
  isRemembered(session: object): boolean;

  /**
   * How long the cookie of `session` should live from `now`, in milliseconds (the idle timeout of its kind,
   * capped by its absolute deadline); `null` for a browser-session cookie.
   */
  cookieLifetime(session: object, now: number): number | null;
  /** `true` when the session's expiry moves in this request, so its cookie is sent again. */
  cookieDue(session: object, now: number): boolean;

  /**
   * Gives the request's session a new id carrying `kept` over: new document first, then the old one
   * deleted; `'ended'` (both gone) when the old one was no longer live. What other requests stored on the
   * old one meanwhile, under the keys `keep` names (`true`: all), is on the new one too.
   */
  rotateKeeping(req: Request, kept: Record<string, unknown>, keep: true | readonly string[]): Promise<RotationOutcome>;

  /** The user's live sessions, newest expiry first. */
  findByUser(userId: string | number): Promise<SessionDocument[]>;
  /** Deletes the user's live session with this public handle (never another user's); the number deleted. */
  deleteByHandle(userId: unknown, handle: unknown): Promise<number>;
  /**
   * Deletes the user's sessions: all, all `except` one, or `only` those given, by storage key; the number
   * deleted. Callers that must not miss a rotating session hold the user's lock.
   */
  deleteByUser(userId: string | number, select?: { except?: string; only?: string | string[] }): Promise<number>;
  /** Which of these storage keys are live sessions: one bounded call, not logged. */
  liveAmong(keys: string[]): Promise<Set<string>>;

  /**
   * Runs `section` holding the user's lock.
   *
   * @throws SessionBusyError (429) when the lock stays taken longer than `storeTimeoutMs`.
   */
  withUserLock<T>(userId: string | number, section: () => Promise<T>): Promise<T>;
  /**
   * Takes the lock of the session `sid` (held at most `leaseMs`) and resolves to its release.
   *
   * @throws SessionBusyError (429) when another request of the session holds it longer than `storeTimeoutMs`.
   */
  lockSession(sid: string, leaseMs: number): Promise<() => Promise<void>>;
}
