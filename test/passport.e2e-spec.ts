import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Module,
  Param,
  Post,
  UseGuards,
  UseInterceptors,
  type INestApplication,
} from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { ObjectId } from 'mongodb';
import { AuthGuard, LogoutInterceptor, PasswordChange, SessionModule, SessionService } from 'nestjs-typed-session';
import request from 'supertest';
import { cookieFrom, storedIdOf } from './support/cookies.js';
import { TestDatabase } from './support/database.js';
import { scenarioOptions } from './scenarios/routes.scenario.js';

// Passport keeps its user under `req.session.passport.user`; with a PassportSerializer that serializes a user
// to its id, that is the user id. `passport` is not installed here: the login writes the shape Passport's
// `req.login` writes (`{ passport: { user: id } }`), beside the user's profile as Mongoose's `toObject()`
// gives it (an ObjectId, a Date), through the library's `login()`.

/** The session shape of a Passport app, as this test uses it. */
interface PassportSession {
  passport?: { user: string };
  profile?: { _id: ObjectId; email: string; createdAt: Date };
}

// The app declares where Passport keeps its user, so that `userIdField: 'passport.user'` type-checks.
declare module 'express-session' {
  interface SessionData {
    passport?: { user: string };
  }
}

@Controller('p')
class PassportController {
  constructor(private readonly sessions: SessionService<PassportSession>) {}

  @Post('login')
  @HttpCode(200)
  async login(@Body() body: { id: string; profileId?: string }) {
    await this.sessions.login({
      passport: { user: body.id },
      profile: {
        _id: new ObjectId(body.profileId),
        email: `${body.id}@example.test`,
        createdAt: new Date('2020-01-02T03:04:05Z'),
      },
    });
    return { ok: true };
  }

  @Post('login-object-id')
  @HttpCode(200)
  async loginWithObjectId() {
    // A serializer that gives `user._id`: an ObjectId is not a user id, so nothing is written.
    await this.sessions.login({ passport: { user: new ObjectId() as unknown as string } });
    return { ok: true };
  }

  @Get('me')
  @UseGuards(AuthGuard)
  me() {
    const profile = this.sessions.get('profile');
    return {
      userId: this.sessions.requireUserId(),
      profileId: profile?._id.toHexString(),
      isObjectId: profile?._id instanceof ObjectId,
      isDate: profile?.createdAt instanceof Date,
    };
  }

  @Get('sessions')
  @UseGuards(AuthGuard)
  list() {
    return this.sessions.listForUser(this.sessions.requireUserId());
  }

  @Delete('sessions/:handle')
  @UseGuards(AuthGuard)
  async revoke(@Param('handle') handle: string) {
    return { revoked: await this.sessions.revoke(this.sessions.requireUserId(), handle) };
  }

  @Post('logout-everywhere')
  @HttpCode(200)
  @UseGuards(AuthGuard)
  async logoutEverywhere() {
    return { ended: await this.sessions.destroyAllForUser(this.sessions.requireUserId()) };
  }

  @Post('logout')
  @HttpCode(200)
  @UseInterceptors(LogoutInterceptor)
  logout() {
    return { loggedOut: true };
  }

  @Post('password')
  @HttpCode(200)
  @UseGuards(AuthGuard)
  @PasswordChange()
  password() {
    return { changed: true };
  }

  @Post('set-passport')
  @HttpCode(200)
  setPassport() {
    this.sessions.patch({ passport: { user: 'someone-else' } });
    return { ok: true };
  }
}

let app: INestApplication;
const db = new TestDatabase();
const http = () => request(app.getHttpServer());
const login = async (id: string, profileId?: string) =>
  cookieFrom(await http().post('/p/login').send({ id, profileId }).expect(200));
const byUser = (id: string) => db.sessions().find({ 'session.passport.user': id }).toArray();
const doc = (cookie: string) => db.sessions().findOne({ _id: storedIdOf(cookie) });

beforeAll(async () => {
  @Module({
    imports: [SessionModule.forRoot(scenarioOptions(db, { userIdField: 'passport.user', maxSessionsPerUser: 3 }))],
    controllers: [PassportController],
  })
  class PassportModule {}
  const moduleRef = await Test.createTestingModule({ imports: [PassportModule] }).compile();
  app = moduleRef.createNestApplication({ logger: false });
  await app.init();
});

afterAll(async () => {
  await app?.close();
  await db.close();
});

