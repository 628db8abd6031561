import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { SessionModule, type SessionModuleOptions } from 'nestjs-typed-session';
import request from 'supertest';
import { cookieFrom, storedIdOf } from './support/cookies.js';
import { TestDatabase } from './support/database.js';
import { scenarioOptions, startScenarioApp } from './scenarios/routes.scenario.js';

// Issue 17: a session's size is bounded (`maxSessionBytes`, 64 KiB by default), and data the server cannot
// store (an array inside an array: FerretDB 1.x refuses it at save) is refused up front, with 400 and
// nothing written, whichever way it was put in the session.

const db = new TestDatabase();
const running: INestApplication[] = [];
afterAll(async () => {
  for (const app of running) await app.close();
  await db.close();
});

async function appWith(overrides: Partial<SessionModuleOptions> = {}) {
  const app = await startScenarioApp(SessionModule.forRoot(scenarioOptions(db, overrides)));
  running.push(app);
  const http = () => request(app.getHttpServer());
  const login = async (userId: string) => cookieFrom(await http().post('/s/login').send({ userId }).expect(200));
  return { http, login };
}

describe('maxSessionBytes, by default 64 KiB', () => {
  let app: Awaited<ReturnType<typeof appWith>>;
  beforeAll(async () => {
    app = await appWith();
  });

  it('stores a session of 60 KiB', async () => {
    const cookie = await app.login('u-60k');
    await app
      .http()
      .post('/s/profile')
      .set('Cookie', cookie)
      .send({ bio: 'x'.repeat(60 * 1024) })
      .expect(200);
    expect((await db.sessions().findOne({ _id: storedIdOf(cookie) }))?.session.bio).toHaveLength(60 * 1024);
  });

  it('refuses patches that together grow past it: 400, the stored session as it was', async () => {
    const cookie = await app.login('u-growing');
    const id = storedIdOf(cookie);
    await app
      .http()
      .post('/s/profile')
      .set('Cookie', cookie)
      .send({ bio: 'x'.repeat(40 * 1024) })
      .expect(200);
    const before = await db.sessions().findOne({ _id: id });

    const response = await app
      .http()
      .post('/s/profile')
      .set('Cookie', cookie)
      .send({ motto: 'y'.repeat(40 * 1024) });

    expect(response.status).toBe(400);
    expect(response.body.message).toMatch(/more than the 65536 the maxSessionBytes option allows/);
    expect(await db.sessions().findOne({ _id: id })).toEqual(before);
    expect((await app.http().get('/s/state').set('Cookie', cookie)).body.data.motto).toBeUndefined();
  });

  it('refuses data put on req.session directly past it, at save: 400, nothing written', async () => {
    const cookie = await app.login('u-direct');
    const id = storedIdOf(cookie);
    const before = await db.sessions().findOne({ _id: id });
    const response = await app
      .http()
      .post('/s/raw-write')
      .set('Cookie', cookie)
      .send({ key: 'bio', value: 'x'.repeat(70 * 1024) });
    expect(response.status).toBe(400);
    expect(await db.sessions().findOne({ _id: id })).toEqual(before);
  });

  it('refuses an array inside an array put on req.session directly: 400, nothing written', async () => {
    const cookie = await app.login('u-direct-grid');
    const id = storedIdOf(cookie);
    const before = await db.sessions().findOne({ _id: id });
    const response = await app
      .http()
      .post('/s/raw-write')
      .set('Cookie', cookie)
      .send({ key: 'grid', value: [[1], [2]] });
    expect(response.status).toBe(400);
    expect(response.body.message).toContain('grid[0]');
    expect(await db.sessions().findOne({ _id: id })).toEqual(before);
  });

  it.each([
    ['a value past the limit', 'bio', 'x'.repeat(70 * 1024), /maxSessionBytes/],
    ["express-session's own member name", 'touch', 1, /touch/],
    ["express-session's own member name", 'resetMaxAge', 1, /resetMaxAge/],
  ])(
    'refuses %s put on req.session directly and left to the commit (%s): 400, nothing written',
    async (_case, key, value, message) => {
      const cookie = await app.login(`u-unsaved-${key}`);
      const id = storedIdOf(cookie);
      const before = await db.sessions().findOne({ _id: id });
      const response = await app.http().post('/s/raw-write-unsaved').set('Cookie', cookie).send({ key, value });
      expect(response.status).toBe(400);
      expect(response.body.message).toMatch(message);
      expect(await db.sessions().findOne({ _id: id })).toEqual(before);
      await app.http().get('/s/state').set('Cookie', cookie).expect(200);
    },
  );

  it('refuses a login whose data is past it: 400, no new session', async () => {
    const before = await db.sessions().countDocuments({});
    const response = await app
      .http()
      .post('/s/login-with')
      .send({ userId: 'u-big-login', bio: 'x'.repeat(70 * 1024) });
    expect(response.status).toBe(400);
    expect(await db.sessions().countDocuments({})).toBe(before);
  });
});

describe('maxSessionBytes, set lower', () => {
  it('applies the limit configured', async () => {
    const app = await appWith({ maxSessionBytes: 2048 });
    const cookie = await app.login('u-small');
    await app
      .http()
      .post('/s/profile')
      .set('Cookie', cookie)
      .send({ bio: 'x'.repeat(1000) })
      .expect(200);
    const refused = await app
      .http()
      .post('/s/profile')
      .set('Cookie', cookie)
      .send({ bio: 'x'.repeat(3000) });
    expect(refused.status).toBe(400);
    expect((await db.sessions().findOne({ _id: storedIdOf(cookie) }))?.session.bio).toHaveLength(1000);
  });
});
