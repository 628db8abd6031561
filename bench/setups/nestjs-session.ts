// Setup "nestjs-session": the same Nest app, with the session middleware applied by the nestjs-session package.
import 'reflect-metadata';
import { type DynamicModule, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { SessionModule as NestjsSessionModule } from 'nestjs-session';
import { BenchController, SessionAuthGuard } from './nest-routes.js';
import { handWrittenSessionOptions, setupEnv } from './settings.js';

// nestjs-session 3.0.1 builds its module with create-nestjs-middleware-module 0.3.1, which depends on
// @nestjs/common ^8–^10: npm installs a nested @nestjs/common 10 for it, whose types differ from Nest 12's.
const nestjsSession = NestjsSessionModule.forRoot({ session: handWrittenSessionOptions() }) as unknown as DynamicModule;

@Module({
  imports: [nestjsSession],
  controllers: [BenchController],
  providers: [SessionAuthGuard],
})
class NestjsSessionBenchModule {}

const app = await NestFactory.create(NestjsSessionBenchModule, { logger: ['error', 'warn'] });
await app.listen(setupEnv().port, '127.0.0.1');
