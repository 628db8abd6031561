import { Injectable, UnauthorizedException, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { Public } from '../decorators/public.decorator.js';
import { sessionContextOf } from '../core/session.context.js';
import { SessionService } from '../core/session.service.js';
import { inTransport } from '../sockets/socket.context.js';
import { sessionLogger } from '../core/session.logger.js';

/**
 * Lets a request through when its session is authenticated (the `userIdField` is set, or the
 * `isAuthenticated` option says so) and answers 401 otherwise. Use it per route with
 * `@UseGuards(AuthGuard)`, or globally as `APP_GUARD` with `@Public()` on the open routes.
 *
 * It fails closed: HTTP routes and GraphQL queries and mutations over HTTP are judged by the request's
 * session, WebSocket messages and GraphQL subscriptions by their socket's session when the socket adapters
 * of this library opened it (`nestjs-typed-session/socket.io`, `/ws`, `/graphql`). Anything else
 * (microservice handlers, sockets of other adapters, routes left out with the `exclude` option) is refused
 * unless `@Public()`. In WebSocket handlers the refusal is a `WsException` carrying the status.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  private readonly logger = sessionLogger;
  private readonly warned = new Set<string>();

  constructor(
    protected readonly sessions: SessionService,
    protected readonly reflector: Reflector,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    if (this.isPublic(context)) return true;
    try {
      if (sessionContextOf(context) === undefined) throw this.cannotJudge(context);
      if (!this.sessions.isAuthenticated()) throw this.unauthorized();
    } catch (error) {
      throw inTransport(context, error);
    }
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

  /**
   * The error thrown for a handler the guard cannot judge (no session loaded for it); logged once per
   * transport and handler, with the way to make it work.
   */
  protected cannotJudge(context: ExecutionContext): Error {
    const type = context.getType<string>();
    const where = `${context.getClass().name}.${context.getHandler().name}`;
    const hint =
      type === 'http'
        ? 'the session middleware did not run for this route (is it in the `exclude` option?)'
        : type === 'graphql'
          ? 'its GraphQL context has no `req` of the HTTP request (over HTTP, @nestjs/graphql passes `{ req }` ' +
            'unless a `context` option replaces it; for subscriptions, pass graphqlWsSessions() from ' +
            "'nestjs-typed-session/graphql' as subscriptions['graphql-ws'])"
          : type === 'ws'
            ? 'its socket has no session: use SessionIoAdapter or SessionWsAdapter from ' +
              "'nestjs-typed-session/socket.io' or '/ws' (app.useWebSocketAdapter(new SessionIoAdapter(app)))"
            : `sessions are read from HTTP requests and WebSockets, and ${type} handlers have neither`;
    if (!this.warned.has(`${type}:${where}`)) {
      this.warned.add(`${type}:${where}`);
      this.logger.warn(`AuthGuard refused ${where} (${type}): ${hint}. Mark it @Public() to let it through.`);
    }
    return new UnauthorizedException(`Authentication required: this ${type} handler cannot be judged by a session`);
  }
}
