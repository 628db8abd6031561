import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { SessionModule } from 'nestjs-typed-session';
import request from 'supertest';
import { cookieFrom, setCookieFor, storedIdOf } from './support/cookies.js';
import { TestDatabase, type StoredSession } from './support/database.js';
import { scenarioOptions } from './scenarios/routes.scenario.js';
import { PASSWORD, startRecentAuthApp } from './scenarios/recent-auth.scenario.js';

/** A stored session with the sudo-mode stamp, as the tests read it. */
type Stored = StoredSession & { reauthenticatedAt?: unknown };

const db = new TestDatabase();
let app: INestApplication;
beforeAll(async () => {
  app = await startRecentAuthApp(
    SessionModule.forRoot(scenarioOptions(db, { recentAuthSeconds: 300, absoluteTimeout: 3600 })),
  );
});
afterAll(async () => {
  await app.close();
  await db.close();
});

const http = () => request(app.getHttpServer());
const ago = (seconds: number) => new Date(Date.now() - seconds * 1000);
const doc = (cookie: string) => db.sessions().findOne({ _id: storedIdOf(cookie) }) as Promise<Stored | null>;
const shift = (cookie: string, fields: Record<string, unknown>) =>
  db.sessions().updateOne({ _id: storedIdOf(cookie) }, { $set: fields });
const login = async (userId: string) => cookieFrom(await http().post('/a/login').send({ userId }).expect(200));
/** Confirms the password; returns the session's new cookie. */
const confirm = async (cookie: string) =>
  cookieFrom(await http().post('/a/confirm').set('Cookie', cookie).send({ password: PASSWORD }).expect(200));

const refusal = { statusCode: 403, error: 'Forbidden', reason: 'reauthenticate' };

