import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { SessionModule, type SessionEvent } from 'nestjs-typed-session';
import request from 'supertest';
import { cookieFrom, setCookieFor, storedIdOf } from './support/cookies.js';
import { TestDatabase } from './support/database.js';
import { scenarioOptions } from './scenarios/routes.scenario.js';
import { passwordChanges, startPasswordApp } from './scenarios/password-reset.scenario.js';

// Invalidation from a request that has no session of the user whose password changed: a reset by an e-mailed
// link, an administrator's change. `@PasswordChange({ userId })` names the user; every session of that user
// ends, and the session of the request (the administrator's) is left as it was.

const db = new TestDatabase();
const events: SessionEvent[] = [];
let app: INestApplication;
beforeAll(async () => {
  app = await startPasswordApp(SessionModule.forRoot(scenarioOptions(db, { onEvent: (event) => events.push(event) })));
});
afterAll(async () => {
  await app.close();
  await db.close();
});
beforeEach(() => {
  passwordChanges.length = 0;
  events.length = 0;
});

const http = () => request(app.getHttpServer());
const login = async (userId: string, role: 'admin' | 'member' = 'member') =>
  cookieFrom(await http().post('/r/login').send({ userId, role }).expect(200));
const doc = (cookie: string) => db.sessions().findOne({ _id: storedIdOf(cookie) });
const sessionsOf = (userId: string) => db.sessions().countDocuments({ 'session.userId': userId });

describe('@PasswordChange({ userId }) without a session of the user', () => {
  it('ends every session of the user after a reset by link, from a request with no session', async () => {
    const phone = await login('u-reset');
    const laptop = await login('u-reset');
    const other = await login('u-bystander');
    expect(await sessionsOf('u-reset')).toBe(2);

    const response = await http().post('/r/reset').send({ token: 'reset-u-reset' }).expect(200, { userId: 'u-reset' });
    expect(setCookieFor(response)).toBeUndefined(); // no session was made for the anonymous request
    expect(passwordChanges).toEqual(['reset u-reset']);

    expect(await sessionsOf('u-reset')).toBe(0);
    expect(await doc(phone)).toBeNull();
    expect(await doc(laptop)).toBeNull();
    await http().get('/r/me').set('Cookie', phone).expect(401);
    await http().get('/r/me').set('Cookie', laptop).expect(401);
    // Another user is untouched.
    await http().get('/r/me').set('Cookie', other).expect(200, { userId: 'u-bystander' });
    expect(events.filter((event) => event.type === 'revoked')).toEqual([
      expect.objectContaining({ userId: 'u-reset', reason: 'password-change' }),
      expect.objectContaining({ userId: 'u-reset', reason: 'password-change' }),
    ]);
  });

  it('ends nothing when the reset fails', async () => {
    const cookie = await login('u-bad-link');
    await http().post('/r/reset').send({ token: 'forged' }).expect(400);
    expect(await doc(cookie)).not.toBeNull();
    await http().get('/r/me').set('Cookie', cookie).expect(200);
  });

  it("ends the user's sessions when an administrator changes their password, and leaves the administrator's", async () => {
    const admin = await login('u-admin', 'admin');
    const adminBefore = await doc(admin);
    const target = await login('u-target');
    const target2 = await login('u-target');

    const response = await http()
      .post('/r/admin/users/u-target/password')
      .set('Cookie', admin)
      .expect(200, { changed: 'u-target' });
    expect(await sessionsOf('u-target')).toBe(0);
    await http().get('/r/me').set('Cookie', target).expect(401);
    await http().get('/r/me').set('Cookie', target2).expect(401);
    // The administrator's session keeps its id and its data: it was not theirs that changed.
    expect(setCookieFor(response)).toBeUndefined();
    expect((await doc(admin))?.session).toEqual(adminBefore?.session);
    await http().get('/r/me').set('Cookie', admin).expect(200, { userId: 'u-admin' });
  });

  it("rotates the current session and ends the others when the administrator's own password is the one", async () => {
    const admin = await login('u-admin-self', 'admin');
    const elsewhere = await login('u-admin-self', 'admin');
    const response = await http().post('/r/admin/users/u-admin-self/password').set('Cookie', admin).expect(200);
    const rotated = cookieFrom(response);
    expect(rotated).not.toBe(admin);
    expect(await doc(admin)).toBeNull();
    expect(await doc(elsewhere)).toBeNull();
    await http().get('/r/me').set('Cookie', rotated).expect(200, { userId: 'u-admin-self' });
    expect(await sessionsOf('u-admin-self')).toBe(1);
  });

  it('refuses a user id that is not one (an operator, an object) with 400, and ends nothing', async () => {
    const cookie = await login('u-operator');
    for (const userId of [{ $ne: null }, { $gt: '' }, ['u-operator'], '', null]) {
      const response = await http().post('/r/reset-as-sent').send({ userId }).expect(400);
      expect(response.body.message).toMatch(/user id/i);
      expect(JSON.stringify(response.body)).not.toMatch(/at .*\.js/); // no stack trace
    }
    expect(await sessionsOf('u-operator')).toBe(1);
    await http().get('/r/me').set('Cookie', cookie).expect(200);
  });

  it('refuses @PasswordChange() without userId on a request without a session, before the handler runs', async () => {
    const response = await http().post('/r/unguarded-change').expect(401);
    expect(response.body.message).toMatch(/PasswordChange/);
    expect(passwordChanges).toEqual([]); // the password was not changed: nobody could be logged out
  });
});
