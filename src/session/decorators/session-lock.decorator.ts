import { applyDecorators, UseInterceptors } from '@nestjs/common';
import { SessionLockInterceptor } from '../interceptors/session-lock.interceptor.js';
import type { SessionLockOptions } from '../interfaces/decorator-options.interface.js';
import { SessionLockMetadata } from '../session.constants.js';

export type { SessionLockOptions } from '../interfaces/decorator-options.interface.js';

/**
 * Runs the requests of one session on this route (or every route of a controller) one at a time, for
 * read-modify-write of a key (a counter, a cart): a request takes the session's lock, reads the session
 * again, runs the handler and stores its change before the lock is released. A request that waits longer
 * than `storeTimeoutMs` is answered 429 (`SessionBusyError`). Routes without it are never held.
 *
 * @example
 * @Post('cart')
 * @SessionLock()
 * add(@Body() item: Item) {
 *   this.sessions.set('cart', [...(this.sessions.get('cart') ?? []), item]);
 * }
 */
export function SessionLock(options: SessionLockOptions = {}): MethodDecorator & ClassDecorator {
  return applyDecorators(SessionLockMetadata(options), UseInterceptors(SessionLockInterceptor));
}
