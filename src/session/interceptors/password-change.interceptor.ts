import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { concatMap, type Observable } from 'rxjs';
import { SessionService } from '../core/session.service.js';
import type { PasswordChangeOptions } from '../interfaces/decorator-options.interface.js';
import { PasswordChangeMetadata } from '../session.constants.js';
import { sessionLogger } from '../core/session.logger.js';

/**
 * After the handler succeeds, ends every other session of the current user and gives the current session a
 * new id: the user stays logged in here and is logged out everywhere else. With
 * `@PasswordChange({ logoutCurrent: true })` the current session is ended too. When the handler throws,
 * nothing changes.
 */
@Injectable()
export class PasswordChangeInterceptor implements NestInterceptor {
  private readonly logger = sessionLogger;

  constructor(
    protected readonly sessions: SessionService,
    protected readonly reflector: Reflector,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const options = this.options(context);
    return next.handle().pipe(
      concatMap(async (result: unknown) => {
        await this.invalidate(options);
        return result;
      }),
    );
  }

  /** Options for this route: `@PasswordChange()` metadata on the handler, else on the class. */
  protected options(context: ExecutionContext): PasswordChangeOptions {
    return this.reflector.getAllAndOverride(PasswordChangeMetadata, [context.getHandler(), context.getClass()]) ?? {};
  }

  /** Ends the user's other sessions and rotates (or ends) the current one. */
  protected async invalidate(options: PasswordChangeOptions): Promise<void> {
    const userId = this.sessions.userId();
    if (userId === undefined) {
      this.logger.warn(
        'PasswordChangeInterceptor ran on a request without a logged-in user; put AuthGuard on the route.',
      );
      return;
    }
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
