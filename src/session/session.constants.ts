import { Reflector } from '@nestjs/core';
import type {
  PasswordChangeOptions,
  RecentAuthRequirement,
  SessionLockOptions,
} from './interfaces/decorator-options.interface.js';

/** Token of the resolved options (defaults applied, validated): what the library's providers read. */
export const RESOLVED_SESSION_OPTIONS = Symbol('nestjs-typed-session:resolved-options');

/** Metadata `@PasswordChange()` sets and `PasswordChangeInterceptor` reads; not part of the public door. */
export const PasswordChangeMetadata = Reflector.createDecorator<PasswordChangeOptions>({
  key: 'nestjs-typed-session:password-change',
});

/** Metadata `@RequireRecentAuth()` sets and `RecentAuthGuard` reads; not part of the public door. */
export const RecentAuthMetadata = Reflector.createDecorator<number | undefined, RecentAuthRequirement>({
  key: 'nestjs-typed-session:recent-auth',
  transform: (maxAgeSeconds) => ({ maxAgeSeconds }),
});

/** Metadata `@SessionLock()` sets and `SessionLockInterceptor` reads; not part of the public door. */
export const SessionLockMetadata = Reflector.createDecorator<SessionLockOptions>({
  key: 'nestjs-typed-session:session-lock',
});

/**
 * Token of the session store: the storage contract (`SessionStore`) the library's providers use, and the one
 * public way to the store for code that calls it directly as an express-session `Store` (see the README,
 * "Using the store directly").
 *
 * @example
 * const store = app.get<symbol, Store>(SESSION_STORE); // Store from express-session
 */
export const SESSION_STORE = Symbol('nestjs-typed-session:store');

/** Token of the `SessionCookies` binding `SessionService` clears and fits the session cookie through. */
export const SESSION_COOKIES = Symbol('nestjs-typed-session:cookies');
