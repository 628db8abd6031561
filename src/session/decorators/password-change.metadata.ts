import { Reflector } from '@nestjs/core';

/** Options of `@PasswordChange()`. */
export interface PasswordChangeOptions {
  /** Log out the current session as well, instead of keeping it under a new id. Default `false`. */
  logoutCurrent?: boolean;
}

/** Metadata `@PasswordChange()` sets and `PasswordChangeInterceptor` reads; not part of the public door. */
export const PasswordChangeMetadata = Reflector.createDecorator<PasswordChangeOptions>({
  key: 'nestjs-typed-session:password-change',
});
