import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { SessionModule, type SessionEvent } from 'nestjs-typed-session';
import request from 'supertest';
import { cookieFrom, storedIdOf } from './support/cookies.js';
import { TestDatabase } from './support/database.js';
import { scenarioOptions, startScenarioApp } from './scenarios/routes.scenario.js';

// Issue 17 (1): a user id or a handle that comes from a request body reaches the per-user APIs as it came.
// An admin route that passes `body.userId` on must not turn an operator object into "every user", nor a
// missing id into "every anonymous session": it is refused (400) before any query or lock.

let app: INestApplication;
const db = new TestDatabase();
const events: SessionEvent[] = [];
const http = () => request(app.getHttpServer());
const locks = () => db.sessions('sessions_locks');

let alice: string;
let bob: string;
let anonymous: string;

async function login(userId: string): Promise<string> {
  return cookieFrom(await http().post('/s/login').send({ userId }).expect(200));
}

/** Every stored document's `_id`, sorted: what an attempt must leave as it was. */
async function storedIds(): Promise<string[]> {
  return (
    await db
      .sessions()
      .find({}, { projection: { _id: 1 } })
      .toArray()
  )
    .map((d) => d._id)
    .sort();
}

async function handleOf(cookie: string): Promise<string> {
  const listing = await http().get('/s/sessions').set('Cookie', cookie).expect(200);
  return (listing.body as { handle: string; current: boolean }[]).find((entry) => entry.current)!.handle;
}

beforeAll(async () => {
  app = await startScenarioApp(SessionModule.forRoot(scenarioOptions(db, { onEvent: (event) => events.push(event) })));
  alice = await login('u-alice');
  bob = await login('u-bob');
  anonymous = cookieFrom(await http().post('/s/visit').expect(200));
});

afterAll(async () => {
  await app?.close();
  await db.close();
});

/** Bodies whose `userId` is not a user id: operators, a missing id, null, the empty string, other types. */
const hostileIds: [string, Record<string, unknown>][] = [
  ['{ $ne: null }', { userId: { $ne: null } }],
  ['{ $gt: "" }', { userId: { $gt: '' } }],
  ['{ $regex: ".*" }', { userId: { $regex: '.*' } }],
  ['{ $in: [...] }', { userId: { $in: ['u-alice', 'u-bob'] } }],
  ['no userId at all', {}],
  ['null', { userId: null }],
  ['the empty string', { userId: '' }],
  ['an array', { userId: ['u-bob'] }],
  ['a boolean', { userId: true }],
  ['a plain object', { userId: { id: 'u-bob' } }],
];

describe.each([
  ['listForUser', '/s/admin/list'],
  ['destroyAllForUser', '/s/admin/destroy-all'],
  ['revoke', '/s/admin/revoke'],
])('%s refuses a user id that is not a plain value', (method, path) => {
  it.each(hostileIds)('%s: 400 naming the method, nothing listed, deleted or locked', async (_name, body) => {
    const before = await storedIds();
    const handle = await handleOf(bob);
    const eventsBefore = events.length;

    const response = await http()
      .post(path)
      .set('Cookie', alice)
      .send({ ...body, handle });

    expect(response.status).toBe(400);
    expect(response.body.message).toContain(`${method}()`);
    expect(response.text).not.toContain('u-bob');
    expect(await storedIds()).toEqual(before);
    expect(await locks().countDocuments({})).toBe(0);
    expect(events.slice(eventsBefore).filter((event) => event.type === 'revoked')).toEqual([]);
  });
});

describe('revoke refuses a handle that is not one', () => {
  it.each([
    ['an operator object', { $ne: null }],
    ['a regular expression source', '.*'],
    ['an array of handles', ['a', 'b']],
    ['a number', 42],
    ['an overlong string', 'x'.repeat(500)],
  ])('%s: 400, the sessions stay', async (_name, handle) => {
    const before = await storedIds();
    const response = await http().post('/s/admin/revoke').set('Cookie', alice).send({ userId: 'u-bob', handle });
    expect(response.status).toBe(400);
    expect(response.body.message).toContain('revoke()');
    expect(await storedIds()).toEqual(before);
  });
});