describe("userIdField: 'passport.user'", () => {
  it('logs in with the user id at the path, indexes it and serves it as the user id', async () => {
    const cookie = await login('u-ada');
    const me = await http().get('/p/me').set('Cookie', cookie).expect(200);
    expect(me.body).toMatchObject({ userId: 'u-ada', isObjectId: true, isDate: true });

    const stored = (await doc(cookie))!;
    expect(stored.session.passport).toEqual({ user: 'u-ada' });
    const indexes = await db.sessions().indexes();
    expect(indexes.map((index) => index.key)).toContainEqual({ 'session.passport.user': 1, handle: 1 });
  });

  it('lists and revokes a Passport login, and leaves the other user alone', async () => {
    const first = await login('u-bea');
    const second = await login('u-bea');
    const other = await login('u-cy');

    const listing = await http().get('/p/sessions').set('Cookie', first).expect(200);
    const entries = listing.body as { handle: string; current: boolean; data: PassportSession }[];
    expect(entries).toHaveLength(2);
    expect(entries.every((entry) => entry.data.passport?.user === 'u-bea')).toBe(true);

    const secondHandle = (await doc(second))!.handle!;
    const revoked = await http().delete(`/p/sessions/${secondHandle}`).set('Cookie', first).expect(200);
    expect(revoked.body).toEqual({ revoked: true });
    expect(await doc(second)).toBeNull();
    await http().get('/p/me').set('Cookie', second).expect(401);
    await http().get('/p/me').set('Cookie', first).expect(200);
    expect(await byUser('u-cy')).toHaveLength(1);
    await http().get('/p/me').set('Cookie', other).expect(200);
  });

  it('logs a user out everywhere, and a logout ends one session', async () => {
    const [a, b, c] = [await login('u-dee'), await login('u-dee'), await login('u-dee')];
    await http().post('/p/logout').set('Cookie', c).expect(200);
    expect(await doc(c)).toBeNull();
    expect(await byUser('u-dee')).toHaveLength(2);

    const ended = await http().post('/p/logout-everywhere').set('Cookie', a).expect(200);
    expect(ended.body).toEqual({ ended: 2 });
    expect(await byUser('u-dee')).toHaveLength(0);
    await http().get('/p/me').set('Cookie', b).expect(401);
  });

  it('caps the sessions per Passport user (maxSessionsPerUser: 3, evict-oldest)', async () => {
    const oldest = await login('u-eve');
    await login('u-eve');
    await login('u-eve');
    const newest = await login('u-eve');
    const stored = await byUser('u-eve');
    expect(stored).toHaveLength(3);
    expect(stored.map((d) => d._id)).not.toContain(storedIdOf(oldest));
    expect(stored.map((d) => d._id)).toContain(storedIdOf(newest));
    await http().get('/p/me').set('Cookie', oldest).expect(401);
  });

  it('@PasswordChange() ends the other Passport sessions of the user and rotates this one', async () => {
    const here = await login('u-fay');
    const there = await login('u-fay');
    const untouched = await login('u-gus');
    const response = await http().post('/p/password').set('Cookie', here).expect(200);
    const rotated = cookieFrom(response);
    expect(rotated).not.toBe(here);
    expect(await doc(there)).toBeNull();
    expect(await doc(here)).toBeNull();
    const left = await byUser('u-fay');
    expect(left.map((d) => d._id)).toEqual([storedIdOf(rotated)]);
    await http().get('/p/me').set('Cookie', rotated).expect(200);
    await http().get('/p/me').set('Cookie', untouched).expect(200);
  });

  it('refuses to set the path root outside login() (it holds the user id)', async () => {
    const cookie = await login('u-hal');
    const response = await http().post('/p/set-passport').set('Cookie', cookie).expect(400);
    expect((response.body as { message: string }).message).toContain(
      '"passport" (it holds the user id, passport.user) is set by login() only',
    );
    expect((await doc(cookie))!.session.passport).toEqual({ user: 'u-hal' });
  });
});

describe('ObjectIds in session data', () => {
  it('are not user ids: a login with an ObjectId at passport.user is refused (400), nothing stored', async () => {
    const before = await db.sessions().countDocuments({});
    const response = await http().post('/p/login-object-id').expect(400);
    expect((response.body as { message: string }).message).toContain(
      'SessionService.login() (data.passport.user, the option userIdField) needs a user id',
    );
    expect(await db.sessions().countDocuments({})).toBe(before);
  });

  it('are stored as ObjectIds in the collection and read back as ObjectIds', async () => {
    const profileId = new ObjectId().toHexString();
    const cookie = await login('u-ivy', profileId);
    const stored = (await doc(cookie))!;
    const profile = stored.session.profile as PassportSession['profile'];
    expect(profile!._id).toBeInstanceOf(ObjectId);
    expect(profile!._id.toHexString()).toBe(profileId);
    expect(profile!.createdAt).toBeInstanceOf(Date);
    // stored as BSON ObjectId, not as its hex string
    expect(await db.sessions().countDocuments({ 'session.profile._id': new ObjectId(profileId) })).toBe(1);
    expect(await db.sessions().countDocuments({ 'session.profile._id': profileId })).toBe(0);

    const me = await http().get('/p/me').set('Cookie', cookie).expect(200);
    expect(me.body).toMatchObject({ profileId, isObjectId: true, isDate: true });
    // served again without a change: the comparison of the loaded and the current data is stable
    const before = (await doc(cookie))!;
    await http().get('/p/me').set('Cookie', cookie).expect(200);
    expect((await doc(cookie))!.session).toEqual(before.session);
  });
});
