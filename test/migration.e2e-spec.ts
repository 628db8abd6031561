import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Body, Controller, HttpCode, Post, Req } from '@nestjs/common';
import type { Request } from 'express';
import type { Server } from 'node:http';
import { MongoClient, type CommandStartedEvent } from 'mongodb';
import { SessionService } from 'nestjs-typed-session';
import request from 'supertest';
import { cookieFrom, sessionIdOf, storedIdOf } from './support/cookies.js';
import { mongoUri, TestDatabase } from './support/database.js';
import { legacyApp, legacyLogin, monitoredApp, type SentCommand } from './support/legacy-app.js';
import { Gate, gates } from './scenarios/routes.scenario.js';

// An application moves from express-session + connect-mongo to SessionModule: same database, collection,
// cookie name and secret. Its users stay logged in, and the per-user features reach their sessions.

/** express-session's own cookie name, kept by the application after the switch. */
const NAME = 'connect.sid';

/** Routes written for express-session, as they were before the switch: `req.session` used directly. */
@Controller('legacy')
class LegacyRoutesController {
  constructor(private readonly sessions: SessionService) {}

  @Post('login')
  @HttpCode(200)
  async login(@Req() req: Request, @Body() body: { userId: string }) {
    await new Promise<void>((resolve, reject) =>
      req.session.regenerate((error) => (error ? reject(error) : resolve())),
    );
    req.session.userId = body.userId;
    return { ok: true };
  }

  @Post('assign')
  @HttpCode(200)
  assign(@Req() req: Request, @Body() body: { userId: string }) {
    req.session.userId = body.userId; // no new id: the id the visitor had before names the login
    return { ok: true };
  }

  @Post('assign-then-rotate')
  @HttpCode(200)
  async assignThenRotate(@Req() req: Request, @Body() body: { userId: string }) {
    req.session.userId = body.userId;
    await this.sessions.regenerate({ keep: true });
    return { ok: true };
  }

  @Post('forget')
  @HttpCode(200)
  forget(@Req() req: Request) {
    delete (req.session as { userId?: string }).userId; // what Passport's logOut does to passport.user
    return { ok: true };
  }

  @Post('regenerate')
  @HttpCode(200)
  async regenerate(@Req() req: Request) {
    await new Promise<void>((resolve, reject) =>
      req.session.regenerate((error) => (error ? reject(error) : resolve())),
    );
    return { ok: true };
  }

  @Post('destroy')
  @HttpCode(200)
  async destroy(@Req() req: Request) {
    await new Promise<void>((resolve, reject) => req.session.destroy((error) => (error ? reject(error) : resolve())));
    return { ok: true };
  }
}

let db: TestDatabase;
let legacyClient: MongoClient;
const legacyCommands: SentCommand[] = [];
const legacy: Record<'json' | 'object', Server> = {} as Record<'json' | 'object', Server>;

const plain = (cookie: string) => db.sessions().findOne({ _id: sessionIdOf(cookie) });
const hashed = (cookie: string) => db.sessions().findOne({ _id: storedIdOf(cookie) });

beforeAll(() => {
  db = new TestDatabase();
  legacyClient = new MongoClient(mongoUri(), { monitorCommands: true });
  legacyClient.on('commandStarted', (event: CommandStartedEvent) => {
    if (event.databaseName === db.name && ['find', 'insert', 'delete', 'update'].includes(event.commandName))
      legacyCommands.push({ name: event.commandName, filter: event.command.filter });
  });
  // connect-mongo's default (`stringify: true`, the session as a JSON string) and documents.
  legacy.json = legacyApp(db, legacyClient, { name: NAME });
  legacy.object = legacyApp(db, legacyClient, { name: NAME, stringify: false });
});

afterAll(async () => {
  for (const server of Object.values(legacy)) await new Promise((resolve) => server.close(resolve));
  await legacyClient?.close();
  await db?.close();
});

