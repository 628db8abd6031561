import {
  Inject,
  Module,
  type NestModule,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { ApplicationConfig, HttpAdapterHost } from '@nestjs/core';
import type { RequestHandler } from 'express';
import { Server as HttpsServer } from 'node:https';
import { MongoClient } from 'mongodb';
import { CsrfGuard } from './guards/csrf.guard.js';
import { AuthGuard } from './guards/auth.guard.js';
import { LogoutInterceptor, PasswordChangeInterceptor, SessionLockInterceptor } from './interceptors/index.js';
import { RESOLVED_SESSION_OPTIONS, SESSION_COOKIES, SESSION_STORE } from './session.constants.js';
import { exclusionTest } from './http/route-exclusion.util.js';
import { createSessionMiddleware } from './http/session.middleware.js';
import { assertNoSessionUserMountedBefore } from './http/mount-order.util.js';
import { ConfigurableModuleClass, SESSION_MODULE_OPTIONS } from './session.module-definition.js';
import { resolveSessionOptions } from './options/session-options.resolver.js';
import type { ResolvedSessionOptions } from './interfaces/resolved-session-options.interface.js';
import { CurrentSession } from './core/current-session.service.js';
import { SessionRotation } from './core/session-rotation.service.js';
import { SessionService } from './core/session.service.js';
import { UserSessions } from './core/user-sessions.service.js';
import { SessionEvents } from './core/session.events.js';
import { SessionRejections } from './http/cookie-rejection.reporter.js';
import { MongoSessionStore } from './store/mongodb/mongo-session.store.js';
import type { SessionStore } from './store/session-store.interface.js';
import { HttpSessionCookies } from './http/session-cookies.service.js';
import { RecentAuthGuard } from './guards/recent-auth.guard.js';
import { SessionSockets } from './sockets/session-sockets.service.js';
import { sessionLogger } from './core/session.logger.js';

/**
 * Typed sessions stored in MongoDB. Mounts express-session with a connect-mongo store on every route, and
 * provides `SessionService`, `AuthGuard` and the logout and password-change interceptors.
 *
 * @example
 * SessionModule.forRoot({ secret: process.env.SESSION_SECRET!, uri: process.env.MONGODB_URI! })
 */
@Module({
  providers: [
    { provide: RESOLVED_SESSION_OPTIONS, useFactory: resolveSessionOptions, inject: [SESSION_MODULE_OPTIONS] },
    SessionEvents,
    {
      provide: MongoSessionStore,
      useFactory: (settings: ResolvedSessionOptions, events: SessionEvents) =>
        settings.client
          ? new MongoSessionStore(settings, settings.client, false, events)
          : new MongoSessionStore(
              settings,
              new MongoClient(settings.uri!, { serverSelectionTimeoutMS: settings.storeTimeoutMs }),
              true,
              events,
            ),
      inject: [RESOLVED_SESSION_OPTIONS, SessionEvents],
    },
    { provide: SESSION_STORE, useExisting: MongoSessionStore },
    { provide: SESSION_COOKIES, useClass: HttpSessionCookies },
    {
      provide: SessionRejections,
      useFactory: (events: SessionEvents) => new SessionRejections(events),
      inject: [SessionEvents],
    },
    CurrentSession,
    UserSessions,
    SessionRotation,
    SessionService,
    AuthGuard,
    CsrfGuard,
    RecentAuthGuard,
    LogoutInterceptor,
    PasswordChangeInterceptor,
    SessionLockInterceptor,
    SessionSockets,
  ],
  // The settings and the store are exported for the guards users put in their own modules (CsrfGuard).
  exports: [
    RESOLVED_SESSION_OPTIONS,
    SESSION_STORE,
    MongoSessionStore,
    SessionService,
    AuthGuard,
    CsrfGuard,
    RecentAuthGuard,
    LogoutInterceptor,
    PasswordChangeInterceptor,
    SessionLockInterceptor,
    SessionSockets,
  ],
})
export class SessionModule
  extends ConfigurableModuleClass
  implements NestModule, OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown
{
  constructor(
    @Inject(RESOLVED_SESSION_OPTIONS) private readonly settings: ResolvedSessionOptions,
    @Inject(SESSION_STORE) private readonly store: SessionStore,
    private readonly rejections: SessionRejections,
    private readonly adapterHost: HttpAdapterHost,
    private readonly config: ApplicationConfig,
  ) {
    super();
  }

  /**
   * Mounts the session middleware on the HTTP adapter, as `app.use()` would, before the middleware modules
   * apply with `MiddlewareConsumer`: one function per request, without Nest's route matching (which a
   * `forRoutes('{*path}')` mount with an `exclude` would run on every request). Excluded routes are
   * compiled once, with the global prefix (`exclusionTest`). Refuses to start when main.ts mounted Passport's
   * session middleware, or a session middleware of its own, before it (`assertNoSessionUserMountedBefore`).
   */
  configure(): void {
    const adapter = this.adapterHost.httpAdapter as
      { use(handler: RequestHandler): unknown; getInstance(): unknown } | undefined;
    if (!adapter) return; // an application context without HTTP: no requests
    assertNoSessionUserMountedBefore(adapter.getInstance());
    const excluded = exclusionTest(this.settings.exclude, this.config.getGlobalPrefix());
    adapter.use(createSessionMiddleware(this.settings, this.store, this.rejections, excluded));
  }

  async onModuleInit(): Promise<void> {
    await this.store.init();
  }

  /**
   * Warns once when the cookie must be Secure but the application serves plain HTTP without Express
   * `trust proxy`: behind a TLS proxy, every login would then fail (`SessionCookieError`).
   */
  onApplicationBootstrap(): void {
    if (this.settings.cookie.secure !== true) return;
    const adapter = this.adapterHost.httpAdapter;
    const instance = adapter?.getInstance<{ get?(setting: string): unknown }>();
    if (typeof instance?.get !== 'function' || adapter.getHttpServer() instanceof HttpsServer) return;
    if (instance.get('trust proxy')) return;
    sessionLogger.warn(
      "The session cookie is Secure (cookie.secure or cookie.hostPrefix), but this application serves plain HTTP and Express 'trust proxy' is off: " +
        "logins will fail unless the requests arrive over HTTPS. Behind a TLS proxy, call app.set('trust proxy', 1).",
    );
  }

  async onApplicationShutdown(): Promise<void> {
    await this.store.close();
  }
}
