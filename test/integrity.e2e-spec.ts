import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import request from 'supertest';
import { freePort, startFerretDB, type FerretDBServer } from '../scripts/mongo-server.mjs';
import { cookieFrom, setCookieFor, storedIdOf } from './support/cookies.js';
import { autoRemoveMode, mongoUri, TestDatabase } from './support/database.js';
import { Gate } from './scenarios/routes.scenario.js';
import { integrityGates, startIntegrityApp } from './scenarios/integrity.scenario.js';

// No write answered 2xx is lost: each request stores exactly the keys it changed, before its answer is sent.

/** The store timeout of the app whose lock waiters are to give up quickly, and of the outage's app. */
const STORE_TIMEOUT_MS = 400;
const database = new TestDatabase();
/** Bursts of 40 requests of one session: a store timeout that the test server's load never reaches. */
let app: INestApplication;
/** The same routes and collection, with a short store timeout: lock waiters give up after 400 ms. */
let shortApp: INestApplication;

beforeAll(async () => {
  const options = { secret: 'integrity-secret', uri: mongoUri(), dbName: database.name, autoRemove: autoRemoveMode() };
  app = await startIntegrityApp({ ...options, storeTimeoutMs: 20_000 });
  shortApp = await startIntegrityApp({ ...options, storeTimeoutMs: STORE_TIMEOUT_MS });
});

afterAll(async () => {
  await app?.close();
  await shortApp?.close();
  await database.close();
});

const http = () => request(app.getHttpServer());
const short = () => request(shortApp.getHttpServer());

async function login(userId: string): Promise<string> {
  return cookieFrom(await http().post('/i/login').send({ userId }).expect(200));
}

/** The stored application data of the session of `cookie`, or `undefined` when it has no document. */
async function stored(cookie: string): Promise<Record<string, unknown> | undefined> {
  return (await database.sessions().findOne({ _id: storedIdOf(cookie) }))?.session;
}

/** A gate slow handlers wait at (`?gate=<name>`). */
function gate(name: string): Gate {
  const opened = new Gate();
  integrityGates.set(name, opened);
  return opened;
}

