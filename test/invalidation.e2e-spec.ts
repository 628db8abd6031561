import { afterAll, describe, expect, it } from '@jest/globals';
import { RequestMethod, type INestApplication } from '@nestjs/common';
import { MongoClient, type CommandStartedEvent } from 'mongodb';
import { SessionModule, type SessionEvent, type SessionModuleOptions } from 'nestjs-typed-session';
import request from 'supertest';
import { MongoSessionStore as SessionStore } from '../src/session/store/mongodb/mongo-session.store.js';
import { cookieFrom, sessionIdOf, setCookieFor, storedIdOf } from './support/cookies.js';
import { mongoUri, TestDatabase } from './support/database.js';
import { Gate, gates, scenarioOptions, startScenarioApp } from './scenarios/routes.scenario.js';

// The paths around ending a session that a well-behaved client never walks: a rotation that meets a logout,
// data that cannot be stored, timeouts lowered after sessions were written, logins that queue for the
// session limit, routes that must not wait for MongoDB.

const running: INestApplication[] = [];
const databases: TestDatabase[] = [];
const clients: MongoClient[] = [];
afterAll(async () => {
  for (const app of running) await app.close();
  for (const db of databases) await db.close();
  for (const client of clients) await client.close();
});

/** A scenario app on a database of its own (or the one given), recording every lifecycle event. */
async function setup(overrides: Partial<SessionModuleOptions> = {}, db?: TestDatabase) {
  const database = db ?? new TestDatabase();
  if (!db) databases.push(database);
  const events: SessionEvent[] = [];
  const app = await startScenarioApp(
    SessionModule.forRoot(scenarioOptions(database, { onEvent: (event) => events.push(event), ...overrides })),
  );
  running.push(app);
  const http = () => request(app.getHttpServer());
  const login = async (userId: string) => cookieFrom(await http().post('/s/login').send({ userId }).expect(200));
  return { app, http, login, events, db: database, store: app.get(SessionStore) };
}

const ago = (ms: number) => new Date(Date.now() - ms);

/** Starts a rotation that keeps the data, held in its handler (its session loaded) until the gate opens. */
async function heldRotation(s: Awaited<ReturnType<typeof setup>>, cookie: string) {
  const gate = (gates.current = new Gate());
  const rotation = s
    .http()
    .post('/s/held-regenerate')
    .set('Cookie', cookie)
    .then((response) => response);
  await gate.reached();
  return { gate, rotation };
}

describe('a rotation that meets the end of its session', () => {
  it('answers 401 with no new cookie and leaves no document when the session is logged out meanwhile', async () => {
    const s = await setup();
    const cookie = await s.login('u-rotate');
    const { gate, rotation } = await heldRotation(s, cookie);
    await s.http().post('/s/logout').set('Cookie', cookie).expect(200);
    gate.open();
    const response = await rotation;

    expect(response.status).toBe(401);
    expect(response.body.message).toMatch(/session has ended/);
    // The cookie is cleared, never replaced by a new id.
    const line = setCookieFor(response);
    expect(line === undefined || line.startsWith('sid=;')).toBe(true);
    expect(await s.db.sessions().countDocuments({})).toBe(0);
  });

  it('keeps the data under the new id, and the old id is gone, when nothing ended it', async () => {
    const s = await setup();
    const cookie = await s.login('u-rotate-ok');
    const { gate, rotation } = await heldRotation(s, cookie);
    gate.open();
    const response = await rotation;
    expect(response.status).toBe(200);
    const fresh = cookieFrom(response);
    expect(sessionIdOf(fresh)).not.toBe(sessionIdOf(cookie));
    const documents = await s.db.sessions().find({}).toArray();
    expect(documents.map((document) => document._id)).toEqual([storedIdOf(fresh)]);
    expect(documents[0].session.userId).toBe('u-rotate-ok');
    await s.http().get('/s/guarded').set('Cookie', fresh).expect(200, { userId: 'u-rotate-ok' });
    await s.http().get('/s/guarded').set('Cookie', cookie).expect(401);
  });
});

