// Setup "nest-docs": a Nest app wired as the NestJS documentation shows: app.use(session(...)) in main.ts,
// the built-in @Session() decorator, a hand-written guard.
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import session from 'express-session';
import { BenchController, SessionAuthGuard } from './nest-routes.js';
import { handWrittenSessionOptions, setupEnv } from './settings.js';

@Module({ controllers: [BenchController], providers: [SessionAuthGuard] })
class NestDocsModule {}

const app = await NestFactory.create(NestDocsModule, { logger: ['error', 'warn'] });
app.use(session(handWrittenSessionOptions()));
await app.listen(setupEnv().port, '127.0.0.1');
