import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { MongoClient } from 'mongodb';
import { SessionModule } from 'nestjs-typed-session';
import request from 'supertest';
import { cookieFrom, sessionIdOf, setCookieFor, signedCookie, storedIdOf } from './support/cookies.js';
import { mongoUri, TestDatabase } from './support/database.js';
import { scenarioOptions, startScenarioApp } from './scenarios/routes.scenario.js';

let app: INestApplication;
let db: TestDatabase;
const http = () => request(app.getHttpServer());

async function login(userId: string, cookie?: string): Promise<string> {
  const req = http().post('/s/login').send({ userId });
  const response = await (cookie ? req.set('Cookie', cookie) : req);
  expect(response.status).toBe(200);
  return cookieFrom(response);
}

beforeAll(async () => {
  db = new TestDatabase();
  app = await startScenarioApp(SessionModule.forRoot(scenarioOptions(db)));
});

afterAll(async () => {
  await app?.close();
  await db?.close();
});

describe('AuthGuard per route', () => {
  it('answers 401 without a session and 200 with one', async () => {
    expect((await http().get('/s/guarded')).status).toBe(401);
    const cookie = await login('u-guard');
    const response = await http().get('/s/guarded').set('Cookie', cookie);
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ userId: 'u-guard' });
  });

  it('treats an anonymous session with data as not authenticated', async () => {
    const visit = await http().post('/s/visit');
    const cookie = cookieFrom(visit);
    expect(await db.sessions().countDocuments({ _id: storedIdOf(cookie) })).toBe(1);
    expect((await http().get('/s/guarded').set('Cookie', cookie)).status).toBe(401);
  });
});

