import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { cookieFrom, sessionIdOf, setCookieFor, tamper, storedIdOf } from './support/cookies.js';
import type { TestDatabase } from './support/database.js';
import { startExampleApp } from './support/example-app.js';
import { SessionAuditListener } from '../example/session-audit.listener.js';

let app: INestApplication;
let db: TestDatabase;
const http = () => request(app.getHttpServer());

async function login(username = 'alice', password = `${username}-password`, cookie?: string) {
  const req = http().post('/auth/login').send({ username, password });
  const response = await (cookie ? req.set('Cookie', cookie) : req);
  expect(response.status).toBe(200);
  return { response, cookie: cookieFrom(response) };
}

beforeAll(async () => {
  ({ app, db } = await startExampleApp());
});

afterAll(async () => {
  await app?.close();
  await db?.close();
});

describe('login', () => {
  it('sets a signed, httpOnly, SameSite=Lax cookie and writes exactly one document', async () => {
    const before = await db.byUser('u-alice');
    const { response, cookie } = await login('alice');

    expect(response.body).toEqual({ userId: 'u-alice', username: 'alice' });
    const line = setCookieFor(response)!;
    expect(line).toMatch(/^sid=s%3A[^;]+\.[^;]+;/);
    expect(line).toContain('HttpOnly');
    expect(line).toContain('SameSite=Lax');
    expect(line).toContain('Path=/');
    expect(line).not.toContain('Secure');

    const id = storedIdOf(cookie);
    const documents = await db.byUser('u-alice');
    expect(documents).toHaveLength(before.length + 1);
    const stored = await db.sessions().findOne({ _id: id });
    expect(stored?.session).toMatchObject({ userId: 'u-alice', username: 'alice', role: 'admin' });
    expect(stored!.expires.getTime()).toBeGreaterThan(Date.now());
  });

  it('answers 401 to wrong credentials and stores nothing', async () => {
    const count = await db.sessions().countDocuments();
    const response = await http().post('/auth/login').send({ username: 'alice', password: 'wrong' });
    expect(response.status).toBe(401);
    expect(setCookieFor(response)).toBeUndefined();
    expect(await db.sessions().countDocuments()).toBe(count);
  });

  it('answers 400 to a malformed body', async () => {
    const response = await http()
      .post('/auth/login')
      .send({ username: ['alice'] });
    expect(response.status).toBe(400);
    expect(response.body.message).toContain('username');
  });

  it('regenerates the id: the pre-login session no longer exists', async () => {
    const anonymous = await http().get('/visits');
    const anonymousCookie = cookieFrom(anonymous);
    const anonymousId = storedIdOf(anonymousCookie);
    expect(await db.sessions().countDocuments({ _id: anonymousId })).toBe(1);

    const { cookie } = await login('alice', 'alice-password', anonymousCookie);

    expect(storedIdOf(cookie)).not.toBe(anonymousId);
    expect(await db.sessions().countDocuments({ _id: anonymousId })).toBe(0);
    expect(await db.sessions().countDocuments({ _id: storedIdOf(cookie) })).toBe(1);
    expect((await http().get('/me').set('Cookie', anonymousCookie)).status).toBe(401);
  });
});

describe('GET /me', () => {
  it('is 200 with the session cookie and 401 without it', async () => {
    const { cookie } = await login('bob');
    const ok = await http().get('/me').set('Cookie', cookie);
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ userId: 'u-bob', username: 'bob', role: 'member' });

    const anonymous = await http().get('/me');
    expect(anonymous.status).toBe(401);
    expect(anonymous.body).toEqual({ statusCode: 401, error: 'Unauthorized', message: 'Authentication required' });
  });

  it('is 401 with a cookie whose signature is wrong, and the stored session is untouched', async () => {
    const { cookie } = await login('bob');
    const response = await http().get('/me').set('Cookie', tamper(cookie));
    expect(response.status).toBe(401);
    expect(await db.sessions().countDocuments({ _id: storedIdOf(cookie) })).toBe(1);
  });

  it('does not write to MongoDB for an unchanged request (touch throttling)', async () => {
    const { cookie } = await login('bob');
    const id = storedIdOf(cookie);
    const before = await db.sessions().findOne({ _id: id });
    await http().get('/me').set('Cookie', cookie).expect(200);
    const after = await db.sessions().findOne({ _id: id });
    expect(after).toEqual(before);
  });
});

describe('logout', () => {
  it('deletes the document, clears the cookie, and the old cookie is then 401', async () => {
    const { cookie } = await login('alice');
    const id = storedIdOf(cookie);

    const response = await http().post('/auth/logout').set('Cookie', cookie);

    expect(response.status).toBe(200);
    expect(response.body).toEqual({ loggedOut: true });
    expect(response.headers['cache-control']).toBe('no-store');
    const cleared = setCookieFor(response)!;
    expect(cleared).toMatch(/^sid=;/);
    expect(cleared).toContain('Path=/');
    expect(cleared).toContain('Expires=Thu, 01 Jan 1970 00:00:00 GMT');
    expect(await db.sessions().countDocuments({ _id: id })).toBe(0);

    expect((await http().get('/me').set('Cookie', cookie)).status).toBe(401);
    expect(await db.sessions().countDocuments({ _id: id })).toBe(0);
  });

  it('is harmless without a session, and writes nothing', async () => {
    const count = await db.sessions().countDocuments();
    const response = await http().post('/auth/logout');
    expect(response.status).toBe(200);
    expect(setCookieFor(response)).toMatch(/^sid=;/);
    expect(await db.sessions().countDocuments()).toBe(count);
  });
});