describe('per-key writes', () => {
  it('keeps every key of 40 concurrent set() calls of 40 distinct keys', async () => {
    const cookie = await login('u-burst');
    const keys = Array.from({ length: 40 }, (_, index) => `k${index}`);
    const answers = await Promise.all(
      keys.map((key) => http().post(`/i/set/${key}`).set('Cookie', cookie).send({ value: key })),
    );
    const data = (await stored(cookie))!;
    const kept = keys.filter((key) => data[key] === key);
    process.stdout.write(
      `integrity: burst: ${answers.filter((r) => r.status === 200).length} answered 200, ${kept.length} of 40 stored\n`,
    );
    expect(answers.map((r) => r.status)).toEqual(keys.map(() => 200));
    expect(kept).toEqual(keys);
  });

  it('keeps the fast write of a slow/fast pair of one session', async () => {
    const cookie = await login('u-pair');
    const held = gate('pair');
    const slow = http()
      .post('/i/set/writes?gate=pair')
      .set('Cookie', cookie)
      .send({ value: 1 })
      .then((r) => r);
    await held.reached();
    await http().post('/i/set/theme').set('Cookie', cookie).send({ value: 'dark' }).expect(200);
    held.open();
    expect((await slow).status).toBe(200);

    expect(await stored(cookie)).toMatchObject({ writes: 1, theme: 'dark' });
    expect((await http().get('/i/data').set('Cookie', cookie).expect(200)).body).toMatchObject({
      writes: 1,
      theme: 'dark',
    });
  });

  it('keeps a removal answered while a slow write of another key was in flight', async () => {
    const cookie = await login('u-unset');
    await http().post('/i/set/theme').set('Cookie', cookie).send({ value: 'dark' }).expect(200);
    const held = gate('unset');
    const slow = http()
      .post('/i/set/writes?gate=unset')
      .set('Cookie', cookie)
      .send({ value: 1 })
      .then((r) => r);
    await held.reached();
    await http().post('/i/unset/theme').set('Cookie', cookie).expect(200);
    held.open();
    expect((await slow).status).toBe(200);

    const data = (await stored(cookie))!;
    expect(data.writes).toBe(1);
    expect(data).not.toHaveProperty('theme');
  });

  it('stores an in-place change of a value, and only that key', async () => {
    const cookie = await login('u-inplace');
    await http().post('/i/push/cart').set('Cookie', cookie).send({ value: 'apple' }).expect(200);
    const held = gate('inplace');
    const slow = http()
      .post('/i/set/theme?gate=inplace')
      .set('Cookie', cookie)
      .send({ value: 'dark' })
      .then((r) => r);
    await held.reached();
    await http().post('/i/push/cart').set('Cookie', cookie).send({ value: 'pear' }).expect(200);
    held.open();
    expect((await slow).status).toBe(200);

    expect(await stored(cookie)).toMatchObject({ cart: ['apple', 'pear'], theme: 'dark' });
  });

  it('an unchanged request is 1 read and no write; a changed one 1 read and exactly 1 update of its keys', async () => {
    const client = new MongoClient(mongoUri(), { monitorCommands: true });
    const other = new TestDatabase();
    const monitored = await startIntegrityApp({
      secret: 'integrity-secret',
      client,
      dbName: other.name,
      autoRemove: autoRemoveMode(),
      storeTimeoutMs: 20_000,
    });
    try {
      const cookie = cookieFrom(await request(monitored.getHttpServer()).post('/i/login').send({ userId: 'u-cost' }));
      const commands: { name: string; update?: unknown }[] = [];
      client.on('commandStarted', (event) => {
        if (event.databaseName === other.name)
          commands.push({ name: event.commandName, update: event.command.updates?.[0]?.u });
      });
      await request(monitored.getHttpServer()).get('/i/data').set('Cookie', cookie).expect(200);
      expect(commands.map((command) => command.name)).toEqual(['find']);
      commands.length = 0;
      await request(monitored.getHttpServer())
        .post('/i/set/theme')
        .set('Cookie', cookie)
        .send({ value: 'dark' })
        .expect(200);
      expect(commands.map((command) => command.name)).toEqual(['find', 'update']);
      const update = commands[1].update as { $set: Record<string, unknown>; $unset?: unknown };
      expect(Object.keys(update.$set).sort()).toEqual(['expires', 'lastSeenAt', 'session.theme']);
      expect(update.$unset).toBeUndefined();
    } finally {
      await monitored.close();
      await client.close();
      await other.close();
    }
  });

  it('refuses keys that would reach the update as paths or operators', async () => {
    const cookie = await login('u-keys');
    for (const key of ['a.b', '$where', 'cookie', '__csrf']) {
      const response = await http()
        .post(`/i/set/${encodeURIComponent(key)}`)
        .set('Cookie', cookie)
        .send({ value: 1 });
      expect(response.status).toBe(400);
    }
    const data = (await stored(cookie))!;
    expect(Object.keys(data).sort()).toEqual(['__csrf', 'cookie', 'role', 'userId', 'username']);
    expect(data.cookie).toEqual(expect.objectContaining({ path: '/' }));
  });
});

describe('the commit before the answer', () => {
  it('a 303 after set() is followed by a request that sees the value', async () => {
    const cookie = await login('u-redirect');
    const url = new URL(await app.getUrl());
    for (let round = 0; round < 10; round += 1) {
      // The redirect is followed as soon as its status line arrives, as a browser does.
      const location = await new Promise<string>((resolve, reject) => {
        const post = httpRequest(
          { host: url.hostname, port: url.port, method: 'POST', path: '/i/redirect/step', agent: false },
          (answer) => {
            answer.resume();
            if (answer.statusCode === 303) resolve(answer.headers.location!);
            else reject(new Error(`answered ${answer.statusCode}`));
          },
        );
        post.on('error', reject);
        post.setHeader('Cookie', cookie);
        post.setHeader('Content-Type', 'application/json');
        post.end(JSON.stringify({ value: round }));
      });
      const followed = await http().get(location).set('Cookie', cookie).expect(200);
      expect(followed.body.step).toBe(round);
    }
  });

  it('a handler that writes the answer itself (@Res()) is answered after the commit', async () => {
    const cookie = await login('u-raw');
    await http().post('/i/raw/theme').set('Cookie', cookie).send({ value: 'light' }).expect(201);
    expect(await stored(cookie)).toMatchObject({ theme: 'light' });
  });

  it('answers 401 with the cookie cleared when the session was ended elsewhere before the commit', async () => {
    const cookie = await login('u-ended');
    const held = gate('ended');
    const slow = http()
      .post('/i/set/theme?gate=ended')
      .set('Cookie', cookie)
      .send({ value: 'dark' })
      .then((r) => r);
    await held.reached();
    await http().post('/i/logout').set('Cookie', cookie).expect(200);
    held.open();
    const response = await slow;

    expect(response.status).toBe(401);
    expect(response.body).toEqual({
      statusCode: 401,
      error: 'Unauthorized',
      message: 'This session has ended (logged out, revoked or expired); log in again.',
    });
    expect(setCookieFor(response)).toMatch(/^sid=;.*Expires=Thu, 01 Jan 1970/);
    expect(await database.sessions().findOne({ _id: storedIdOf(cookie) })).toBeNull();
  });
});