describe('get / set / patch / unset / save', () => {
  it('stores only a hash of the session id: nothing in the collection can be presented as a cookie', async () => {
    const cookie = await login('u-hashed');
    const id = sessionIdOf(cookie);
    const documents = await db.sessions().find({}).toArray();
    expect(documents.map((document) => document._id)).toContain(storedIdOf(cookie));
    expect(JSON.stringify(documents)).not.toContain(id);
    // What a reader of the collection holds is not a session: as a cookie it is refused.
    const stolen = signedCookie(storedIdOf(cookie), 'scenario-test-secret');
    expect((await http().get('/s/guarded').set('Cookie', stolen)).status).toBe(401);
    expect((await http().get('/s/guarded').set('Cookie', cookie)).status).toBe(200);
  });

  it('requireUserId() answers 401 without a login and the user id with one', async () => {
    const anonymous = await http().get('/s/whoami');
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.message).toBe('Authentication required');
    const cookie = await login('u-require');
    await http().get('/s/whoami').set('Cookie', cookie).expect(200, { userId: 'u-require' });
  });

  it('stores typed values and reads them back, in the document too', async () => {
    const cookie = await login('u-data');
    const id = storedIdOf(cookie);

    const patched = await http().post('/s/patch').set('Cookie', cookie).send({ visits: 3, role: 'admin' });
    expect(patched.body).toEqual({ userId: 'u-data', username: 'u-data', role: 'admin', visits: 3 });
    expect((await db.sessions().findOne({ _id: id }))?.session).toMatchObject({ role: 'admin', visits: 3 });

    const unset = await http().post('/s/patch').set('Cookie', cookie).send({ unsetVisits: true });
    expect(unset.body).not.toHaveProperty('visits');
    expect((await db.sessions().findOne({ _id: id }))?.session).not.toHaveProperty('visits');
  });

  it('refuses reserved and unsafe keys with 400, storing nothing and polluting no prototype', async () => {
    const cookie = await login('u-keys');
    const id = storedIdOf(cookie);
    const before = await db.sessions().findOne({ _id: id });
    for (const key of ['__proto__', 'constructor', 'cookie', '$where', 'a.b']) {
      const response = await http().post('/s/bad-key').set('Cookie', cookie).send({ key });
      expect(response.status).toBe(400);
      expect(response.body.message).toContain(`Session key ${JSON.stringify(key)} cannot be stored`);
      expect(JSON.stringify(response.body)).not.toMatch(/\bat \S+ \(/);
    }
    expect(await db.sessions().findOne({ _id: id })).toEqual(before);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it('refuses to set the user id outside login(), which rotates the id first (no fixation)', async () => {
    const visit = await http().post('/s/visit');
    const cookie = cookieFrom(visit);
    const response = await http().post('/s/bad-key').set('Cookie', cookie).send({ key: 'userId' });
    expect(response.status).toBe(400);
    expect(response.body.message).toBe(
      '"userId" (the user id) is set by login() only, which rotates the session id first.',
    );
    expect((await db.sessions().findOne({ _id: storedIdOf(cookie) }))?.session).not.toHaveProperty('userId');
    expect((await http().get('/s/guarded').set('Cookie', cookie)).status).toBe(401);
  });
});

describe('regenerate', () => {
  it('gives a new id, deletes the old document and keeps only the listed keys', async () => {
    const cookie = await login('u-regen');
    await http().post('/s/patch').set('Cookie', cookie).send({ visits: 7 });
    const oldId = sessionIdOf(cookie);

    const response = await http().post('/s/regenerate').set('Cookie', cookie);

    expect(response.status).toBe(200);
    const newCookie = cookieFrom(response);
    const newId = sessionIdOf(newCookie);
    expect(newId).not.toBe(oldId);
    expect(response.body).toEqual({ id: newId, data: { visits: 7 } });
    expect(await db.sessions().countDocuments({ _id: storedIdOf(cookie) })).toBe(0);
    expect((await db.sessions().findOne({ _id: storedIdOf(newCookie) }))?.session).toMatchObject({ visits: 7 });
    expect((await db.sessions().findOne({ _id: storedIdOf(newCookie) }))?.session).not.toHaveProperty('userId');
    expect((await http().get('/s/guarded').set('Cookie', newCookie)).status).toBe(401);
  });
});

describe('destroy', () => {
  it('is harmless when called twice in one request', async () => {
    const cookie = await login('u-twice');
    const response = await http().post('/s/destroy-twice').set('Cookie', cookie);
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ session: null });
    expect(setCookieFor(response)).toMatch(/^sid=;.*Expires=Thu, 01 Jan 1970/);
    expect(await db.sessions().countDocuments({ _id: storedIdOf(cookie) })).toBe(0);
  });

  it('is harmless on a request without a session', async () => {
    const count = await db.sessions().countDocuments();
    const response = await http().post('/s/destroy-twice');
    expect(response.status).toBe(200);
    expect(await db.sessions().countDocuments()).toBe(count);
  });

  it('LogoutInterceptor destroys nothing when the handler throws', async () => {
    const cookie = await login('u-fails');
    const response = await http().post('/s/logout-fails').set('Cookie', cookie);
    expect(response.status).toBe(400);
    expect(setCookieFor(response)).toBeUndefined();
    expect(await db.sessions().countDocuments({ _id: storedIdOf(cookie) })).toBe(1);
    expect((await http().get('/s/guarded').set('Cookie', cookie)).status).toBe(200);
  });
});

describe('destroyAllForUser', () => {
  it('ends every session of the user, the current one included, and no one else', async () => {
    const devices = [await login('u-all'), await login('u-all'), await login('u-all')];
    const bystander = await login('u-bystander');

    const response = await http().post('/s/logout-everywhere').set('Cookie', devices[0]);

    expect(response.body).toEqual({ ended: 3 });
    expect(setCookieFor(response)).toMatch(/^sid=;/);
    expect(await db.byUser('u-all')).toEqual([]);
    for (const cookie of devices) expect((await http().get('/s/guarded').set('Cookie', cookie)).status).toBe(401);
    expect((await http().get('/s/guarded').set('Cookie', bystander)).status).toBe(200);
  });

  it('with exceptCurrent, keeps the current session', async () => {
    const [current, other] = [await login('u-except'), await login('u-except')];
    const response = await http().post('/s/logout-others').set('Cookie', current);
    expect(response.body).toEqual({ ended: 1 });
    expect((await db.byUser('u-except')).map((document) => document._id)).toEqual([storedIdOf(current)]);
    expect((await http().get('/s/guarded').set('Cookie', current)).status).toBe(200);
    expect((await http().get('/s/guarded').set('Cookie', other)).status).toBe(401);
  });
});