describe('with plain user ids', () => {
  it("lists only that user's sessions, never the anonymous ones", async () => {
    const listing = await http().post('/s/admin/list').set('Cookie', alice).send({ userId: 'u-bob' }).expect(200);
    expect(listing.body).toHaveLength(1);
    expect(listing.body[0].data).toEqual({ userId: 'u-bob', username: 'u-bob', role: 'member' });
  });

  it("does not revoke another user's session, and revokes one's own with the id in the event", async () => {
    const bobsHandle = await handleOf(bob);
    const refused = await http()
      .post('/s/admin/revoke')
      .set('Cookie', alice)
      .send({ userId: 'u-alice', handle: bobsHandle })
      .expect(200);
    expect(refused.body).toEqual({ revoked: false });
    expect(await db.sessions().countDocuments({ _id: storedIdOf(bob) })).toBe(1);

    const second = await login('u-alice');
    const ended = await http()
      .post('/s/admin/revoke')
      .set('Cookie', alice)
      .send({ userId: 'u-alice', handle: await handleOf(second) })
      .expect(200);
    expect(ended.body).toEqual({ revoked: true });
    expect(await db.sessions().countDocuments({ _id: storedIdOf(second) })).toBe(0);
    expect(events.filter((event) => event.type === 'revoked').at(-1)).toMatchObject({ userId: 'u-alice' });
  });

  it("ends all of a user's sessions and no one else's, leaving no lock behind", async () => {
    const other = await login('u-carol');
    await login('u-carol');
    const ended = await http().post('/s/admin/destroy-all').set('Cookie', alice).send({ userId: 'u-carol' });
    expect(ended.body).toEqual({ ended: 2 });
    expect(await db.byUser('u-carol')).toEqual([]);
    expect(await db.sessions().countDocuments({ _id: { $in: [storedIdOf(alice), storedIdOf(bob)] } })).toBe(2);
    expect(await db.sessions().countDocuments({ _id: storedIdOf(anonymous) })).toBe(1);
    expect(await locks().countDocuments({})).toBe(0);
    const revoked = events.filter((event) => event.type === 'revoked' && event.userId === 'u-carol');
    expect(revoked).toHaveLength(2);
    expect((await http().get('/s/guarded').set('Cookie', other)).status).toBe(401);
  });
});

describe('login refuses a user id that is not a plain value', () => {
  it.each([
    ['an operator object', { $ne: null }],
    ['a plain object', { id: 'u-bob' }],
    ['an array', ['u-bob']],
    ['a boolean', true],
  ])('%s: 400, no session, no lock', async (_name, userId) => {
    const before = await storedIds();
    const response = await http().post('/s/login-with').send({ userId });
    expect(response.status).toBe(400);
    expect(response.body.message).toContain('login()');
    expect(await storedIds()).toEqual(before);
    expect(await locks().countDocuments({})).toBe(0);
  });
});

describe('login under maxSessionsPerUser (the user lock) refuses a user id that is not a plain value', () => {
  it.each([
    ['a plain object', { id: 'u-bob' }],
    ['an array', ['u-bob']],
    ['a number that is not finite', 'Infinity'],
  ])('%s: 400 before the lock, no session, no lock document', async (_name, userId) => {
    const limited = await startScenarioApp(
      SessionModule.forRoot(scenarioOptions(db, { collectionName: 'limited', maxSessionsPerUser: 2 })),
    );
    try {
      const body = userId === 'Infinity' ? '{"userId": 1e999}' : JSON.stringify({ userId });
      const response = await request(limited.getHttpServer())
        .post('/s/login-with')
        .set('Content-Type', 'application/json')
        .send(body);
      expect(response.status).toBe(400);
      expect(response.body.message).toContain('login()');
      expect(await db.sessions('limited').countDocuments({})).toBe(0);
      expect(await db.sessions('limited_locks').countDocuments({})).toBe(0);
    } finally {
      await limited.close();
    }
  });
});