describe('the session lock', () => {
  it('40 concurrent increments of one key on a locked route end at 40', async () => {
    const cookie = await login('u-lock');
    const answers = await Promise.all(
      Array.from({ length: 40 }, () => http().post('/i/increment').set('Cookie', cookie)),
    );
    const data = (await stored(cookie))!;
    process.stdout.write(
      `integrity: lock: ${answers.filter((r) => r.status === 200).length} answered 200, counter ${String(data.counter)}\n`,
    );
    expect(answers.map((r) => r.status)).toEqual(answers.map(() => 200));
    expect(data.counter).toBe(40);
  });

  it('a waiter gives up after storeTimeoutMs with 429; unlocked routes are not held', async () => {
    const cookie = await login('u-busy');
    const held = gate('busy');
    const holder = short()
      .post('/i/increment?gate=busy')
      .set('Cookie', cookie)
      .then((r) => r);
    await held.reached();
    await short().post('/i/set/theme').set('Cookie', cookie).send({ value: 'dark' }).expect(200);
    const started = Date.now();
    const waiter = await short().post('/i/increment').set('Cookie', cookie);
    expect(waiter.status).toBe(429);
    expect(waiter.body).toMatchObject({ statusCode: 429, error: 'Too Many Requests' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(STORE_TIMEOUT_MS);
    held.open();
    expect((await holder).status).toBe(200);
    expect(await stored(cookie)).toMatchObject({ counter: 1, theme: 'dark' });
  });

  it('a holder that never finishes does not block the session past its lease', async () => {
    const cookie = await login('u-lease');
    const held = gate('lease');
    const started = Date.now();
    const holder = short()
      .post('/i/hold?gate=lease')
      .set('Cookie', cookie)
      .then((r) => r);
    await held.reached();
    let attempts = 0;
    let status = 0;
    while (status !== 200 && attempts < 20) {
      attempts += 1;
      status = (await short().post('/i/increment').set('Cookie', cookie)).status;
      if (status !== 200) expect(status).toBe(429);
    }
    expect(status).toBe(200);
    expect(attempts).toBeGreaterThan(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_500);
    held.open();
    await holder;
  });
});

describe('a commit during an outage', () => {
  let server: FerretDBServer | undefined;
  let outageApp: INestApplication | undefined;
  const dataDir = mkdtempSync(join(tmpdir(), 'integrity-'));

  afterAll(async () => {
    await outageApp?.close();
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('answers 503 and writes nothing of the change', async () => {
    const port = await freePort();
    server = await startFerretDB({ port, dataDir });
    outageApp = await startIntegrityApp({
      secret: 'integrity-secret',
      uri: server.uri,
      dbName: 'integrity-outage',
      autoRemove: 'interval',
      storeTimeoutMs: 1_500, // the server's stop, not a slow machine, is to fail the commit
    });
    const outage = () => request(outageApp!.getHttpServer());
    const cookie = cookieFrom(await outage().post('/i/login').send({ userId: 'u-outage' }).expect(200));
    await outage().post('/i/set/theme').set('Cookie', cookie).send({ value: 'dark' }).expect(200);

    const held = gate('outage');
    const slow = outage()
      .post('/i/set/theme?gate=outage')
      .set('Cookie', cookie)
      .send({ value: 'light' })
      .then((r) => r);
    await held.reached();
    await server.stop();
    held.open();
    const response = await slow;
    server = await startFerretDB({ port, dataDir });

    expect(response.status).toBe(503);
    expect(response.body).toEqual({
      statusCode: 503,
      error: 'Service Unavailable',
      message: 'Session store unavailable: could not save the session. Try again shortly.',
    });
    expect(setCookieFor(response)).toBeUndefined();
    const client = new MongoClient(server.uri);
    try {
      const document = await client
        .db('integrity-outage')
        .collection('sessions')
        .findOne({ _id: storedIdOf(cookie) as never });
      expect(document?.session).toMatchObject({ theme: 'dark', userId: 'u-outage' });
    } finally {
      await client.close();
    }
  }, 120_000);
});