describe('code written for express-session, run under SessionModule', () => {
  const app = () => monitoredApp(db, { name: NAME, maxSessionsPerUser: 2 }, [LegacyRoutesController]);

  it('refuses a login made on req.session (regenerate, then the user id): the cap would not hold', async () => {
    const s = await app();
    try {
      for (let attempt = 0; attempt < 3; attempt += 1) {
        const response = await s.http().post('/legacy/login').send({ userId: 'u-direct' });
        expect(response.status).toBe(500);
        expect((response.body as { message: string }).message).toMatch(/SessionService\.login\(\)/);
        expect(response.headers['set-cookie']).toBeUndefined();
      }
      expect(await db.byUser('u-direct')).toEqual([]);
    } finally {
      await s.close();
    }
  });

  it('refuses a user id put on a stored session without a new id (session fixation)', async () => {
    const s = await app();
    try {
      const cookie = cookieFrom(await s.http().post('/s/visit').expect(200), NAME);
      const response = await s.http().post('/legacy/assign').set('Cookie', cookie).send({ userId: 'u-fixed' });
      expect(response.status).toBe(500);
      expect((response.body as { message: string }).message).toMatch(/SessionService\.login\(\)/);
      expect((await hashed(cookie))?.session).toMatchObject({ visits: 1 });
      expect((await hashed(cookie))?.session.userId).toBeUndefined();
      expect((await s.guarded(cookie)).status).toBe(401);

      // Nor another user's id over a login: the session stays its own user's.
      const login = cookieFrom(await s.http().post('/s/login').send({ userId: 'u-owner' }).expect(200), NAME);
      await s.http().post('/legacy/assign').set('Cookie', login).send({ userId: 'u-victim' }).expect(500);
      expect(await s.guarded(login)).toMatchObject({ status: 200, body: { userId: 'u-owner' } });
      expect(await db.byUser('u-victim')).toEqual([]);
    } finally {
      await s.close();
    }
  });

  it('refuses a user id put on req.session and carried by regenerate({ keep })', async () => {
    const s = await app();
    try {
      const login = cookieFrom(await s.http().post('/s/login').send({ userId: 'u-keeper' }).expect(200), NAME);
      const response = await s
        .http()
        .post('/legacy/assign-then-rotate')
        .set('Cookie', login)
        .send({ userId: 'u-taken' });
      expect(response.status).toBe(500);
      expect(await db.byUser('u-taken')).toEqual([]);
      expect((await db.byUser('u-keeper')).length).toBe(1);
    } finally {
      await s.close();
    }
  });

  it("lets a user id be removed from req.session (Passport's logOut)", async () => {
    const s = await app();
    try {
      const login = cookieFrom(await s.http().post('/s/login').send({ userId: 'u-forget' }).expect(200), NAME);
      await s.http().post('/legacy/forget').set('Cookie', login).expect(200);
      expect((await hashed(login))?.session.userId).toBeUndefined();
      expect(await db.byUser('u-forget')).toEqual([]);
      expect((await s.guarded(login)).status).toBe(401);
    } finally {
      await s.close();
    }
  });

  it.each([
    ['regenerate', 'the old document is deleted'],
    ['destroy', 'the document is gone when its callback runs'],
  ])('req.session.%s(): %s, and a request in flight cannot bring it back', async (call) => {
    const s = await app();
    try {
      const user = `u-${call}`;
      const login = cookieFrom(await s.http().post('/s/login').send({ userId: user }).expect(200), NAME);
      gates.current = new Gate();
      const written = s
        .http()
        .post('/s/held-write')
        .set('Cookie', login)
        .then((response) => response);
      await gates.current.reached(1);
      await s.http().post(`/legacy/${call}`).set('Cookie', login).expect(200);
      expect(await hashed(login)).toBeNull();
      gates.current.open();
      expect((await written).status).toBe(401);
      expect(await hashed(login)).toBeNull();
      expect(await db.byUser(user)).toEqual([]);
      expect((await s.guarded(login)).status).toBe(401);
    } finally {
      gates.current?.open();
      gates.current = undefined;
      await s.close();
    }
  });
});