describe('data that MongoDB would refuse', () => {
  it('refuses a key containing NUL with 400, at the top and nested, and stores nothing', async () => {
    const s = await setup();
    const cookie = await s.login('u-nul');
    const before = await s.db.sessions().findOne({ _id: storedIdOf(cookie) });
    for (const body of [{ 'a\u0000b': 1 }, { visits: { 'x\u0000': 1 } }]) {
      const response = await s.http().post('/s/raw-patch').set('Cookie', cookie).send(body);
      expect(response.status).toBe(400);
      expect(response.body.message).toMatch(/cannot be stored/);
    }
    expect(await s.db.sessions().findOne({ _id: storedIdOf(cookie) })).toEqual(before);
  });

  it("refuses a value nested past MongoDB's limit with 400 (10 000 levels: no stack overflow)", async () => {
    const s = await setup();
    const cookie = await s.login('u-deep');
    const nest = (levels: number) => {
      let value: Record<string, unknown> = {};
      for (let level = 1; level < levels; level += 1) value = { a: value };
      return value;
    };
    // Sent as text: the HTTP client's own serializer recurses.
    const deepJson = `{"visits":${'{"a":'.repeat(9_999)}{}${'}'.repeat(9_999)}}`;
    const deep = await s.http().post('/s/raw-patch').set('Cookie', cookie).type('json').send(deepJson);
    expect(deep.status).toBe(400);
    expect(deep.body.message).toMatch(/nests deeper than 98 levels/);
    const over = await s
      .http()
      .post('/s/raw-patch')
      .set('Cookie', cookie)
      .send({ visits: nest(99) });
    expect(over.status).toBe(400);

    // The deepest value allowed is stored and read back whole.
    const deepest = nest(98);
    await s.http().post('/s/raw-patch').set('Cookie', cookie).send({ visits: deepest }).expect(200);
    const stored = await s.db.sessions().findOne({ _id: storedIdOf(cookie) });
    expect(stored!.session.visits).toEqual(deepest);
    const state = await s.http().get('/s/state').set('Cookie', cookie).expect(200);
    expect(state.body.data.visits).toEqual(deepest);
  });
});

describe('timeouts lowered after sessions were written', () => {
  it('reach listing, the session limit and cleanup, which reports each expiry', async () => {
    const db = new TestDatabase();
    databases.push(db);
    const before = await setup({ idleTimeout: 3600 }, db);
    const idle = await before.login('u-lowered');
    const old = await before.login('u-lowered-abs');
    // Idle for 10 minutes; logged in 2 hours ago: live under the old settings.
    await db.sessions().updateOne({ _id: storedIdOf(idle) }, { $set: { lastSeenAt: ago(600_000) } });
    await db.sessions().updateOne({ _id: storedIdOf(old) }, { $set: { loginAt: ago(7_200_000) } });

    // Restarted with a 5 minute idle timeout, a 1 hour absolute timeout and one session per user.
    const after = await setup(
      { idleTimeout: 300, absoluteTimeout: 3600, maxSessionsPerUser: 1, onSessionLimit: 'refuse' },
      db,
    );
    const fresh = await after.login('u-lowered'); // the idle session no longer counts against the limit
    const listed = await after.http().get('/s/sessions').set('Cookie', fresh).expect(200);
    expect(listed.body).toHaveLength(1);
    expect(listed.body[0].current).toBe(true);

    expect(await after.store.sessions.removeExpired()).toBe(2);
    const left = await db.sessions().find({}).toArray();
    expect(left.map((document) => document._id)).toEqual([storedIdOf(fresh)]);
    const expired = after.events.filter((event) => event.type === 'expired');
    expect(expired.map(({ userId, reason }) => `${userId}:${reason}`).sort()).toEqual([
      'u-lowered-abs:absolute-timeout',
      'u-lowered:idle-timeout',
    ]);
    expect(await after.store.sessions.removeExpired()).toBe(0); // nothing twice
  });
});

