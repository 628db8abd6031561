import { applyDecorators, UseGuards } from '@nestjs/common';
import { RecentAuthGuard } from '../guards/recent-auth.guard.js';
import { RecentAuthMetadata } from '../session.constants.js';

/**
 * Marks a sensitive route ("sudo mode"): it answers 401 without a logged-in session, and 403
 * (`RecentAuthRequiredError`, `reason: 'reauthenticate'`) when the session's last authentication (login or
 * `SessionService.confirmAuthentication()`) is older than `maxAgeSeconds` (default: the
 * `recentAuthSeconds` option, 900). Same as `@UseGuards(RecentAuthGuard)` with the age; on a controller, it
 * covers every route, and a handler's own age wins.
 *
 * @throws TypeError at start-up when `maxAgeSeconds` is not a positive number.
 * @example
 * @Delete('account')
 * @RequireRecentAuth(300)
 * deleteAccount() {}
 */
export function RequireRecentAuth(maxAgeSeconds?: number): MethodDecorator & ClassDecorator {
  if (
    maxAgeSeconds !== undefined &&
    !(typeof maxAgeSeconds === 'number' && Number.isFinite(maxAgeSeconds) && maxAgeSeconds > 0)
  ) {
    const shown = typeof maxAgeSeconds === 'string' ? JSON.stringify(maxAgeSeconds) : String(maxAgeSeconds);
    throw new TypeError(
      `@RequireRecentAuth(${shown}): the maximum age must be a positive number of seconds, or left out for ` +
        'the recentAuthSeconds option.',
    );
  }
  return applyDecorators(RecentAuthMetadata(maxAgeSeconds), UseGuards(RecentAuthGuard));
}
