import '../example/session-data.types.js';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Body, Controller, HttpCode, Module, Post, Req, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { Request } from 'express';
import { SessionModule, SessionService } from 'nestjs-typed-session';
import request from 'supertest';
import { cookieFrom, setCookieFor, storedIdOf } from './support/cookies.js';
import { TestDatabase } from './support/database.js';
import { CapturingLogger, scenarioOptions } from './scenarios/routes.scenario.js';

// Code written for express-session sets the cookie's lifetime by hand ("remember me": maxAge = 30 days). The
// library's lifetimes come from its options (idleTimeout, absoluteTimeout, rememberMe, cookie.persistent), so
// such an assignment would silently become something else: it is refused instead, loudly. The request is
// answered 500 (no detail to the client), the log names the fix, and nothing the request did is stored.

const DAY = 24 * 60 * 60 * 1000;

/** The session shape of these routes. */
interface LifetimeSession {
  userId?: string;
  visits?: number;
}

/** How a handler sets the cookie's lifetime by hand. */
type Assignment = 'maxAge' | 'maxAge-undefined' | 'expires' | 'originalMaxAge' | 'expires-false';

function assign(req: Request, assignment: Assignment): void {
  const cookie = req.session.cookie;
  switch (assignment) {
    case 'maxAge':
      cookie.maxAge = 30 * DAY;
      break;
    case 'maxAge-undefined':
      cookie.maxAge = undefined;
      break;
    case 'expires':
      cookie.expires = new Date(Date.now() + 30 * DAY);
      break;
    case 'originalMaxAge':
      cookie.originalMaxAge = 30 * DAY;
      break;
    case 'expires-false':
      // express-session's "not remembered": a browser-session cookie, what the session has already.
      (cookie as unknown as { expires: unknown }).expires = false;
      break;
  }
}

@Controller('cl')
class CookieLifetimeController {
  constructor(private readonly sessions: SessionService<LifetimeSession>) {}

  @Post('login')
  @HttpCode(200)
  async login(@Body() body: { userId: string; remember?: boolean }) {
    await this.sessions.login({ userId: body.userId }, { remember: body.remember === true });
    return { ok: true };
  }

  /** The hand-written "remember me" of an express-session app: log in, then give the cookie 30 days. */
  @Post('login-remembered-by-hand')
  @HttpCode(200)
  async loginRememberedByHand(@Req() req: Request, @Body() body: { userId: string }) {
    await this.sessions.login({ userId: body.userId });
    req.session.cookie.maxAge = 30 * DAY;
    return { ok: true };
  }

  /** Changes the session's data, then sets the cookie's lifetime as `assignment` says. */
  @Post('change')
  @HttpCode(200)
  change(@Req() req: Request, @Body() body: { assignment: Assignment }) {
    this.sessions.set('visits', 7);
    assign(req, body.assignment);
    return { ok: true };
  }
}

const db = new TestDatabase();
const logger = new CapturingLogger();
let app: INestApplication;
const http = () => request(app.getHttpServer());
const doc = (cookie: string) => db.sessions().findOne({ _id: storedIdOf(cookie) });
const login = async (userId: string, remember = false) =>
  cookieFrom(await http().post('/cl/login').send({ userId, remember }).expect(200));

beforeAll(async () => {
  @Module({ imports: [SessionModule.forRoot(scenarioOptions(db))], controllers: [CookieLifetimeController] })
  class CookieLifetimeModule {}
  const moduleRef = await Test.createTestingModule({ imports: [CookieLifetimeModule] }).compile();
  app = moduleRef.createNestApplication({ logger });
  await app.init();
});

afterAll(async () => {
  await app?.close();
  await db.close();
});

/** The error lines logged since `from`. */
const errorsSince = (from: number) =>
  logger.lines
    .slice(from)
    .filter((line) => line.level === 'error')
    .map((line) => line.message);

