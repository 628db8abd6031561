import { describe, expect, it } from '@jest/globals';
import { UnauthorizedException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import type { Request, Response } from 'express';
import { Public } from '../decorators/public.decorator.js';
import { SessionEvents } from '../core/session.events.js';
import { AuthGuard } from './auth.guard.js';
import { sessionContext } from '../core/session.context.js';
import { resolveSessionOptions } from '../options/session-options.resolver.js';
import { SessionService } from '../core/session.service.js';
import type { SessionStore } from '../store/session-store.interface.js';
import type { SessionCookies } from '../core/session-cookies.interface.js';
import { CurrentSession } from '../core/current-session.service.js';
import type { UserSessions } from '../core/user-sessions.service.js';
import type { SessionRotation } from '../core/session-rotation.service.js';

// The guard judges a handler only by the session of the request behind it. Everything else fails closed.

const settings = resolveSessionOptions({ secret: 'guard-spec-secret', uri: 'mongodb://127.0.0.1:1' });
// The guard reads the session through the service, never the store: no store is needed to judge.
const store = undefined as unknown as SessionStore;
const current = new CurrentSession(settings, store, {} as SessionEvents, undefined as unknown as SessionCookies);
const sessions = new SessionService(
  settings,
  store,
  {} as SessionEvents,
  current,
  undefined as unknown as UserSessions,
  undefined as unknown as SessionRotation,
);
const guard = new AuthGuard(sessions, new Reflector());

// Never called: the guard reads only the metadata of the handler and its class.
class Handlers {
  guarded(this: void) {
    // a route without @Public()
  }
  @Public()
  open(this: void) {
    // a route with @Public()
  }
}

const loggedIn = { session: { userId: 'u-1' } } as unknown as Request;
const response = {} as Response;

function contextOf(type: string, args: unknown[], handler: keyof Handlers = 'guarded'): ExecutionContextHost {
  const context = new ExecutionContextHost(args, Handlers, Handlers.prototype[handler]);
  context.setType(type);
  return context;
}

/** Runs `judge` as the session middleware would: inside the request context of `req`. */
function within<T>(req: Request, judge: () => T): T {
  return sessionContext.run({ req, res: response }, judge);
}

describe('AuthGuard', () => {
  it('lets an authenticated HTTP request through, and a GraphQL one whose context carries that request', () => {
    expect(within(loggedIn, () => guard.canActivate(contextOf('http', [loggedIn, response])))).toBe(true);
    expect(within(loggedIn, () => guard.canActivate(contextOf('graphql', [{}, {}, { req: loggedIn }, {}])))).toBe(true);
  });

  it.each([
    ['ws', [{ id: 'socket' }, { event: 'data' }]],
    ['rpc', [{ pattern: 'sum' }, {}]],
    ['graphql', [{}, {}, { connectionParams: {} }, {}]], // a subscription: no HTTP request
  ])('refuses a %s handler it cannot tie to a request, even inside some request context', (type, args) => {
    const judge = () => within(loggedIn, () => guard.canActivate(contextOf(type, args)));
    expect(judge).toThrow(UnauthorizedException);
    expect(judge).toThrow(`this ${type} handler cannot be judged by a session`);
  });

  it('refuses a GraphQL context that carries another request than the one being handled', () => {
    const other = { session: { userId: 'u-2' } } as unknown as Request;
    const judge = () => within(loggedIn, () => guard.canActivate(contextOf('graphql', [{}, {}, { req: other }, {}])));
    expect(judge).toThrow(UnauthorizedException);
  });

  it('refuses an HTTP request the session middleware did not handle (an excluded route)', () => {
    expect(() => guard.canActivate(contextOf('http', [loggedIn, response]))).toThrow(UnauthorizedException);
  });

  it('lets @Public() handlers through on every transport', () => {
    for (const type of ['http', 'graphql', 'ws', 'rpc']) {
      expect(guard.canActivate(contextOf(type, [{}, {}, {}], 'open'))).toBe(true);
    }
  });
});
