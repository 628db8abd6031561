import { applyDecorators, UseInterceptors } from '@nestjs/common';
import { PasswordChangeInterceptor } from '../interceptors/password-change.interceptor.js';
import type { PasswordChangeOptions } from '../interfaces/decorator-options.interface.js';
import { PasswordChangeMetadata } from '../session.constants.js';

export type { PasswordChangeOptions, PasswordChangeSource } from '../interfaces/decorator-options.interface.js';

/**
 * Marks a route that changes the user's credentials: after the handler succeeds, every other session of
 * the user is destroyed and the current one gets a new id (or is logged out with `logoutCurrent`).
 * Same as `@UseInterceptors(PasswordChangeInterceptor)`, with options.
 */
export function PasswordChange(options: PasswordChangeOptions = {}): MethodDecorator & ClassDecorator {
  return applyDecorators(PasswordChangeMetadata(options), UseInterceptors(PasswordChangeInterceptor));
}
