import type { Session as ExpressSession, SessionData } from 'express-session';

/** Keys that express-session and the store keep for themselves inside a session. */
export type ReservedSessionKey = 'cookie' | 'lastModified';

/**
 * The application's session shape. Declare it once by augmenting express-session's `SessionData`;
 * every API of this library then carries it.
 *
 * @example
 * declare module 'express-session' {
 *   interface SessionData {
 *     userId: string;
 *     role: 'admin' | 'member';
 *     cart?: string[];
 *   }
 * }
 */
export type AppSessionData = Omit<SessionData, ReservedSessionKey>;

/** A key of the session shape `S`. */
export type SessionKey<S extends object = AppSessionData> = Extract<keyof S, string>;

/** The value stored under `K`, or `undefined` while it is not set. */
export type SessionValue<K extends SessionKey<S>, S extends object = AppSessionData> = S[K] | undefined;

/** The live session of a request: express-session's `Session` carrying the application's fields. */
export type UserSession<S extends object = AppSessionData> = ExpressSession & Partial<S>;

/**
 * The type of the user id: what `S` declares under `userId`, else `string | number` (with a `userIdField`
 * path such as `'passport.user'`, too: the option is not part of the type).
 */
export type SessionUserId<S extends object = AppSessionData> = S extends { userId?: infer U }
  ? NonNullable<U>
  : string | number;

/** One of a user's sessions, as `SessionService.listForUser` returns it. */
export interface SessionInfo<S extends object = AppSessionData> {
  /**
   * The session's public handle: random, stored with it, the same across its id rotations (`revoke` takes
   * it); neither the id nor derived from it, and never looked up as one.
   */
  handle: string;
  /** `true` for the session of the request that asked. */
  current: boolean;
  /** When the session was created. */
  createdAt?: Date;
  /** When its user logged in. */
  loginAt?: Date;
  /** When it was last used (as precisely as touch throttling records it). */
  lastSeenAt?: Date;
  /** When the session expires unless it is used again. */
  expiresAt: Date;
  /** `User-Agent` at login. */
  userAgent?: string;
  /** Client address at login (honours Express `trust proxy`). */
  ip?: string;
  /** The session's data. */
  data: Readonly<Partial<S>>;
}