describe('switching an express-session + connect-mongo app to SessionModule', () => {
  it('keeps its users logged in, and logout, revocation and the session limit reach their sessions', async () => {
    // Before the switch: users log in on the old app, each keeping their cookie.
    const logins: { userId: string; format: 'json' | 'object' }[] = [
      { userId: 'm-ann', format: 'json' },
      { userId: 'm-bob', format: 'json' },
      { userId: 'm-bob', format: 'object' },
      { userId: 'm-cat', format: 'object' },
      { userId: 'm-cat', format: 'json' },
      { userId: 'm-dan', format: 'json' },
      { userId: 'm-dan', format: 'object' },
      { userId: 'm-dan', format: 'json' },
    ];
    const cookies: string[] = [];
    for (const { userId, format } of logins) cookies.push(await legacyLogin(legacy[format], userId, undefined, NAME));
    expect(typeof (await plain(cookies[0]))?.session).toBe('string');
    expect(typeof (await plain(cookies[3]))?.session).toBe('object');
    legacyCommands.length = 0;
    await request(legacy.json).get('/me').set('Cookie', cookies[0]).expect(200, { userId: 'm-ann' });
    const readsBefore = legacyCommands.filter((command) => command.name === 'find').length;
    expect(readsBefore).toBe(1);

    // The switch: same database, collection (connect-mongo's default), cookie name and secret.
    const s = await monitoredApp(db, { name: NAME, maxSessionsPerUser: 2 });
    try {
      const first: SentCommand[][] = [];
      const after: SentCommand[][] = [];
      for (const [index, cookie] of cookies.entries()) {
        const answer = await s.guarded(cookie);
        expect(answer).toMatchObject({ status: 200, body: { userId: logins[index].userId } });
        first.push(answer.commands);
        expect(await plain(cookie)).toBeNull();
        expect((await hashed(cookie))?.session.userId).toBe(logins[index].userId);
        const again = await s.guarded(cookie);
        expect(again.status).toBe(200);
        after.push(again.commands);
      }
      // The first request reads twice (the hashed key misses, then both keys), moves the document (insert,
      // delete of the plain one); from then on a request is one read by the hashed key.
      for (const commands of first)
        expect(commands.map((command) => command.name)).toEqual(['find', 'find', 'insert', 'delete']);
      for (const [index, commands] of after.entries())
        expect(commands).toEqual([{ name: 'find', filter: { _id: storedIdOf(cookies[index]) } }]);
      expect(await db.sessions().countDocuments({ _id: { $in: cookies.map(sessionIdOf) } })).toBe(0);
      const users = { 'session.userId': { $in: logins.map((login) => login.userId) } };
      expect(await db.sessions().countDocuments(users)).toBe(cookies.length);
      const readsFirst = first[0].filter((command) => command.name === 'find').length;
      const readsAfter = after[0].filter((command) => command.name === 'find').length;
      expect([readsFirst, readsAfter]).toEqual([2, 1]);
      process.stdout.write(
        `[migration] ${cookies.length} sessions of 4 users carried over; reads per request: ${readsBefore} before ` +
          `the switch, ${readsFirst} on the first request after it (then its move), ${readsAfter} once moved\n`,
      );

      // Logout (LogoutInterceptor) of a carried-over session.
      await s.http().post('/s/logout').set('Cookie', cookies[0]).expect(200);
      expect(await hashed(cookies[0])).toBeNull();
      expect((await s.guarded(cookies[0])).status).toBe(401);

      // Revocation: bob lists his two sessions and revokes the other one.
      const listed = await s.http().get('/s/sessions').set('Cookie', cookies[1]).expect(200);
      const entries = listed.body as { handle: string; current: boolean }[];
      expect(entries.map((entry) => entry.current).sort()).toEqual([false, true]);
      const other = entries.find((entry) => !entry.current)!;
      expect(other.handle).toBe((await hashed(cookies[2]))?.handle);
      await s.http().delete(`/s/sessions/${other.handle}`).set('Cookie', cookies[1]).expect(200, { revoked: true });
      expect(await hashed(cookies[2])).toBeNull();
      expect((await s.guarded(cookies[2])).status).toBe(401);
      expect((await s.guarded(cookies[1])).status).toBe(200);

      // Logout everywhere: both of cat's sessions end.
      await s.http().post('/s/logout-everywhere').set('Cookie', cookies[3]).expect(200, { ended: 2 });
      expect(await db.byUser('m-cat')).toEqual([]);
      expect((await s.guarded(cookies[4])).status).toBe(401);

      // The session limit (2): dan's new login ends his two oldest carried-over sessions.
      const fresh = cookieFrom(await s.http().post('/s/login').send({ userId: 'm-dan' }).expect(200), NAME);
      expect((await s.guarded(cookies[5])).status).toBe(401);
      expect((await s.guarded(cookies[6])).status).toBe(401);
      expect((await s.guarded(cookies[7])).status).toBe(200);
      expect((await s.guarded(fresh)).status).toBe(200);
      expect((await db.byUser('m-dan')).map((document) => document._id).sort()).toEqual(
        [storedIdOf(cookies[7]), storedIdOf(fresh)].sort(),
      );
      expect(s.events.filter((event) => event.type === 'revoked' && event.reason === 'session-limit').length).toBe(2);
      expect(s.events.filter((event) => event.type === 'invalid')).toEqual([]);
      // No document of connect-mongo's is left, and none of the ended sessions.
      expect(await db.sessions().countDocuments({ handle: { $exists: false } })).toBe(0);
      expect((await db.sessions().find(users).toArray()).map((document) => document.session.userId).sort()).toEqual([
        'm-bob',
        'm-dan',
        'm-dan',
      ]);
    } finally {
      await s.close();
    }
  });
});
