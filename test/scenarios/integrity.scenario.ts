import '../../example/session-data.types.js';
import {
  Body,
  Controller,
  Get,
  HttpCode,
  Module,
  Param,
  Post,
  Query,
  Redirect,
  Res,
  UseGuards,
  type INestApplication,
} from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { Response } from 'express';
import { AuthGuard, SessionLock, SessionModule, SessionService, type SessionModuleOptions } from 'nestjs-typed-session';
import { Gate } from './routes.scenario.js';

/** The gates slow handlers wait at, by name (`?gate=<name>`); a test opens them. */
export const integrityGates = new Map<string, Gate>();

/** Waits at the gate `name` when the request names one. */
async function waitAt(name: string | undefined): Promise<void> {
  if (name !== undefined) await integrityGates.get(name)?.wait();
}

/** Free-form session keys, for the tests of what a write stores. */
type Loose = Record<string, unknown>;

/** Routes that change one session key at a time, some of them slowly, one of them under `@SessionLock()`. */
@Controller('i')
class IntegrityController {
  constructor(private readonly sessions: SessionService<Loose>) {}

  @Post('login')
  @HttpCode(200)
  async login(@Body() body: { userId: string }) {
    await this.sessions.login({ userId: body.userId, username: body.userId, role: 'member' });
    return { ok: true };
  }

  @Get('data')
  @UseGuards(AuthGuard)
  data() {
    return this.sessions.data();
  }

  /** Sets `key` to the body's `value`, after waiting at the gate `?gate=` when named. */
  @Post('set/:key')
  @HttpCode(200)
  @UseGuards(AuthGuard)
  async set(@Param('key') key: string, @Body() body: { value: unknown }, @Query('gate') gate?: string) {
    await waitAt(gate);
    this.sessions.set(key, body.value);
    return { set: key };
  }

  /** Removes `key`, after waiting at the gate `?gate=` when named. */
  @Post('unset/:key')
  @HttpCode(200)
  @UseGuards(AuthGuard)
  async unset(@Param('key') key: string, @Query('gate') gate?: string) {
    await waitAt(gate);
    this.sessions.unset(key);
    return { unset: key };
  }

  /** Pushes onto the list `key` in place, through the session object (no `set()`). */
  @Post('push/:key')
  @HttpCode(200)
  @UseGuards(AuthGuard)
  push(@Param('key') key: string, @Body() body: { value: unknown }) {
    const session = this.sessions.session as Loose;
    const list = Array.isArray(session[key]) ? (session[key] as unknown[]) : [];
    list.push(body.value);
    session[key] = list;
    return { pushed: key };
  }

  /** Sets `key` and answers 303 to the data: the Post/Redirect/Get of a form. */
  @Post('redirect/:key')
  @UseGuards(AuthGuard)
  @Redirect('/i/data', 303)
  redirect(@Param('key') key: string, @Body() body: { value: unknown }) {
    this.sessions.set(key, body.value);
  }

  /** Sets `key`, then writes the answer itself (`@Res()`). */
  @Post('raw/:key')
  @UseGuards(AuthGuard)
  raw(@Param('key') key: string, @Body() body: { value: unknown }, @Res() res: Response) {
    this.sessions.set(key, body.value);
    res.status(201).json({ raw: key });
  }

  /** Increments `counter` under the session lock, waiting at the gate `?gate=` in between. */
  @Post('increment')
  @HttpCode(200)
  @UseGuards(AuthGuard)
  @SessionLock()
  async increment(@Query('gate') gate?: string) {
    const counter = (this.sessions.get('counter') as number | undefined) ?? 0;
    await waitAt(gate);
    await new Promise((resolve) => setImmediate(resolve)); // let the other requests run in between
    this.sessions.set('counter', counter + 1);
    return { counter: counter + 1 };
  }

  /** Increments `counter` without the lock. */
  @Post('increment-unlocked')
  @HttpCode(200)
  @UseGuards(AuthGuard)
  async incrementUnlocked() {
    const counter = (this.sessions.get('counter') as number | undefined) ?? 0;
    await new Promise((resolve) => setImmediate(resolve));
    this.sessions.set('counter', counter + 1);
    return { counter: counter + 1 };
  }

  /** Holds the session lock at the gate `?gate=`, with a short lease. */
  @Post('hold')
  @HttpCode(200)
  @UseGuards(AuthGuard)
  @SessionLock({ leaseMs: 1_500 })
  async hold(@Query('gate') gate?: string) {
    await waitAt(gate);
    return { held: true };
  }

  @Post('logout')
  @HttpCode(200)
  async logout() {
    await this.sessions.destroy();
    return { ok: true };
  }
}

/** A Nest app with `SessionModule.forRoot(options)` and the integrity routes under `/i`. */
export async function startIntegrityApp(options: SessionModuleOptions): Promise<INestApplication> {
  @Module({ imports: [SessionModule.forRoot(options)], controllers: [IntegrityController] })
  class IntegrityModule {}

  const moduleRef = await Test.createTestingModule({ imports: [IntegrityModule] }).compile();
  const app = moduleRef.createNestApplication({ logger: ['error'] });
  await app.listen(0, '127.0.0.1');
  return app;
}
