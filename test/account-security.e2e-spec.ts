import { afterAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { SessionModule, type SessionEvent, type SessionModuleOptions } from 'nestjs-typed-session';
import request from 'supertest';
import { cookieFrom, derivedHandleOf, sessionIdOf, setCookieFor, signedCookie, storedIdOf } from './support/cookies.js';
import { TestDatabase } from './support/database.js';
import { Gate, gates, scenarioOptions, startScenarioApp } from './scenarios/routes.scenario.js';

const running: INestApplication[] = [];
const databases: TestDatabase[] = [];
afterAll(async () => {
  for (const app of running) await app.close();
  for (const db of databases) await db.close();
});

/** A scenario app on a database of its own (or the one given), recording every lifecycle event. */
async function setup(overrides: Partial<SessionModuleOptions> = {}, db?: TestDatabase, trustProxy = false) {
  const database = db ?? new TestDatabase();
  if (!db) databases.push(database);
  const events: SessionEvent[] = [];
  const app = await startScenarioApp(
    SessionModule.forRoot(scenarioOptions(database, { onEvent: (event) => events.push(event), ...overrides })),
    undefined,
    { trustProxy },
  );
  running.push(app);
  const http = () => request(app.getHttpServer());
  const login = async (userId: string, headers: Record<string, string> = {}) =>
    cookieFrom(await http().post('/s/login').set(headers).send({ userId }).expect(200));
  const doc = (cookie: string) => database.sessions().findOne({ _id: storedIdOf(cookie) });
  const shift = (cookie: string, fields: Record<string, Date>) =>
    database.sessions().updateOne({ _id: storedIdOf(cookie) }, { $set: fields });
  return { http, login, doc, shift, events, db: database };
}

const seconds = (n: number) => n * 1000;
const ago = (ms: number) => new Date(Date.now() - ms);

describe('idle timeout', () => {
  it('slides the expiry with use, writing at most once per touchAfter', async () => {
    const s = await setup({ idleTimeout: 600, touchAfter: 60 });
    const cookie = await s.login('u-idle');
    const first = (await s.doc(cookie))!;
    expect(first.expires.getTime() - first.lastSeenAt!.getTime()).toBe(seconds(600));

    await s.http().get('/s/guarded').set('Cookie', cookie).expect(200);
    expect(await s.doc(cookie)).toEqual(first); // within touchAfter: no write

    await s.shift(cookie, { lastSeenAt: ago(seconds(61)), expires: new Date(Date.now() + seconds(539)) });
    const before = Date.now();
    await s.http().get('/s/guarded').set('Cookie', cookie).expect(200);
    const touched = (await s.doc(cookie))!;
    expect(touched.lastSeenAt!.getTime()).toBeGreaterThanOrEqual(before);
    expect(touched.expires.getTime()).toBe(touched.lastSeenAt!.getTime() + seconds(600));
  });

  it('does not serve a session unused for longer than idleTimeout, and says why', async () => {
    const s = await setup({ idleTimeout: 600, touchAfter: 60 });
    const cookie = await s.login('u-idle-2');
    await s.shift(cookie, { lastSeenAt: ago(seconds(601)) });
    expect((await s.http().get('/s/guarded').set('Cookie', cookie)).status).toBe(401);
    expect(await s.doc(cookie)).toBeNull();
    expect(s.events.at(-1)).toMatchObject({ type: 'expired', reason: 'idle-timeout', userId: 'u-idle-2' });
  });
});

describe('absolute timeout', () => {
  it('ends a session at loginAt + absoluteTimeout however active it is', async () => {
    const s = await setup({ idleTimeout: 600, absoluteTimeout: 3600, touchAfter: 60 });
    const cookie = await s.login('u-abs');
    const stored = (await s.doc(cookie))!;
    expect(stored.loginAt).toBeInstanceOf(Date);

    // Logged in 59 min 50 s ago and used all along: a touch may not extend it past the deadline.
    const loginAt = ago(seconds(3590));
    await s.shift(cookie, { loginAt, lastSeenAt: ago(seconds(61)) });
    await s.http().get('/s/guarded').set('Cookie', cookie).expect(200);
    expect((await s.doc(cookie))!.expires.getTime()).toBe(loginAt.getTime() + seconds(3600));

    await s.shift(cookie, { loginAt: ago(seconds(3601)), lastSeenAt: new Date() });
    expect((await s.http().get('/s/guarded').set('Cookie', cookie)).status).toBe(401);
    expect(s.events.at(-1)).toMatchObject({ type: 'expired', reason: 'absolute-timeout', userId: 'u-abs' });
  });

  it('is not reset by regenerating the id (password change keeps the login time)', async () => {
    const s = await setup({ idleTimeout: 600, absoluteTimeout: 3600, touchAfter: 60 });
    const cookie = await s.login('u-abs-2');
    const loginAt = ago(seconds(1800));
    await s.shift(cookie, { loginAt });

    const changed = await s.http().post('/s/password').set('Cookie', cookie).expect(200);
    const renewed = cookieFrom(changed);
    expect(sessionIdOf(renewed)).not.toBe(sessionIdOf(cookie));
    const stored = (await s.doc(renewed))!;
    expect(stored.loginAt).toEqual(loginAt);
    expect(stored.expires.getTime()).toBeLessThanOrEqual(loginAt.getTime() + seconds(3600));

    await s.shift(renewed, { loginAt: ago(seconds(3601)) });
    expect((await s.http().get('/s/guarded').set('Cookie', renewed)).status).toBe(401);
  });
});

describe('__Host- cookie', () => {
  it('sets __Host-sid with Secure, Path=/ and no Domain', async () => {
    const s = await setup({ cookie: { hostPrefix: true } }, undefined, true);
    const response = await s
      .http()
      .post('/s/login')
      .set('X-Forwarded-Proto', 'https')
      .send({ userId: 'u-host' })
      .expect(200);
    const line = setCookieFor(response, '__Host-sid')!;
    expect(line).toMatch(/^__Host-sid=s%3A/);
    expect(line).toContain('Secure');
    expect(line).toContain('Path=/');
    expect(line).not.toMatch(/Domain=/i);
    const cookie = cookieFrom(response, '__Host-sid');
    expect((await s.http().get('/s/guarded').set('X-Forwarded-Proto', 'https').set('Cookie', cookie)).status).toBe(200);
  });
});

describe('secret rotation', () => {
  it('accepts a cookie signed with the old secret and re-signs it with the new one', async () => {
    const db = new TestDatabase();
    databases.push(db);
    const before = await setup({ secret: 'secret-2025' }, db);
    const oldCookie = await before.login('u-rotate');
    const id = sessionIdOf(oldCookie);
    expect(oldCookie).toBe(signedCookie(id, 'secret-2025'));

    const rotated = await setup({ secret: ['secret-2026', 'secret-2025'] }, db);
    const response = await rotated.http().get('/s/guarded').set('Cookie', oldCookie);
    expect(response.status).toBe(200);
    const resigned = cookieFrom(response);
    expect(resigned).toBe(signedCookie(id, 'secret-2026'));
    // A cookie already signed with the current secret is not set again.
    expect(setCookieFor(await rotated.http().get('/s/guarded').set('Cookie', resigned))).toBeUndefined();

    const after = await setup({ secret: 'secret-2026' }, db);
    expect((await after.http().get('/s/guarded').set('Cookie', resigned)).status).toBe(200);
    expect((await after.http().get('/s/guarded').set('Cookie', oldCookie)).status).toBe(401);
  });
});

describe('devices', () => {
  it('records user agent, client address (behind trust proxy), creation and last-seen times', async () => {
    const s = await setup({}, undefined, true);
    const phone = await s.login('u-dev', { 'User-Agent': 'PhoneBrowser/1.0', 'X-Forwarded-For': '203.0.113.7' });
    await s.login('u-dev', { 'User-Agent': 'DesktopBrowser/2.0', 'X-Forwarded-For': '198.51.100.4' });

    const listed = await s.http().get('/s/sessions').set('Cookie', phone).expect(200);
    expect(listed.body).toHaveLength(2);
    const mine = listed.body.find((entry: { current: boolean }) => entry.current);
    expect(mine).toMatchObject({ userAgent: 'PhoneBrowser/1.0', ip: '203.0.113.7' });
    expect(listed.body.find((entry: { current: boolean }) => !entry.current)).toMatchObject({
      userAgent: 'DesktopBrowser/2.0',
      ip: '198.51.100.4',
    });
    for (const entry of listed.body) {
      expect(Date.parse(entry.createdAt)).toBeLessThanOrEqual(Date.parse(entry.lastSeenAt));
      expect(entry.handle).toMatch(/^[\w-]{22}$/);
    }
    expect(JSON.stringify(listed.body)).not.toContain(sessionIdOf(phone));
  });
});

describe('revoke by handle', () => {
  it("ends one of the user's sessions; another user's handle is refused and changes nothing", async () => {
    const s = await setup();
    const laptop = await s.login('u-rev');
    const tablet = await s.login('u-rev');
    const intruder = await s.login('u-intruder');
    const handles = (await s.http().get('/s/sessions').set('Cookie', laptop)).body as {
      handle: string;
      current: boolean;
    }[];
    const tabletHandle = handles.find((entry) => !entry.current)!.handle;

    expect((await s.http().delete(`/s/sessions/${tabletHandle}`).set('Cookie', intruder)).body).toEqual({
      revoked: false,
    });
    expect((await s.http().get('/s/guarded').set('Cookie', tablet)).status).toBe(200);

    const revoked = await s.http().delete(`/s/sessions/${tabletHandle}`).set('Cookie', laptop);
    expect(revoked.body).toEqual({ revoked: true });
    expect(revoked.headers['cache-control']).toBe('no-store');
    expect(await s.doc(tablet)).toBeNull();
    expect((await s.http().get('/s/guarded').set('Cookie', tablet)).status).toBe(401);
    expect((await s.http().get('/s/guarded').set('Cookie', laptop)).status).toBe(200);
    expect(s.events.filter((event) => event.type === 'revoked').at(-1)).toMatchObject({
      type: 'revoked',
      reason: 'revoke',
      userId: 'u-rev',
      handle: tabletHandle,
    });
    // The revoked tablet presenting its cookie afterwards is a refused cookie, reported without the id (by
    // the handle derived from the id: nothing is stored any more to tell the session's own).
    const derived = derivedHandleOf(tablet);
    expect(s.events.at(-1)).toMatchObject({ type: 'rejected', reason: 'unknown-id', handle: derived });
  });
});

describe('a stable handle', () => {
  type Listed = { handle: string; current: boolean }[];

  it("ends a stolen session that rotates between the owner's list and the owner's revoke", async () => {
    const s = await setup();
    const owner = await s.login('u-stolen');
    const stolen = await s.login('u-stolen'); // the thief's copy of the cookie
    const listed = (await s.http().get('/s/sessions').set('Cookie', owner).expect(200)).body as Listed;
    const stolenHandle = listed.find((entry) => !entry.current)!.handle;

    // The thief rotates the id, keeping the login, before the owner clicks "revoke".
    const rotated = await s.http().post('/s/held-regenerate').set('Cookie', stolen).expect(200);
    const thief = cookieFrom(rotated);
    expect(storedIdOf(thief)).not.toBe(storedIdOf(stolen));
    expect(await s.doc(stolen)).toBeNull();
    expect((await s.http().get('/s/guarded').set('Cookie', thief)).status).toBe(200);
    expect(((await s.http().get('/s/sessions').set('Cookie', owner)).body as Listed).map((e) => e.handle)).toContain(
      stolenHandle,
    );

    const revoked = await s.http().delete(`/s/sessions/${stolenHandle}`).set('Cookie', owner);
    expect(revoked.body).toEqual({ revoked: true });
    expect(await s.doc(thief)).toBeNull();
    expect((await s.http().get('/s/guarded').set('Cookie', thief)).status).toBe(401);
    expect((await s.http().get('/s/guarded').set('Cookie', owner)).status).toBe(200);
    expect(await s.db.byUser('u-stolen')).toHaveLength(1);
    expect(s.events.filter((event) => event.type === 'revoked')).toEqual([
      expect.objectContaining({ reason: 'revoke', userId: 'u-stolen', handle: stolenHandle }),
    ]);
  });

  it('ends a stolen session revoked while its rotation is under way: the rotation answers 401', async () => {
    const s = await setup();
    const owner = await s.login('u-mid-rotation');
    const stolen = await s.login('u-mid-rotation');
    const listed = (await s.http().get('/s/sessions').set('Cookie', owner).expect(200)).body as Listed;
    const stolenHandle = listed.find((entry) => !entry.current)!.handle;
    const gate = (gates.current = new Gate());
    const rotation = s
      .http()
      .post('/s/held-regenerate')
      .set('Cookie', stolen)
      .then((response) => response);
    await gate.reached(); // its session loaded, its rotation not started

    const revoked = await s.http().delete(`/s/sessions/${stolenHandle}`).set('Cookie', owner);
    expect(revoked.body).toEqual({ revoked: true });
    gate.open();
    const response = await rotation;
    expect(response.status).toBe(401);
    expect(setCookieFor(response)).toMatch(/^sid=;.*Expires=Thu, 01 Jan 1970/); // cleared: no new id issued
    expect((await s.db.byUser('u-mid-rotation')).map((document) => document._id)).toEqual([storedIdOf(owner)]);
  });

  it('is stored with the session, random: not its id, nor part of its storage key', async () => {
    const s = await setup();
    const cookie = await s.login('u-handle');
    const stored = (await s.doc(cookie))!;
    const [entry] = (await s.http().get('/s/sessions').set('Cookie', cookie)).body as Listed;
    expect(stored.handle).toBe(entry.handle);
    expect(entry.handle).toMatch(/^[\w-]{22}$/);
    expect(storedIdOf(cookie).startsWith(entry.handle)).toBe(false);
    expect(sessionIdOf(cookie)).not.toContain(entry.handle);
    // Presented as a session id, a handle is an unknown id.
    const forged = signedCookie(entry.handle, 'scenario-test-secret');
    expect((await s.http().get('/s/guarded').set('Cookie', forged)).status).toBe(401);
    expect(s.events.at(-1)).toMatchObject({ type: 'rejected', reason: 'unknown-id' });
    expect(s.events.find((event) => event.type === 'created')).toMatchObject({ handle: entry.handle });
  });

  it('of a session stored without one (an earlier version) is derived from its key, then kept across rotations', async () => {
    const s = await setup();
    const owner = await s.login('u-legacy');
    const legacy = await s.login('u-legacy');
    await s.db.sessions().updateOne({ _id: storedIdOf(legacy) }, { $unset: { handle: '' } });
    const derived = derivedHandleOf(legacy);
    const listed = (await s.http().get('/s/sessions').set('Cookie', owner)).body as Listed;
    expect(listed.find((entry) => !entry.current)!.handle).toBe(derived);

    const rotated = cookieFrom(await s.http().post('/s/held-regenerate').set('Cookie', legacy).expect(200));
    expect((await s.doc(rotated))!.handle).toBe(derived);
    expect((await s.http().delete(`/s/sessions/${derived}`).set('Cookie', owner)).body).toEqual({ revoked: true });
    expect(await s.doc(rotated)).toBeNull();

    // Revoked before any rotation, by the derived handle.
    const other = await s.login('u-legacy');
    await s.db.sessions().updateOne({ _id: storedIdOf(other) }, { $unset: { handle: '' } });
    const otherHandle = derivedHandleOf(other);
    expect((await s.http().delete(`/s/sessions/${otherHandle}`).set('Cookie', owner)).body).toEqual({ revoked: true });
    expect((await s.http().get('/s/guarded').set('Cookie', other)).status).toBe(401);
  });
});

describe('maxSessionsPerUser', () => {
  it("'evict-oldest' ends the oldest sessions at login", async () => {
    const s = await setup({ maxSessionsPerUser: 2 });
    const [first, second, third] = [await s.login('u-cap'), await s.login('u-cap'), await s.login('u-cap')];
    expect(await s.doc(first)).toBeNull();
    expect((await s.http().get('/s/guarded').set('Cookie', first)).status).toBe(401);
    for (const cookie of [second, third])
      expect((await s.http().get('/s/guarded').set('Cookie', cookie)).status).toBe(200);
    expect(s.events.filter((e) => e.type === 'revoked')).toEqual([
      expect.objectContaining({ reason: 'session-limit', userId: 'u-cap' }),
    ]);
  });

  it("'refuse' answers 403 and keeps the existing sessions", async () => {
    const s = await setup({ maxSessionsPerUser: 2, onSessionLimit: 'refuse' });
    const kept = [await s.login('u-refuse'), await s.login('u-refuse')];
    const refused = await s.http().post('/s/login').send({ userId: 'u-refuse' });
    expect(refused.status).toBe(403);
    expect(refused.body.message).toBe(
      'Too many active sessions for this account (at most 2): log out on another device first.',
    );
    expect(setCookieFor(refused)).toBeUndefined();
    expect(await s.db.byUser('u-refuse')).toHaveLength(2);
    for (const cookie of kept) expect((await s.http().get('/s/guarded').set('Cookie', cookie)).status).toBe(200);
  });

  it.each(['evict-oldest', 'refuse'] as const)('%s: simultaneous logins never end above the cap', async (policy) => {
    const s = await setup({ maxSessionsPerUser: 2, onSessionLimit: policy });
    const responses = await Promise.all(
      Array.from({ length: 6 }, () => s.http().post('/s/login').send({ userId: 'u-race' })),
    );
    const live = await s.db.byUser('u-race');
    expect(live.length).toBe(2);
    const succeeded = responses.filter((r) => r.status === 200);
    if (policy === 'refuse') {
      expect(succeeded).toHaveLength(2);
      expect(responses.filter((r) => r.status === 403)).toHaveLength(4);
      expect(live.map((d) => d._id).sort()).toEqual(succeeded.map((r) => storedIdOf(cookieFrom(r))).sort());
    } else {
      expect(succeeded).toHaveLength(6);
    }
  });
});

describe('lifecycle events', () => {
  it('reports created, destroyed, revoked, expired and invalid, never with a session id', async () => {
    const s = await setup({
      schema: (data) => {
        if ((data as { role?: string }).role === 'root') throw new Error('no root');
        return data as object;
      },
    });
    const a = await s.login('u-ev');
    const b = await s.login('u-ev');
    await s.http().post('/s/password').set('Cookie', a).expect(200); // revokes b
    const c = await s.login('u-ev');
    await s.http().post('/s/logout').set('Cookie', c).expect(200);
    const d = await s.login('u-ev');
    await s.shift(d, { expires: ago(1) });
    await s.http().get('/s/guarded').set('Cookie', d).expect(401);
    const e = await s.login('u-ev');
    await s.db.sessions().updateOne({ _id: storedIdOf(e) }, { $set: { 'session.role': 'root' } });
    await s.http().get('/s/guarded').set('Cookie', e).expect(401);

    expect(s.events.map(({ type, reason }) => `${type}:${reason}`)).toEqual([
      'created:login',
      'created:login',
      'revoked:password-change',
      'created:login',
      'destroyed:logout',
      'created:login',
      'expired:idle-timeout',
      'created:login',
      'invalid:it does not match the session schema (no root)',
    ]);
    expect(s.events.every((event) => event.userId === 'u-ev' && /^[\w-]{22}$/.test(event.handle))).toBe(true);
    const text = JSON.stringify(s.events);
    for (const cookie of [a, b, c, d, e]) expect(text).not.toContain(sessionIdOf(cookie));
  });
});