describe('the cookie lifetime set by hand is refused', () => {
  it('a hand-written "remember me" after login(): 500, no cookie, no session stored, the fix logged', async () => {
    const logged = logger.lines.length;
    const response = await http().post('/cl/login-remembered-by-hand').send({ userId: 'u-by-hand' }).expect(500);
    expect(response.body).toEqual({ statusCode: 500, message: 'Internal server error' });
    expect(setCookieFor(response)).toBeUndefined();
    expect(await db.byUser('u-by-hand')).toEqual([]);

    const errors = errorsSince(logged).join('\n');
    expect(errors).toContain('req.session.cookie.maxAge');
    expect(errors).toContain('login(data, { remember: true })');
    expect(errors).toContain('rememberMe');
  });

  it.each<[Assignment, boolean]>([
    ['maxAge', false],
    ['expires', false],
    ['originalMaxAge', false],
    ['maxAge-undefined', true],
    ['expires-false', true],
  ])('%s on a session (remembered: %s): 500, nothing the request changed is stored', async (assignment, remember) => {
    const cookie = await login(`u-${assignment}`, remember);
    const before = (await doc(cookie))!;
    const logged = logger.lines.length;

    const response = await http().post('/cl/change').set('Cookie', cookie).send({ assignment }).expect(500);
    expect(response.body).toEqual({ statusCode: 500, message: 'Internal server error' });
    expect(setCookieFor(response)).toBeUndefined();
    const after = (await doc(cookie))!;
    expect(after.session).toEqual(before.session);
    expect(after.session.visits).toBeUndefined();
    expect(after.expires).toEqual(before.expires);
    const field = assignment.replace(/-.*/, '');
    expect(errorsSince(logged).join('\n')).toContain(`req.session.cookie.${field}`);
  });
});

describe('an assignment that keeps the lifetime the session has is no change', () => {
  it.each<Assignment>(['maxAge-undefined', 'expires-false'])(
    '%s on a browser-session cookie: served, the data stored, the cookie still a browser-session one',
    async (assignment) => {
      const cookie = await login(`u-keeps-${assignment}`);
      const response = await http().post('/cl/change').set('Cookie', cookie).send({ assignment }).expect(200);
      expect(response.body).toEqual({ ok: true });
      const stored = (await doc(cookie))!;
      expect(stored.session.visits).toBe(7);
      const line = setCookieFor(response);
      if (line !== undefined) expect(line).not.toMatch(/Expires=|Max-Age=/);
      expect((stored.session.cookie as { originalMaxAge: unknown }).originalMaxAge).toBeNull();
    },
  );
});

describe('with cookie.persistent: true, no lifetime is a change too', () => {
  const persistentDb = new TestDatabase();
  let persistent: INestApplication;

  beforeAll(async () => {
    @Module({
      imports: [SessionModule.forRoot(scenarioOptions(persistentDb, { cookie: { persistent: true } }))],
      controllers: [CookieLifetimeController],
    })
    class PersistentModule {}
    const moduleRef = await Test.createTestingModule({ imports: [PersistentModule] }).compile();
    persistent = moduleRef.createNestApplication({ logger: false });
    await persistent.init();
  });

  afterAll(async () => {
    await persistent?.close();
    await persistentDb.close();
  });

  it.each<Assignment>(['maxAge-undefined', 'expires-false', 'maxAge'])(
    '%s: 500, nothing stored',
    async (assignment) => {
      const login = await request(persistent.getHttpServer())
        .post('/cl/login')
        .send({ userId: `u-p-${assignment}` });
      expect(setCookieFor(login)).toMatch(/Expires=/);
      const cookie = cookieFrom(login);
      const before = (await persistentDb.sessions().findOne({ _id: storedIdOf(cookie) }))!;
      const response = await request(persistent.getHttpServer())
        .post('/cl/change')
        .set('Cookie', cookie)
        .send({ assignment })
        .expect(500);
      expect(setCookieFor(response)).toBeUndefined();
      expect((await persistentDb.sessions().findOne({ _id: storedIdOf(cookie) }))!).toEqual(before);
    },
  );
});