describe('@RequireRecentAuth()', () => {
  it('lets a session logged in just now through: the login counts as an authentication', async () => {
    const cookie = await login('u-fresh');
    await http().delete('/a/account').set('Cookie', cookie).expect(200, { deleted: true });
    expect((await doc(cookie))!.reauthenticatedAt).toBeUndefined(); // the login time is the stamp
  });

  it('answers 403 reauthenticate for an older authentication, and changes nothing', async () => {
    const cookie = await login('u-stale');
    await shift(cookie, { loginAt: ago(301) });
    const before = await doc(cookie);
    const response = await http().delete('/a/account').set('Cookie', cookie).expect(403);
    expect(response.body).toEqual({
      ...refusal,
      message: expect.stringContaining('confirm your password'),
      maxAgeSeconds: 300,
    });
    expect(setCookieFor(response)).toBeUndefined();
    expect(await doc(cookie)).toEqual(before);
    await http().post('/a/email').set('Cookie', cookie).expect(403); // its own age is shorter still
  });

  it('lets the session through again after confirmAuthentication(), under a new id holding the new time', async () => {
    const cookie = await login('u-confirm');
    const loginAt = ago(1000);
    await shift(cookie, { loginAt });
    const before = (await doc(cookie))!;
    await http().delete('/a/account').set('Cookie', cookie).expect(403);

    await http().post('/a/confirm').set('Cookie', cookie).send({ password: 'wrong' }).expect(401);
    expect(await doc(cookie)).toEqual(before); // a wrong password stamps nothing

    const stampedAfter = Date.now();
    const confirmed = await confirm(cookie);
    expect(confirmed).not.toBe(cookie); // rotated: the id seen before the elevation does not carry it
    expect(await doc(cookie)).toBeNull();
    const after = (await doc(confirmed))!;
    expect(after.reauthenticatedAt).toBeInstanceOf(Date);
    expect((after.reauthenticatedAt as Date).getTime()).toBeGreaterThanOrEqual(stampedAfter - 1);
    expect((after.reauthenticatedAt as Date).getTime()).toBeLessThanOrEqual(Date.now());
    // The same session: handle, data and login time (so the absolute timeout) carry over.
    expect(after.handle).toBe(before.handle);
    expect(after.loginAt).toEqual(loginAt);
    expect(after.session.userId).toBe('u-confirm');
    expect(after.expires.getTime()).toBeLessThanOrEqual(loginAt.getTime() + 3600_000);

    await http().delete('/a/account').set('Cookie', confirmed).expect(200);
    await http().post('/a/email').set('Cookie', confirmed).expect(200);
    await http().delete('/a/account').set('Cookie', cookie).expect(401); // the old id is dead
  });

  it('renews the CSRF token at confirmation, as at login', async () => {
    const cookie = await login('u-csrf');
    const { token } = (await http().get('/a/csrf').set('Cookie', cookie).expect(200)).body as { token: string };
    const confirmed = await confirm(cookie);
    const renewed = (await http().get('/a/csrf').set('Cookie', confirmed).expect(200)).body as { token: string };
    expect(renewed.token).not.toBe(token);
  });

  it('keeps the stamp through regenerate({ keep }), and a new login starts from the login time again', async () => {
    const cookie = await confirm(await login('u-keep'));
    const stamp = (await doc(cookie))!.reauthenticatedAt;
    const rotated = cookieFrom(await http().post('/a/rotate').set('Cookie', cookie).expect(200));
    expect((await doc(rotated))!.reauthenticatedAt).toEqual(stamp);

    await shift(rotated, { loginAt: ago(3000), reauthenticatedAt: ago(100) });
    await http().delete('/a/account').set('Cookie', rotated).expect(200); // the later of the two counts

    const again = cookieFrom(
      await http().post('/a/login').set('Cookie', rotated).send({ userId: 'u-keep' }).expect(200),
    );
    const stored = (await doc(again))!;
    expect(stored.reauthenticatedAt).toBeUndefined();
    expect(Date.now() - stored.loginAt!.getTime()).toBeLessThan(5000);
  });

  it('answers 401 without a logged-in session, and confirmAuthentication() does too', async () => {
    await http().delete('/a/account').expect(401);
    const anonymous = cookieFrom(await http().post('/a/visit').expect(200));
    await http().delete('/a/account').set('Cookie', anonymous).expect(401);
    await http().post('/a/confirm').set('Cookie', anonymous).send({ password: PASSWORD }).expect(401);
    expect((await doc(anonymous))!.reauthenticatedAt).toBeUndefined();
  });

  it("lets a handler's own age override the option, and a controller's cover its routes", async () => {
    const cookie = await login('u-ages');
    await shift(cookie, { loginAt: ago(120) });
    await http().delete('/a/account').set('Cookie', cookie).expect(200); // option: 300 s
    const strict = await http().post('/a/email').set('Cookie', cookie).expect(403); // handler: 60 s
    expect(strict.body).toMatchObject({ ...refusal, maxAgeSeconds: 60 });

    await http().get('/vault/codes').set('Cookie', cookie).expect(200); // controller: 600 s
    const renew = await http().post('/vault/codes').set('Cookie', cookie).expect(403); // handler over controller
    expect(renew.body).toMatchObject({ maxAgeSeconds: 30 });
    await shift(cookie, { loginAt: ago(601) });
    await http().get('/vault/codes').set('Cookie', cookie).expect(403);
  });

  it('does not let through a session ended elsewhere, nor confirm it', async () => {
    const laptop = await login('u-ended');
    const phone = await login('u-ended');
    await http().post('/a/logout-everywhere').set('Cookie', phone).expect(200, { ended: 2 });
    await http().delete('/a/account').set('Cookie', laptop).expect(401);
    await http().post('/a/confirm').set('Cookie', laptop).send({ password: PASSWORD }).expect(401);
    expect(await db.byUser('u-ended')).toEqual([]);
  });
});

describe('the stamp cannot be forged', () => {
  it('is not writable through session data: a client that sends the times in a form stays refused', async () => {
    const cookie = await login('u-forge');
    await shift(cookie, { loginAt: ago(1000) });
    const now = new Date().toISOString();
    await http()
      .post('/a/profile')
      .set('Cookie', cookie)
      .send({ reauthenticatedAt: now, loginAt: now, authenticatedAt: now })
      .expect(200);
    const stored = (await doc(cookie))!;
    expect(stored.session.reauthenticatedAt).toBe(now); // mere data, inside the session
    expect(stored.reauthenticatedAt).toBeUndefined(); // the stamp beside it is untouched
    expect(stored.loginAt!.getTime()).toBeLessThan(Date.now() - 999_000);
    await http().delete('/a/account').set('Cookie', cookie).expect(403);
  });

  it('fails closed on a stored stamp that is not a time, or lies in the future', async () => {
    const cookie = await login('u-odd');
    await shift(cookie, { loginAt: ago(1000), reauthenticatedAt: new Date(Date.now() + 3600_000).toISOString() });
    await http().delete('/a/account').set('Cookie', cookie).expect(403);
    await shift(cookie, { reauthenticatedAt: new Date(Date.now() + 3600_000) });
    await http().delete('/a/account').set('Cookie', cookie).expect(403);
    await shift(cookie, { reauthenticatedAt: Date.now() });
    await http().delete('/a/account').set('Cookie', cookie).expect(403);
  });
});
