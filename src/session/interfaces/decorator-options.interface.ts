/** Options of `@PasswordChange()`. */
export interface PasswordChangeOptions {
  /** Log out the current session as well, instead of keeping it under a new id. Default `false`. */
  logoutCurrent?: boolean;
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