describe('password change', () => {
  it('logs out devices B and C and keeps device A under a new id', async () => {
    const a = await login('bob');
    const b = await login('bob');
    const c = await login('bob');
    const ids = [a, b, c].map(({ cookie }) => storedIdOf(cookie));
    const others = await db.sessions().countDocuments({ 'session.userId': { $ne: 'u-bob' } });
    expect(await db.sessions().countDocuments({ _id: { $in: ids } })).toBe(3);

    const response = await http()
      .post('/auth/password')
      .set('Cookie', a.cookie)
      .send({ currentPassword: 'bob-password', newPassword: 'bob-new-password' });

    expect(response.status).toBe(200);
    expect(response.body).toEqual({ changed: true });
    const renewed = cookieFrom(response);
    const newId = storedIdOf(renewed);
    expect(ids).not.toContain(newId);

    const bobs = await db.byUser('u-bob');
    expect(bobs.map((document) => document._id)).toEqual([newId]);
    expect(await db.sessions().countDocuments({ 'session.userId': { $ne: 'u-bob' } })).toBe(others);

    for (const old of [a, b, c]) expect((await http().get('/me').set('Cookie', old.cookie)).status).toBe(401);
    const me = await http().get('/me').set('Cookie', renewed);
    expect(me.status).toBe(200);
    expect(me.body.userId).toBe('u-bob');

    expect((await http().post('/auth/login').send({ username: 'bob', password: 'bob-password' })).status).toBe(401);
    await login('bob', 'bob-new-password');
  });

  it('destroys nothing when the handler fails (wrong current password)', async () => {
    const a = await login('alice');
    const b = await login('alice');

    const response = await http()
      .post('/auth/password')
      .set('Cookie', a.cookie)
      .send({ currentPassword: 'not-it', newPassword: 'whatever-else' });

    expect(response.status).toBe(403);
    expect(setCookieFor(response)).toBeUndefined();
    for (const device of [a, b]) {
      expect(await db.sessions().countDocuments({ _id: storedIdOf(device.cookie) })).toBe(1);
      expect((await http().get('/me').set('Cookie', device.cookie)).status).toBe(200);
    }
  });

  it('is 401 without a session', async () => {
    const response = await http().post('/auth/password').send({ currentPassword: 'x', newPassword: 'yyyyyyyy' });
    expect(response.status).toBe(401);
  });
});

describe('GET /auth/sessions', () => {
  it("lists the user's live sessions by public handle, marks the current one, never leaks ids", async () => {
    await db.sessions().deleteMany({ 'session.userId': 'u-alice' });
    const first = await login('alice');
    const second = await login('alice');
    expect(await db.sessions().countDocuments({ 'session.userId': 'u-bob' })).toBeGreaterThan(0);

    const response = await http().get('/auth/sessions').set('Cookie', second.cookie);

    expect(response.status).toBe(200);
    expect(response.body).toHaveLength(2);
    expect(response.body.filter((s: { current: boolean }) => s.current)).toHaveLength(1);
    const text = JSON.stringify(response.body);
    for (const { cookie } of [first, second]) expect(text).not.toContain(sessionIdOf(cookie));
    expect(text).not.toContain('u-bob');
  });
});

describe('DELETE /auth/sessions/:handle', () => {
  it("ends one of the user's devices (204, no-store); another user's or an unknown handle is 404, a malformed one 400", async () => {
    const phone = await login('alice');
    const laptop = (await login('alice')).cookie;
    const listed = await http().get('/auth/sessions').set('Cookie', laptop);
    const phoneHandle = (await db.handleOf(phone.cookie))!;
    expect(listed.body.map((s: { handle: string }) => s.handle)).toContain(phoneHandle);
    expect(listed.body[0]).toEqual(expect.objectContaining({ ip: '127.0.0.1', lastSeenAt: expect.any(String) }));

    const bobs = (
      await http()
        .get('/auth/sessions')
        .set('Cookie', (await login('bob', 'bob-new-password')).cookie)
    ).body;
    const notMine = await http().delete(`/auth/sessions/${bobs[0].handle}`).set('Cookie', laptop);
    expect(notMine.status).toBe(404);
    expect(
      (
        await http()
          .delete(`/auth/sessions/${'A'.repeat(22)}`)
          .set('Cookie', laptop)
      ).status,
    ).toBe(404);
    // Not of the handle format at all: a malformed request, refused before any query.
    expect((await http().delete('/auth/sessions/unknown-handle').set('Cookie', laptop)).status).toBe(400);

    const revoked = await http().delete(`/auth/sessions/${phoneHandle}`).set('Cookie', laptop);
    expect(revoked.status).toBe(204);
    expect(revoked.headers['cache-control']).toBe('no-store');
    expect(await db.sessions().countDocuments({ _id: storedIdOf(phone.cookie) })).toBe(0);
    expect((await http().get('/me').set('Cookie', phone.cookie)).status).toBe(401);
    expect((await http().get('/me').set('Cookie', laptop)).status).toBe(200);
  });
});

