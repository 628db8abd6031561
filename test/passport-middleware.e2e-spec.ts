import { afterAll, describe, expect, it } from '@jest/globals';
import {
  Body,
  Controller,
  Get,
  HttpCode,
  Module,
  Post,
  Req,
  Res,
  type INestApplication,
  type MiddlewareConsumer,
  type NestModule,
} from '@nestjs/common';
import { Test } from '@nestjs/testing';
import express, { type Request, type RequestHandler, type Response } from 'express';
import session from 'express-session';
import passport from 'passport';
import { SessionMiddlewareOrderError, SessionModule, SessionService } from 'nestjs-typed-session';
import request from 'supertest';
import { cookieFrom, storedIdOf } from './support/cookies.js';
import { TestDatabase } from './support/database.js';
import { scenarioOptions } from './scenarios/routes.scenario.js';

// Passport's own middleware, where Nest apps put it. `SessionModule` mounts the session middleware during
// `app.init()`, after what main.ts mounted with `app.use()`: Passport's session middleware there would fail
// every request, so start-up refuses it, naming the fix. In a module's `configure()` it runs after the
// session middleware and serves `req.user`.

/** The user Passport deserializes from `passport.user`. */
interface User {
  id: string;
  name: string;
}

/** The session shape of a Passport app. */
interface PassportSession {
  passport?: { user: string };
}

declare module 'express-session' {
  interface SessionData {
    passport?: { user: string };
  }
}

@Controller('pm')
class PassportMountController {
  constructor(private readonly sessions: SessionService<PassportSession>) {}

  @Post('login')
  @HttpCode(200)
  async login(@Body() body: { id: string }) {
    await this.sessions.login({ passport: { user: body.id } });
    return { ok: true };
  }

  /** Passport's own login, with the hand-written "remember me" of an express-session app in its callback. */
  @Post('passport-login')
  passportLogin(@Req() req: Request, @Res() res: Response, @Body() body: { id: string; remember?: boolean }) {
    req.login({ id: body.id, name: `name of ${body.id}` }, (error?: unknown) => {
      if (error) return void res.status(500).json({ message: error instanceof Error ? error.message : 'login failed' });
      if (body.remember) req.session.cookie.maxAge = 30 * 24 * 60 * 60 * 1000;
      res.status(200).json({ ok: true });
    });
  }

  @Get('me')
  me(@Req() req: Request) {
    return { user: (req.user as User | undefined) ?? null };
  }
}

/** A Passport of its own per app, serializing a user to its id. */
function newPassport(): passport.PassportStatic {
  const instance = new passport.Passport() as passport.PassportStatic;
  instance.serializeUser<string>((user, done) => done(null, (user as User).id));
  instance.deserializeUser<string>((id, done) => done(null, { id, name: `name of ${id}` }));
  return instance;
}

const db = new TestDatabase();
afterAll(() => db.close());

/** Starts an app mounting `inMain` with `app.use()` (as main.ts does) and `inConfigure` in a module's configure(). */
async function start(mounts: { inMain?: RequestHandler[]; inConfigure?: RequestHandler[] }): Promise<INestApplication> {
  @Module({
    imports: [SessionModule.forRoot(scenarioOptions(db, { userIdField: 'passport.user' }))],
    controllers: [PassportMountController],
  })
  class AppModule implements NestModule {
    configure(consumer: MiddlewareConsumer) {
      if (mounts.inConfigure?.length) consumer.apply(...mounts.inConfigure).forRoutes('{*path}');
    }
  }
  const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  for (const handler of mounts.inMain ?? []) app.use(handler);
  try {
    await app.init();
  } catch (error) {
    await app.close();
    throw error;
  }
  return app;
}

/** Logs `id` in and reads `/pm/me` with its cookie: what Passport's session middleware gave as `req.user`. */
async function userAfterLogin(app: INestApplication, id: string) {
  const login = await request(app.getHttpServer()).post('/pm/login').send({ id }).expect(200);
  const cookie = cookieFrom(login);
  const me = await request(app.getHttpServer()).get('/pm/me').set('Cookie', cookie).expect(200);
  const stored = await db.sessions().findOne({ _id: storedIdOf(cookie) });
  return { user: (me.body as { user: User | null }).user, stored: stored?.session.passport };
}

