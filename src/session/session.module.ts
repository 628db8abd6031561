import { Inject, Module, RequestMethod, type MiddlewareConsumer, type NestModule, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { MongoClient } from 'mongodb';
import { AuthGuard } from './session.guard.js';
import { LogoutInterceptor, PasswordChangeInterceptor } from './interceptors/index.js';
import { SESSION_SETTINGS } from './session.internal-constants.js';
import { createSessionMiddleware } from './session.middleware.js';
import { ConfigurableModuleClass, SESSION_MODULE_OPTIONS } from './session.module-definition.js';
import { resolveSessionOptions, type ResolvedSessionOptions } from './session.options.js';
import { SessionService } from './session.service.js';
import { SessionEvents } from './session.events.js';
import { SessionStore } from './session.store.js';
import { SessionSockets } from './transports/socket-sessions.service.js';

/**
 * Typed sessions stored in MongoDB. Mounts express-session with a connect-mongo store on every route, and
 * provides `SessionService`, `AuthGuard` and the logout and password-change interceptors.
 *
 * @example
 * SessionModule.forRoot({ secret: process.env.SESSION_SECRET!, uri: process.env.MONGODB_URI! })
 */
@Module({
  providers: [
    { provide: SESSION_SETTINGS, useFactory: resolveSessionOptions, inject: [SESSION_MODULE_OPTIONS] },
    SessionEvents,
    {
      provide: SessionStore,
      useFactory: (settings: ResolvedSessionOptions, events: SessionEvents) =>
        settings.client
          ? new SessionStore(settings, settings.client, false, events)
          : new SessionStore(settings, new MongoClient(settings.uri!, { serverSelectionTimeoutMS: settings.storeTimeoutMs }), true, events),
      inject: [SESSION_SETTINGS, SessionEvents],
    },
    SessionService,
    AuthGuard,
    LogoutInterceptor,
    PasswordChangeInterceptor,
    SessionSockets,
  ],
  exports: [SessionService, AuthGuard, LogoutInterceptor, PasswordChangeInterceptor, SessionSockets],
})
export class SessionModule extends ConfigurableModuleClass implements NestModule, OnModuleInit, OnApplicationShutdown {
  constructor(
    @Inject(SESSION_SETTINGS) private readonly settings: ResolvedSessionOptions,
    private readonly store: SessionStore,
  ) {
    super();
  }

  configure(consumer: MiddlewareConsumer): void {
    consumer
      .apply(createSessionMiddleware(this.settings, this.store))
      .exclude(...this.settings.exclude)
      .forRoutes({ path: '{*path}', method: RequestMethod.ALL });
  }

  async onModuleInit(): Promise<void> {
    await this.store.init();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.store.close();
  }
}
