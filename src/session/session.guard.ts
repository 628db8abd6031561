import { Injectable, UnauthorizedException, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { Public } from './decorators/public.decorator.js';
import { SessionService } from './session.service.js';

/**
 * Lets a request through when its session is authenticated (the `userIdField` is set, or the
 * `isAuthenticated` option says so) and answers 401 otherwise. Use it per route with
 * `@UseGuards(AuthGuard)`, or globally as `APP_GUARD` with `@Public()` on the open routes.
 * Only HTTP requests are judged; other transports pass through.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    protected readonly sessions: SessionService,
    protected readonly reflector: Reflector,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'http' || this.isPublic(context)) return true;
    if (!this.sessions.isAuthenticated()) throw this.unauthorized();
    return true;
  }

  /** `true` when the handler or its controller carries `@Public()`. */
  protected isPublic(context: ExecutionContext): boolean {
    return this.reflector.getAllAndOverride(Public, [context.getHandler(), context.getClass()]) === true;
  }

  /** The error thrown for an unauthenticated request; override to change the answer. */
  protected unauthorized(): Error {
    return new UnauthorizedException('Authentication required');
  }
}