describe('the events of a session that rotated', () => {
  it('carry its stable handle, as listed before the rotation, whatever ended it', async () => {
    const s = await setup({
      schema: (data) => {
        if ((data as { role?: string }).role === 'root') throw new Error('no root');
        return data as object;
      },
    });
    /** Logs in, notes the listed handle, and rotates the id keeping the data: the cookie after, and the handle. */
    const rotated = async (userId: string) => {
      const before = await s.login(userId);
      const [listed] = (await s.http().get('/s/sessions').set('Cookie', before).expect(200)).body as {
        handle: string;
      }[];
      const cookie = cookieFrom(await s.http().post('/s/held-regenerate').set('Cookie', before).expect(200));
      expect(storedIdOf(cookie)).not.toBe(storedIdOf(before));
      expect((await s.db.sessions().findOne({ _id: storedIdOf(cookie) }))!.handle).toBe(listed.handle);
      return { cookie, handle: listed.handle };
    };
    const endedBy = (type: string) => s.events.filter((event) => event.type === type).map((event) => event.handle);

    const loggedOut = await rotated('u-ev-logout');
    await s.http().post('/s/logout').set('Cookie', loggedOut.cookie).expect(200);
    expect(endedBy('destroyed')).toEqual([loggedOut.handle]);

    const presentedExpired = await rotated('u-ev-expired');
    await s.db.sessions().updateOne({ _id: storedIdOf(presentedExpired.cookie) }, { $set: { expires: ago(1) } });
    await s.http().get('/s/guarded').set('Cookie', presentedExpired.cookie).expect(401);
    const swept = await rotated('u-ev-swept');
    await s.db.sessions().updateOne({ _id: storedIdOf(swept.cookie) }, { $set: { expires: ago(1) } });
    expect(await s.store.sessions.removeExpired()).toBe(1);
    expect(endedBy('expired')).toEqual([presentedExpired.handle, swept.handle]);

    const invalid = await rotated('u-ev-invalid');
    await s.db.sessions().updateOne({ _id: storedIdOf(invalid.cookie) }, { $set: { 'session.role': 'root' } });
    await s.http().get('/s/guarded').set('Cookie', invalid.cookie).expect(401);
    expect(endedBy('invalid')).toEqual([invalid.handle]);

    const everywhere = await rotated('u-ev-all');
    const other = await s.login('u-ev-all');
    await s.http().post('/s/logout-everywhere').set('Cookie', other).expect(200);
    expect(endedBy('revoked')).toContain(everywhere.handle);
    expect(await s.db.sessions().countDocuments({})).toBe(0);
  });
});

describe('the session-limit lock', () => {
  it('serves 30 simultaneous logins of one user without a 503, and ends at the cap exactly', async () => {
    const s = await setup({ maxSessionsPerUser: 3, onSessionLimit: 'evict-oldest', storeTimeoutMs: 1000 });
    const responses = await Promise.all(
      Array.from({ length: 30 }, () => s.http().post('/s/login').send({ userId: 'u-crowd' })),
    );
    const statuses = responses.map((response) => response.status);
    expect(statuses.filter((status) => status !== 200 && status !== 429)).toEqual([]);
    for (const busy of responses.filter((response) => response.status === 429)) {
      expect(busy.body.message).toMatch(/Other changes to this account/);
      expect(setCookieFor(busy)).toBeUndefined();
    }
    const live = await s.db.byUser('u-crowd');
    expect(live).toHaveLength(Math.min(3, statuses.filter((status) => status === 200).length));
    expect(await s.db.sessions('sessions_locks').countDocuments({})).toBe(0);
    process.stdout.write(`session limit: 30 simultaneous logins answered ${JSON.stringify(count(statuses))}\n`);
  });

  it('waits for a lock another holder keeps, answers 429 then, and never releases a lock it does not hold', async () => {
    const s = await setup({ maxSessionsPerUser: 2, storeTimeoutMs: 300 });
    const locks = s.db.sessions('sessions_locks') as unknown as import('mongodb').Collection<{
      _id: string;
      owner: string;
      until: Date;
    }>;
    await locks.insertOne({
      _id: JSON.stringify('u-held'),
      owner: 'another-instance',
      until: new Date(Date.now() + 60_000),
    });
    const refused = await s.http().post('/s/login').send({ userId: 'u-held' });
    expect(refused.status).toBe(429);
    expect(await locks.findOne({ _id: JSON.stringify('u-held') })).toMatchObject({ owner: 'another-instance' });
    expect(await s.db.byUser('u-held')).toHaveLength(0);

    // An abandoned lock (its lease ran out) is taken over.
    await locks.updateOne({ _id: JSON.stringify('u-held') }, { $set: { until: ago(1) } });
    await s.http().post('/s/login').send({ userId: 'u-held' }).expect(200);
    expect(await locks.countDocuments({})).toBe(0);
    expect(await s.db.byUser('u-held')).toHaveLength(1);
  });
});

