import type { ExecutionContext } from '@nestjs/common';

/** What `PasswordChangeOptions.userId` is given to find the user whose password changed. */
export interface PasswordChangeSource {
  /** What the handler returned. */
  result: unknown;
  /** The HTTP request (Express's `Request`; a GraphQL operation's `req`); `undefined` on other transports. */
  request: unknown;
  context: ExecutionContext;
}

/** Options of `@PasswordChange()`. */
export interface PasswordChangeOptions {
  /** Log out the current session as well, instead of keeping it under a new id. Default `false`. */
  logoutCurrent?: boolean;
  /**
   * The user whose password changed, when the request is not theirs: a reset by an e-mailed link (no session),
   * an administrator changing another user's password. Every session of that user ends; the current session
   * is left as it is, unless it is that user's (then it is rotated, or ended with `logoutCurrent`). A value
   * that is not a user id (a non-empty string or a finite number) is answered 400 and ends nothing.
   * Default: the current session's user, and a request without one is refused (401) before the handler runs.
   */
  userId?: (source: PasswordChangeSource) => unknown;
}

/** What `@RequireRecentAuth()` asks for: a maximum age, or the `recentAuthSeconds` option's. */
export interface RecentAuthRequirement {
  maxAgeSeconds?: number;
}

/** Options of `@SessionLock()`. */
export interface SessionLockOptions {
  /**
   * How long a request may hold the lock, in milliseconds: after it, the lock counts as abandoned (a crashed
   * process) and the next request takes it over. Longer than the handler and its commit take. Default 30 s.
   */
  leaseMs?: number;
}