describe('forRoot with an existing MongoClient', () => {
  it('uses it and leaves it open at shutdown', async () => {
    const client = new MongoClient(mongoUri());
    const other = new TestDatabase();
    const clientApp = await startScenarioApp(
      SessionModule.forRoot({ ...scenarioOptions(other), uri: undefined, client }),
    );
    try {
      const response = await request(clientApp.getHttpServer()).post('/s/login').send({ userId: 'u-client' });
      expect(response.status).toBe(200);
      expect(await other.sessions().countDocuments({ _id: storedIdOf(cookieFrom(response)) })).toBe(1);
    } finally {
      await clientApp.close();
    }
    await expect(client.db(other.name).command({ ping: 1 })).resolves.toMatchObject({ ok: 1 });
    await client.close();
    await other.close();
  });
});

describe('database work of an unchanged authenticated request', () => {
  /** Runs `requests` guarded GETs with one session on an app whose client records its commands. */
  async function commandsOf(touchAfter: number | undefined, requests: number) {
    const client = new MongoClient(mongoUri(), { monitorCommands: true });
    const other = new TestDatabase();
    const monitored = await startScenarioApp(
      SessionModule.forRoot({ ...scenarioOptions(other), uri: undefined, client, touchAfter }),
    );
    try {
      const cookie = cookieFrom(
        await request(monitored.getHttpServer()).post('/s/login').send({ userId: 'u-commands' }),
      );
      const commands: { name: string; filter?: unknown }[] = [];
      client.on('commandStarted', (event) => {
        if (event.databaseName === other.name)
          commands.push({ name: event.commandName, filter: event.command.filter ?? event.command.updates?.[0]?.q });
      });
      for (let i = 0; i < requests; i += 1) {
        const response = await request(monitored.getHttpServer()).get('/s/guarded').set('Cookie', cookie);
        expect(response.status).toBe(200);
        expect(setCookieFor(response)).toBeUndefined();
      }
      return { commands, id: storedIdOf(cookie) };
    } finally {
      await monitored.close();
      await client.close();
      await other.close();
    }
  }

  it('is one read by _id and no write while touch throttling holds', async () => {
    const { commands, id } = await commandsOf(undefined, 3);
    expect(commands).toEqual([1, 2, 3].map(() => ({ name: 'find', filter: { _id: id } })));
  });

  it('adds one expiry update per request when touchAfter is 0', async () => {
    const { commands, id } = await commandsOf(0, 2);
    expect(commands.map((command) => command.name)).toEqual(['find', 'update', 'find', 'update']);
    expect(commands[1].filter).toMatchObject({ _id: id });
  });
});

describe('isAuthenticated option', () => {
  it('decides what AuthGuard lets through', async () => {
    const other = new TestDatabase();
    const adminsOnly = await startScenarioApp(
      SessionModule.forRoot(scenarioOptions(other, { isAuthenticated: (session) => session.role === 'admin' })),
    );
    try {
      const agent = () => request(adminsOnly.getHttpServer());
      const member = cookieFrom(await agent().post('/s/login').send({ userId: 'u-m', role: 'member' }));
      const admin = cookieFrom(await agent().post('/s/login').send({ userId: 'u-a', role: 'admin' }));
      expect((await agent().get('/s/guarded').set('Cookie', member)).status).toBe(401);
      expect((await agent().get('/s/guarded').set('Cookie', admin)).status).toBe(200);
    } finally {
      await adminsOnly.close();
      await other.close();
    }
  });
});
