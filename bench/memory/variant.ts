// Scratch setup for the memory study (bench/memory/README.md): the library alone, then with the example
// app's pieces added one at a time, to tell what the library costs from what the example app loads.
//
//   MEM_EXTRAS=''                          library only: SessionModule.forRoot, the global AuthGuard, GET /me,
//                                          a login without password check (POST /auth/login)
//   MEM_EXTRAS='schema'                    + the example app's zod schema (the `schema` option)
//   MEM_EXTRAS='schema,config'             + @nestjs/config, options through forRootAsync as the app does
//   MEM_EXTRAS='schema,config,events'      + @nestjs/event-emitter and the app's SessionAuditListener
//   MEM_EXTRAS='schema,config,events,users'+ the app's UsersService (scrypt) and AuthController
//
// The example app's pieces are taken from its build (dist/app), so that they are the shipped code.
import 'reflect-metadata';
import { Controller, Get, HttpCode, Module, Post, type DynamicModule, type Type } from '@nestjs/common';
import { APP_GUARD, NestFactory } from '@nestjs/core';
import {
  AuthGuard,
  Public,
  Session,
  SessionModule,
  SessionService,
  type SessionModuleOptions,
  type UserSession,
} from 'nestjs-typed-session';
import '../setups/session-data.js';
import { BENCH_SETTINGS, setupEnv } from '../setups/settings.js';

const extras = new Set((process.env.MEM_EXTRAS ?? '').split(',').filter(Boolean));
const app = (file: string) => import(new URL(`../../app/${file}`, import.meta.url).href);

@Controller()
class MeController {
  @Get('me')
  me(@Session() session: UserSession) {
    return { userId: session.userId, username: session.username, role: session.role };
  }
}

@Controller('auth')
class LoginController {
  constructor(private readonly sessions: SessionService) {}

  @Public()
  @Post('login')
  @HttpCode(200)
  async login() {
    await this.sessions.login({ userId: 'u-template', username: 'template', role: 'member' });
    return { userId: 'u-template' };
  }
}

const { uri, dbName, autoRemove, port } = setupEnv();
const options: SessionModuleOptions = {
  secret: BENCH_SETTINGS.secret,
  uri,
  dbName,
  autoRemove,
  idleTimeout: BENCH_SETTINGS.idleTimeout,
  touchAfter: BENCH_SETTINGS.touchAfter,
  maxSessionsPerUser: 5,
  exclude: ['health'],
};
if (extras.has('schema'))
  options.schema = (
    (await app('session-schema.js')) as { sessionSchema: SessionModuleOptions['schema'] }
  ).sessionSchema;

const imports: (DynamicModule | Promise<DynamicModule>)[] = [];
const controllers: Type[] = [MeController];
const providers: unknown[] = [{ provide: APP_GUARD, useClass: AuthGuard }];
if (extras.has('config')) {
  const { ConfigModule, ConfigService } = await import('@nestjs/config');
  imports.push(
    ConfigModule.forRoot({ ignoreEnvFile: true }),
    SessionModule.forRootAsync({
      imports: [ConfigModule],
      inject: [ConfigService],
      useFactory: (config: InstanceType<typeof ConfigService>) => ({
        ...options,
        uri: config.getOrThrow<string>('MONGODB_URI'),
      }),
    }),
  );
} else {
  imports.push(SessionModule.forRoot(options));
}
if (extras.has('events')) {
  const { EventEmitterModule } = await import('@nestjs/event-emitter');
  imports.push(EventEmitterModule.forRoot({ wildcard: true }));
  providers.push(((await app('session-audit.listener.js')) as { SessionAuditListener: Type }).SessionAuditListener);
}
if (extras.has('users')) {
  providers.push(((await app('users.service.js')) as { UsersService: Type }).UsersService);
  controllers.push(((await app('auth.controller.js')) as { AuthController: Type }).AuthController);
} else {
  controllers.push(LoginController);
}

@Module({})
class VariantModule {}

const nest = await NestFactory.create({ module: VariantModule, imports, controllers, providers } as DynamicModule, {
  logger: ['error', 'warn'],
});
await nest.listen(port, '127.0.0.1');