describe('Passport applied in a module configure()', () => {
  it('passport.initialize() and passport.session() there: req.user is the session user', async () => {
    const instance = newPassport();
    const app = await start({ inConfigure: [instance.initialize(), instance.session()] });
    try {
      expect(await userAfterLogin(app, 'u-configure')).toEqual({
        user: { id: 'u-configure', name: 'name of u-configure' },
        stored: { user: 'u-configure' },
      });
      const anonymous = await request(app.getHttpServer()).get('/pm/me').expect(200);
      expect(anonymous.body).toEqual({ user: null });
    } finally {
      await app.close();
    }
  });

  it('passport.initialize() left in main.ts is harmless (it does not read the session)', async () => {
    const instance = newPassport();
    const app = await start({ inMain: [instance.initialize()], inConfigure: [instance.session()] });
    try {
      expect(await userAfterLogin(app, 'u-init-main')).toEqual({
        user: { id: 'u-init-main', name: 'name of u-init-main' },
        stored: { user: 'u-init-main' },
      });
    } finally {
      await app.close();
    }
  });
});

describe('middleware mounted in main.ts before the session middleware: start-up refuses', () => {
  const fixLine = "consumer.apply(passport.initialize(), passport.session()).forRoutes('{*path}')";

  const refused = async (inMain: RequestHandler[]) => {
    const before = await db.sessions().countDocuments({});
    const attempt = start({ inMain });
    await expect(attempt).rejects.toBeInstanceOf(SessionMiddlewareOrderError);
    const error = (await attempt.catch((caught: unknown) => caught)) as Error;
    expect(await db.sessions().countDocuments({})).toBe(before);
    return error.message;
  };

  it('app.use(passport.session()) (every request would fail: Login sessions require session support)', async () => {
    const instance = newPassport();
    const message = await refused([instance.initialize(), instance.session()]);
    expect(message).toContain('passport.session()');
    expect(message).toContain('app.use()');
    expect(message).toContain("a module's configure()");
    expect(message).toContain(fixLine);
  });

  it('passport.session() inside an express Router mounted in main.ts', async () => {
    const router = express.Router();
    router.use(newPassport().session());
    expect(await refused([router as unknown as RequestHandler])).toContain(fixLine);
  });

  it('passport.authenticate() mounted in main.ts (its login writes the session)', async () => {
    const message = await refused([newPassport().authenticate('bearer', { session: false }) as RequestHandler]);
    expect(message).toContain('passport.authenticate()');
    expect(message).toContain("a module's configure()");
  });

  it("the app's own express-session: two session middlewares", async () => {
    const message = await refused([session({ secret: 'an-app-secret', resave: false, saveUninitialized: false })]);
    expect(message).toContain('express-session');
    expect(message).toContain('SessionModule.forRoot()');
    expect(message).toContain('app.use(session(');
  });

  it('a middleware of its own named like them is not refused', async () => {
    const authenticate: RequestHandler = (_req, _res, next) => next();
    const app = await start({ inMain: [authenticate], inConfigure: [newPassport().session()] });
    try {
      expect((await userAfterLogin(app, 'u-own')).user).toEqual({ id: 'u-own', name: 'name of u-own' });
    } finally {
      await app.close();
    }
  });
});

describe("Passport's req.login(): a login the cap and the device record would miss", () => {
  it('is answered 500 naming SessionService.login(), with or without a lifetime set by hand; nothing stored', async () => {
    const instance = newPassport();
    const app = await start({ inConfigure: [instance.initialize(), instance.session()] });
    try {
      const byUser = (id: string) => db.sessions().countDocuments({ 'session.passport.user': id });
      for (const remember of [true, false]) {
        const refused = await request(app.getHttpServer())
          .post('/pm/passport-login')
          .send({ id: 'u-req-login', remember })
          .expect(500);
        expect((refused.body as { message: string }).message).toContain('SessionService.login()');
        expect(refused.headers['set-cookie']).toBeUndefined();
        expect(await byUser('u-req-login')).toBe(0);
      }
      // The server goes on serving: the same user logs in through SessionService.login().
      expect(await userAfterLogin(app, 'u-req-login')).toEqual({
        user: { id: 'u-req-login', name: 'name of u-req-login' },
        stored: { user: 'u-req-login' },
      });
      expect(await byUser('u-req-login')).toBe(1);
    } finally {
      await app.close();
    }
  });
});
