import { newHandle } from '../../core/session-id.util.js';

/**
 * A session as stored in MongoDB: the data as a document (connect-mongo's `stringify: false` layout), under
 * the hash of its id (`storageKey`), never the id itself, with its times and device beside the data.
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

/** Times of a session created now. */
export function freshMeta(): SessionMeta {
  const now = new Date();
  return { handle: newHandle(), createdAt: now, lastSeenAt: now };
}