/** A fresh database and a client that records the name of every command sent to it. */
function monitoredDatabase() {
  const db = new TestDatabase();
  databases.push(db);
  const client = new MongoClient(mongoUri(), { monitorCommands: true });
  clients.push(client);
  const commands: string[] = [];
  client.on('commandStarted', (event: CommandStartedEvent) => {
    if (event.databaseName === db.name) commands.push(event.commandName);
  });
  return { db, client, commands };
}

describe('routes left out of session loading', () => {
  it('read nothing from MongoDB for an excluded route, even with a session cookie', async () => {
    const { db, client, commands } = monitoredDatabase();
    const s = await setup({ uri: undefined, client, exclude: ['s/health'] }, db);
    const cookie = await s.login('u-excluded');

    commands.length = 0;
    await s.http().get('/s/health').set('Cookie', cookie).expect(200, { ok: true });
    expect(commands).toEqual([]);
    // Other routes still load the session; the guard refuses where no session was loaded.
    await s.http().get('/s/guarded').set('Cookie', cookie).expect(200);
    expect(commands).toEqual(['find']);
  });

  it('match as Nest routes: under the global prefix, any case, a trailing slash, one method; nothing else', async () => {
    const { db, client, commands } = monitoredDatabase();
    const options = scenarioOptions(db, {
      uri: undefined,
      client,
      exclude: ['s/health', { path: 's/guarded', method: RequestMethod.POST }],
    });
    const app = await startScenarioApp(SessionModule.forRoot(options), undefined, { globalPrefix: 'api' });
    running.push(app);
    const http = () => request(app.getHttpServer());
    const cookie = cookieFrom(await http().post('/api/s/login').send({ userId: 'u-prefixed' }).expect(200));

    const loads = async (method: 'get' | 'post', path: string) => {
      commands.length = 0;
      await http()[method](path).set('Cookie', cookie);
      return commands.includes('find');
    };
    expect(await loads('get', '/api/s/health')).toBe(false);
    expect(await loads('get', '/api/s/health/')).toBe(false);
    expect(await loads('get', '/api/S/Health')).toBe(false);
    expect(await loads('get', '/api/s/health?probe=1')).toBe(false);
    // Only the method named is left out; paths that merely start like an excluded one are not.
    expect(await loads('post', '/api/s/guarded')).toBe(false);
    expect(await loads('get', '/api/s/guarded')).toBe(true);
    expect(await loads('get', '/api/s/health-check')).toBe(true);
    expect(await loads('get', '/api/s/health/deeper')).toBe(true);
    await http().get('/api/s/guarded').set('Cookie', cookie).expect(200);
  });

  it('writes every session change with a majority write concern (the writeConcern default)', async () => {
    const db = new TestDatabase();
    databases.push(db);
    const client = new MongoClient(mongoUri(), { monitorCommands: true });
    clients.push(client);
    const writes: { name: string; writeConcern: unknown }[] = [];
    client.on('commandStarted', (event: CommandStartedEvent) => {
      if (event.databaseName !== db.name || !['insert', 'update', 'delete'].includes(event.commandName)) return;
      writes.push({
        name: event.commandName,
        writeConcern: (event.command as { writeConcern?: unknown }).writeConcern,
      });
    });
    const s = await setup({ uri: undefined, client }, db);
    const cookie = await s.login('u-majority');
    await s.http().post('/s/patch').set('Cookie', cookie).send({ visits: 1 }).expect(200);
    await s.http().post('/s/logout').set('Cookie', cookie).expect(200);
    expect(new Set(writes.map((write) => write.name))).toEqual(new Set(['insert', 'update', 'delete']));
    for (const write of writes) expect(write.writeConcern).toEqual({ w: 'majority' });
  });

  it('are refused by AuthGuard unless @Public(): no session was loaded to judge them by', async () => {
    const db = new TestDatabase();
    databases.push(db);
    const open = await setup({}, db);
    const cookie = await open.login('u-excluded-guarded');
    const excluded = await setup({ exclude: ['s/guarded'] }, db);
    const response = await excluded.http().get('/s/guarded').set('Cookie', cookie);
    expect(response.status).toBe(401);
    expect(response.body.message).toBe('Authentication required: this http handler cannot be judged by a session');
  });
});

function count(values: number[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}
