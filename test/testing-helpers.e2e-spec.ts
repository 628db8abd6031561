import { afterAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { unsign } from 'cookie-signature';
import { SessionDataError, SessionModule, type SessionEvent, type SessionModuleOptions } from 'nestjs-typed-session';
import { endSession, loginAs, sessionOf } from 'nestjs-typed-session/testing';
import request from 'supertest';
import { cookieFrom, sessionIdOf, storedIdOf } from './support/cookies.js';
import { TestDatabase } from './support/database.js';
import { scenarioOptions, startScenarioApp } from './scenarios/routes.scenario.js';

const running: INestApplication[] = [];
const databases: TestDatabase[] = [];
afterAll(async () => {
  for (const app of running) await app.close();
  for (const db of databases) await db.close();
});

/** A scenario app on a database of its own, recording every lifecycle event. */
async function setup(overrides: Partial<SessionModuleOptions> = {}, trustProxy = false) {
  const db = new TestDatabase();
  databases.push(db);
  const events: SessionEvent[] = [];
  const app = await startScenarioApp(
    SessionModule.forRoot(scenarioOptions(db, { onEvent: (event) => events.push(event), ...overrides })),
    undefined,
    { trustProxy },
  );
  running.push(app);
  const http = () => request(app.getHttpServer());
  const doc = (cookie: string) => db.sessions().findOne({ _id: storedIdOf(cookie) });
  return { app, db, events, http, doc };
}

const member = (userId: string) => ({ userId, username: userId, role: 'member' as const });

describe('loginAs', () => {
  it('gives a cookie that passes AuthGuard, stored as a real login stores it', async () => {
    const s = await setup();
    const { cookie, handle } = await loginAs(s.app, member('u-helper'), { userAgent: 'test-agent/1' });
    expect(cookie).toMatch(/^sid=s%3A/);
    await s.http().get('/s/guarded').set('Cookie', cookie).expect(200, { userId: 'u-helper' });

    const stored = await s.doc(cookie);
    expect(stored).not.toBeNull();
    expect(stored!._id).toBe(storedIdOf(cookie));
    expect(stored!._id).not.toBe(sessionIdOf(cookie));
    expect(stored!.handle).toBe(handle);
    expect(stored!.session).toMatchObject(member('u-helper'));
    expect(stored!.loginAt).toBeInstanceOf(Date);
    expect(stored!.createdAt).toEqual(stored!.loginAt);
    expect(stored!.userAgent).toBe('test-agent/1');
    expect(stored!.ip).toBe('127.0.0.1');

    const real = cookieFrom(
      await s.http().post('/s/login').set('User-Agent', 'test-agent/1').send({ userId: 'u-real' }).expect(200),
    );
    const realStored = await s.doc(real);
    expect(Object.keys(stored!).sort()).toEqual(Object.keys(realStored!).sort());
    expect(Object.keys(stored!.session).sort()).toEqual(Object.keys(realStored!.session).sort());
    expect(Object.keys(stored!.session.cookie).sort()).toEqual(Object.keys(realStored!.session.cookie).sort());
    expect(stored!.session.cookie.originalMaxAge).toBe(realStored!.session.cookie.originalMaxAge);
  });

  it('emits `created` like login(), and respects maxSessionsPerUser', async () => {
    const s = await setup({ maxSessionsPerUser: 2 });
    const first = await loginAs(s.app, member('u-cap'));
    expect(s.events.filter((event) => event.type === 'created')).toEqual([
      expect.objectContaining({ type: 'created', handle: first.handle, userId: 'u-cap' }),
    ]);
    const second = await loginAs(s.app, member('u-cap'));
    const third = await loginAs(s.app, member('u-cap'));
    expect(s.events.filter((event) => event.type === 'created')).toHaveLength(3);
    const left = await s.db.byUser('u-cap');
    expect(left.map((stored) => stored.handle).sort()).toEqual([second.handle, third.handle].sort());
    await s.http().get('/s/guarded').set('Cookie', first.cookie).expect(401);
    await s.http().get('/s/guarded').set('Cookie', third.cookie).expect(200);
  });

  it('refuses a bad user id as login() does (400), storing nothing', async () => {
    const s = await setup();
    const bad = { userId: { $ne: '' }, username: 'x', role: 'member' } as unknown as ReturnType<typeof member>;
    const refusal = await loginAs(s.app, bad).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(SessionDataError);
    expect((refusal as SessionDataError).getStatus()).toBe(400);
    const answer = await s
      .http()
      .post('/s/login')
      .send({ userId: { $ne: '' } });
    expect(answer.status).toBe(400);
    expect(await s.db.sessions().countDocuments()).toBe(0);
    expect(s.events.filter((event) => event.type === 'created')).toEqual([]);
  });

  it('signs with the first of rotated secrets, and the app takes the cookie', async () => {
    const s = await setup({ secret: ['new-secret', 'old-secret'] });
    const { cookie } = await loginAs(s.app, member('u-rotated'));
    const value = decodeURIComponent(cookie.slice('sid='.length)).slice(2);
    expect(unsign(value, 'new-secret')).toBe(sessionIdOf(cookie));
    expect(unsign(value, 'old-secret')).toBe(false);
    const answer = await s.http().get('/s/guarded').set('Cookie', cookie).expect(200);
    expect(answer.headers['set-cookie']).toBeUndefined(); // signed with the current secret: not sent again
  });

  it('remembers a session with `remember: true`, as login() does', async () => {
    const s = await setup();
    const { cookie } = await loginAs(s.app, member('u-remember'), { remember: true });
    const stored = await s.doc(cookie);
    expect(stored!.remember).toBe(true);
    // The rememberMe idle timeout (30 days by default), not the plain one (a day).
    const days = (stored!.expires.getTime() - stored!.loginAt!.getTime()) / 86_400_000;
    expect(Math.round(days)).toBe(30);
    await s.http().get('/s/guarded').set('Cookie', cookie).expect(200);
  });

  it('logs in on an app whose cookie is Secure (__Host-), for its HTTPS requests', async () => {
    const s = await setup({ cookie: { hostPrefix: true } }, true);
    const { cookie } = await loginAs(s.app, member('u-secure'));
    expect(cookie).toMatch(/^__Host-sid=s%3A/);
    await s.http().get('/s/guarded').set('X-Forwarded-Proto', 'https').set('Cookie', cookie).expect(200);
  });

  it('takes data of the declared session shape only', () => {
    const typed = (app: INestApplication) => {
      // @ts-expect-error: `username` and `role` are required by the declared session shape
      void loginAs(app, { userId: 'u-typed' });
      // @ts-expect-error: userId is a string in the declared session shape
      void loginAs(app, { userId: 1, username: 'x', role: 'member' });
      return sessionOf(app, 'sid=x').then((data) => data?.role satisfies 'admin' | 'member' | undefined);
    };
    expect(typeof typed).toBe('function');
  });
});

describe('sessionOf and endSession', () => {
  it('read the stored data, then end the session: the cookie is refused and the document gone', async () => {
    const s = await setup();
    const { cookie, handle } = await loginAs(s.app, member('u-end'));
    expect(await sessionOf(s.app, cookie)).toEqual(member('u-end'));
    expect(await endSession(s.app, cookie)).toBe(true);
    expect(s.events.filter((event) => event.type === 'destroyed')).toEqual([
      expect.objectContaining({ type: 'destroyed', handle, userId: 'u-end' }),
    ]);
    await s.http().get('/s/guarded').set('Cookie', cookie).expect(401);
    expect(await s.doc(cookie)).toBeNull();
    expect(await sessionOf(s.app, cookie)).toBeNull();
    expect(await endSession(s.app, cookie)).toBe(false);
  });

  it('see a session made by a real login, and none for a cookie with a bad signature', async () => {
    const s = await setup();
    const cookie = cookieFrom(await s.http().post('/s/login').send({ userId: 'u-http' }).expect(200));
    expect(await sessionOf(s.app, cookie)).toEqual(member('u-http'));
    expect(await sessionOf(s.app, `${cookie.slice(0, -1)}${cookie.endsWith('A') ? 'B' : 'A'}`)).toBeNull();
  });
});
