import { Inject, Injectable, UnauthorizedException, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { RecentAuthMetadata, SESSION_STORE } from '../session.constants.js';
import { RecentAuthRequiredError } from '../session.errors.js';
import { RESOLVED_SESSION_OPTIONS } from '../session.constants.js';
import type { ResolvedSessionOptions } from '../interfaces/resolved-session-options.interface.js';
import { isRecentAuthentication } from '../core/recent-auth.util.js';
import { sessionContextOf } from '../core/session.context.js';
import { SessionService } from '../core/session.service.js';
import type { SessionStore } from '../store/session-store.interface.js';
import { inTransport } from '../sockets/socket.context.js';

/**
 * Lets a request through when its session is authenticated and its last authentication (login, or
 * `SessionService.confirmAuthentication()`) is recent enough; answers 401 without a logged-in session and
 * 403 (`RecentAuthRequiredError`) when the authentication is too old. The age comes from
 * `@RequireRecentAuth(seconds)` on the handler, else on its controller, else the `recentAuthSeconds` option.
 * The time is the store's, beside the data: no `set`/`patch` and no request can change it.
 */
@Injectable()
export class RecentAuthGuard implements CanActivate {
  constructor(
    protected readonly sessions: SessionService,
    protected readonly reflector: Reflector,
    @Inject(SESSION_STORE) private readonly store: SessionStore,
    @Inject(RESOLVED_SESSION_OPTIONS) private readonly settings: ResolvedSessionOptions,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const maxAgeSeconds = this.maxAgeSeconds(context);
    try {
      if (sessionContextOf(context) === undefined || !this.sessions.isAuthenticated()) throw this.unauthorized();
      const meta = this.store.metaOf(this.sessions.session!);
      if (!isRecentAuthentication(meta, maxAgeSeconds, Date.now())) throw this.tooOld(maxAgeSeconds);
    } catch (error) {
      throw inTransport(context, error);
    }
    return true;
  }

  /** The maximum age in force for this handler, in seconds. */
  protected maxAgeSeconds(context: ExecutionContext): number {
    const requirement = this.reflector.getAllAndOverride(RecentAuthMetadata, [
      context.getHandler(),
      context.getClass(),
    ]);
    return requirement?.maxAgeSeconds ?? this.settings.recentAuthSeconds;
  }

  /** The error thrown without a logged-in session; override to change the answer. */
  protected unauthorized(): Error {
    return new UnauthorizedException('Authentication required');
  }

  /** The error thrown when the last authentication is too old; override to change the answer. */
  protected tooOld(maxAgeSeconds: number): Error {
    return new RecentAuthRequiredError(maxAgeSeconds);
  }
}