describe('POST /auth/logout-everywhere', () => {
  it("ends every one of the user's sessions, this one included, and no other user's", async () => {
    const phone = (await login('alice')).cookie;
    const laptop = (await login('alice')).cookie;
    const bob = (await login('bob', 'bob-new-password')).cookie;
    const aliceSessions = () => db.sessions().countDocuments({ 'session.userId': 'u-alice' });
    expect(await aliceSessions()).toBeGreaterThanOrEqual(2);

    const response = await http().post('/auth/logout-everywhere').set('Cookie', laptop);
    expect(response.status).toBe(200);
    expect(response.body.ended).toBeGreaterThanOrEqual(2);
    expect(setCookieFor(response)).toMatch(/Expires=Thu, 01 Jan 1970/);
    expect(response.headers['cache-control']).toBe('no-store');
    expect(await aliceSessions()).toBe(0);
    for (const cookie of [phone, laptop]) expect((await http().get('/me').set('Cookie', cookie)).status).toBe(401);
    expect((await http().get('/me').set('Cookie', bob)).status).toBe(200);
    expect(await db.sessions().countDocuments({ _id: storedIdOf(bob) })).toBe(1);
  });

  it('is 401 without a session, and ends nothing', async () => {
    const before = await db.sessions().countDocuments({});
    expect((await http().post('/auth/logout-everywhere')).status).toBe(401);
    expect(await db.sessions().countDocuments({})).toBe(before);
  });
});

describe('lifecycle events through @nestjs/event-emitter', () => {
  it('reach the application listener, with handles and no session ids', async () => {
    const audit = app.get(SessionAuditListener);
    const seen = audit.recent.length;
    const { cookie } = await login('alice');
    await http().post('/auth/logout').set('Cookie', cookie).expect(200);
    const events = audit.recent.slice(seen);
    expect(events.map((e) => `${e.type}:${e.reason}:${String(e.userId)}`)).toEqual([
      'created:login:u-alice',
      'destroyed:logout:u-alice',
    ]);
    expect(JSON.stringify(events)).not.toContain(sessionIdOf(cookie));
  });
});

describe('sudo mode (POST /auth/confirm, GET /auth/recovery-codes)', () => {
  it('shows the codes right after login, asks for the password 15 min later, and shows them after it', async () => {
    const { cookie } = await login('alice');
    await http().get('/auth/recovery-codes').set('Cookie', cookie).expect(200);

    const loginAt = new Date(Date.now() - 901_000);
    await db.sessions().updateOne({ _id: storedIdOf(cookie) }, { $set: { loginAt } });
    const refused = await http().get('/auth/recovery-codes').set('Cookie', cookie).expect(403);
    expect(refused.body).toMatchObject({ statusCode: 403, reason: 'reauthenticate', maxAgeSeconds: 900 });

    const before = await db.sessions().findOne({ _id: storedIdOf(cookie) });
    await http().post('/auth/confirm').set('Cookie', cookie).send({ password: 'bob-password' }).expect(403);
    expect(await db.sessions().findOne({ _id: storedIdOf(cookie) })).toEqual(before);

    const confirmed = cookieFrom(
      await http().post('/auth/confirm').set('Cookie', cookie).send({ password: 'alice-password' }).expect(200),
    );
    const stored = (await db.sessions().findOne({ _id: storedIdOf(confirmed) })) as Record<string, unknown> | null;
    expect(stored).toMatchObject({ loginAt, handle: before!.handle });
    expect(stored!.reauthenticatedAt).toBeInstanceOf(Date);
    const codes = await http().get('/auth/recovery-codes').set('Cookie', confirmed).expect(200);
    expect(codes.body).toMatchObject({ userId: 'u-alice' });
    await http().get('/auth/recovery-codes').expect(401);
  });
});

describe('expiry', () => {
  it('never serves an expired session, whatever the cleanup mode', async () => {
    const { cookie } = await login('alice');
    const id = storedIdOf(cookie);
    await db.sessions().updateOne({ _id: id }, { $set: { expires: new Date(Date.now() - 1000) } });

    expect((await http().get('/me').set('Cookie', cookie)).status).toBe(401);
    const listed = await http()
      .get('/auth/sessions')
      .set('Cookie', (await login('alice')).cookie);
    expect(JSON.stringify(listed.body)).not.toContain(id);
    expect(listed.body.every((s: { expiresAt: string }) => Date.parse(s.expiresAt) > Date.now())).toBe(true);
  });
});

describe('indexes', () => {
  it('indexes the user id and handle so per-user queries and revocations do not scan the collection', async () => {
    const indexes = await db.sessions().listIndexes().toArray();
    expect(indexes.map((index) => index.key)).toContainEqual({ 'session.userId': 1, handle: 1 });
  });
});
