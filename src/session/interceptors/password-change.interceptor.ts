import {
  Injectable,
  UnauthorizedException,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { concatMap, type Observable } from 'rxjs';
import { httpRequestOf } from '../core/session.context.js';
import { assertUserId } from '../core/session-data.util.js';
import { SessionService } from '../core/session.service.js';
import type { PasswordChangeOptions } from '../interfaces/decorator-options.interface.js';
import type { SessionUserId } from '../interfaces/session-data.interface.js';
import { PasswordChangeMetadata } from '../session.constants.js';

/**
 * After the handler succeeds, ends every other session of the current user and gives the current session a
 * new id: the user stays logged in here and is logged out everywhere else. With
 * `@PasswordChange({ logoutCurrent: true })` the current session is ended too; with `userId`, every session of
 * the user it names ends (a reset by link, an administrator's change). When the handler throws, nothing
 * changes. A route without `userId` reached without a logged-in user is refused before its handler runs: its
 * password change could log nobody out.
 */
@Injectable()
export class PasswordChangeInterceptor implements NestInterceptor {
  constructor(
    protected readonly sessions: SessionService,
    protected readonly reflector: Reflector,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const options = this.options(context);
    if (!options.userId && this.sessions.userId() === undefined) {
      throw new UnauthorizedException(
        '@PasswordChange() needs a logged-in user, or its userId option naming the user whose password changes.',
      );
    }
    return next.handle().pipe(
      concatMap(async (result: unknown) => {
        await this.invalidate(options, options.userId && this.targetOf(options.userId, result, context));
        return result;
      }),
    );
  }

  /** Options for this route: `@PasswordChange()` metadata on the handler, else on the class. */
  protected options(context: ExecutionContext): PasswordChangeOptions {
    return this.reflector.getAllAndOverride(PasswordChangeMetadata, [context.getHandler(), context.getClass()]) ?? {};
  }

  /** The user the `userId` option names; 400 when it names none. */
  protected targetOf(
    userId: NonNullable<PasswordChangeOptions['userId']>,
    result: unknown,
    context: ExecutionContext,
  ): string | number {
    const target = userId({ result, request: httpRequestOf(context), context });
    assertUserId('@PasswordChange({ userId })', target);
    return target;
  }

  /**
   * Ends the sessions of `target` (default: the current user): the current session is rotated (or ended) when
   * it is that user's, and left alone when it is not.
   */
  protected async invalidate(options: PasswordChangeOptions, target?: string | number): Promise<void> {
    const userId = this.sessions.userId();
    if (target !== undefined && target !== userId) {
      // Checked as a user id; of the type the app declares only as far as the app's `userId` option says.
      await this.sessions.destroyAllForUser(target as SessionUserId, { reason: 'password-change' });
      return;
    }
    if (userId === undefined) return; // refused before the handler ran
    if (options.logoutCurrent) {
      await this.sessions.destroyAllForUser(userId, { reason: 'password-change' });
      return;
    }
    try {
      await this.sessions.regenerate({ keep: true });
    } catch (error) {
      // The password has changed whatever happened to this session (ended elsewhere meanwhile, MongoDB
      // failing): the user's other sessions must end all the same.
      await this.sessions.destroyAllForUser(userId, { reason: 'password-change' });
      throw error;
    }
    await this.sessions.destroyAllForUser(userId, { exceptCurrent: true, reason: 'password-change' });
  }
}
