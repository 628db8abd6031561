import './session-data.types.js';
import { Logger, Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { APP_GUARD } from '@nestjs/core';
import { EventEmitterModule } from '@nestjs/event-emitter';
import { AuthGuard, SessionModule, type AutoRemoveMode } from 'nestjs-typed-session';
import { AuthController } from './auth.controller.js';
import { MeController } from './me.controller.js';
import { SessionAuditListener } from './session-audit.listener.js';
import { sessionSchema } from './session.schema.js';
import { UsersService } from './users.service.js';

const DEV_SECRET = 'example-app-dev-secret-not-for-production';

@Module({
  imports: [
    ConfigModule.forRoot({ ignoreEnvFile: true }),
    EventEmitterModule.forRoot({ wildcard: true }),
    SessionModule.forRootAsync({
      imports: [ConfigModule],
      inject: [ConfigService],
      useFactory: (config: ConfigService) => {
        const secret = config.get<string>('SESSION_SECRET');
        if (!secret) new Logger('ExampleApp').warn('SESSION_SECRET is not set: using a development secret.');
        return {
          secret: secret ? secret.split(',') : DEV_SECRET,
          uri: config.getOrThrow<string>('MONGODB_URI'),
          dbName: config.get<string>('SESSION_DB_NAME', 'nestjs-typed-session-example'),
          autoRemove: config.get<AutoRemoveMode>('SESSION_AUTO_REMOVE', 'native'),
          schema: sessionSchema,
          // OWASP-style timeouts: 30 minutes idle, 12 hours since login however active.
          idleTimeout: Number(config.get('SESSION_IDLE_TIMEOUT', 30 * 60)),
          absoluteTimeout: Number(config.get('SESSION_ABSOLUTE_TIMEOUT', 12 * 60 * 60)),
          // Unset: the library's default (60 s, at most half the idle timeout).
          touchAfter:
            config.get('SESSION_TOUCH_AFTER') === undefined ? undefined : Number(config.get('SESSION_TOUCH_AFTER')),
          maxSessionsPerUser: Number(config.get('SESSION_MAX_PER_USER', 5)),
          cookie: { hostPrefix: config.get('SESSION_HOST_PREFIX') === '1' },
          // The health check never waits for MongoDB, even with a session cookie.
          exclude: ['health'],
        };
      },
    }),
  ],
  controllers: [AuthController, MeController],
  providers: [UsersService, SessionAuditListener, { provide: APP_GUARD, useClass: AuthGuard }],
})
export class AppModule {}
