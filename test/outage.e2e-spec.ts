import { afterAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SessionModule } from 'nestjs-typed-session';
import request from 'supertest';
import { freePort, startFerretDB, type FerretDBServer } from '../scripts/mongo-server.mjs';
import { MongoClient } from 'mongodb';
import { cookieFrom, setCookieFor, storedIdOf } from './support/cookies.js';
import { Gate, gates, startScenarioApp } from './scenarios/routes.scenario.js';

// These tests really stop and restart a database server process: a FerretDB of their own, on a fixed
// port and data directory, so that it comes back with the data it had.

const STORE_TIMEOUT_MS = 500;
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function sessionApp(uri: string, storeTimeoutMs = STORE_TIMEOUT_MS): Promise<INestApplication> {
  const app = await startScenarioApp(
    SessionModule.forRoot({
      secret: 'outage-secret',
      uri,
      dbName: 'outage',
      autoRemove: 'interval',
      storeTimeoutMs,
    }),
  );
  cleanups.push(() => app.close());
  return app;
}

async function restartableServer(): Promise<{
  start: () => Promise<FerretDBServer>;
  uri: string;
  stop: () => Promise<void>;
  running: () => FerretDBServer;
}> {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'outage-'));
  let server: FerretDBServer | undefined;
  const stop = async () => {
    await server?.stop();
    server = undefined;
  };
  cleanups.push(async () => {
    await stop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return {
    uri: `mongodb://127.0.0.1:${port}/`,
    start: async () => (server = await startFerretDB({ port, dataDir })),
    stop,
    running: () => {
      if (!server) throw new Error('the server is not running');
      return server;
    },
  };
}

/** Sends requests until one answers `status`, at most `attempts` times; each waits at most the store timeout. */
async function untilStatus(send: () => Promise<{ status: number }>, status: number, attempts = 40): Promise<number> {
  let last = 0;
  for (let attempt = 1; attempt <= attempts; attempt += 1) {
    last = (await send()).status;
    if (last === status) return attempt;
  }
  throw new Error(`no ${status} after ${attempts} attempts (last: ${last})`);
}

describe('MongoDB down, and back', () => {
  it('answers 503 on session routes and 200 on the others while down, then serves the same sessions again', async () => {
    const db = await restartableServer();
    await db.start();
    const app = await sessionApp(db.uri);
    const http = () => request(app.getHttpServer());

    const users = ['u-1', 'u-2', 'u-3', 'u-4', 'u-5'];
    const cookies = new Map<string, string>();
    for (const userId of users)
      cookies.set(userId, cookieFrom(await http().post('/s/login').send({ userId }).expect(200)));

    await db.stop();

    const counts: Record<string, Record<number, number>> = { guarded: {}, logout: {}, public: {} };
    let slowest = 0;
    const hit = async (kind: string, send: () => Promise<request.Response>) => {
      const started = Date.now();
      const response = await send();
      slowest = Math.max(slowest, Date.now() - started);
      counts[kind][response.status] = (counts[kind][response.status] ?? 0) + 1;
      return response;
    };
    const load = Array.from({ length: 60 }, (_, i) => {
      const cookie = cookies.get(users[i % users.length])!;
      if (i % 3 === 0) return hit('guarded', () => http().get('/s/guarded').set('Cookie', cookie));
      if (i % 3 === 1) return hit('public', () => http().get('/s/health').set('Cookie', cookie));
      return hit('logout', () => http().post('/s/logout').set('Cookie', cookie));
    });
    const responses = await Promise.all(load);
    process.stdout.write(
      `outage: status codes during the outage ${JSON.stringify(counts)}, slowest answer ${slowest} ms\n`,
    );

    expect(counts).toEqual({ guarded: { 503: 20 }, public: { 200: 20 }, logout: { 503: 20 } });
    for (const response of responses.filter((r) => r.status === 503)) {
      expect(response.body).toEqual({
        statusCode: 503,
        error: 'Service Unavailable',
        message: 'Session store unavailable: could not load the session. Try again shortly.',
      });
      expect(response.headers['set-cookie']).toBeUndefined();
    }
    // Bounded by storeTimeoutMs, not by the driver's 30 s server selection timeout.
    expect(slowest).toBeLessThan(10_000);

    await db.start();
    const attempts = await untilStatus(() => http().get('/s/guarded').set('Cookie', cookies.get('u-1')!), 200);
    for (const userId of users) {
      const response = await http().get('/s/guarded').set('Cookie', cookies.get(userId)!);
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ userId });
    }
    process.stdout.write(
      `outage: recovered without restart; first success after ${attempts} request(s), all ${users.length} sessions served\n`,
    );
  }, 120_000);

  it('a request whose commit meets the outage is answered 503, not its 2xx, and loses no session', async () => {
    const db = await restartableServer();
    await db.start();
    const app = await sessionApp(db.uri);
    const http = () => request(app.getHttpServer());
    const cookie = cookieFrom(await http().post('/s/login').send({ userId: 'u-midway' }).expect(200));

    const gate = (gates.current = new Gate());
    const inFlight = http()
      .post('/s/held-write')
      .set('Cookie', cookie)
      .then((response) => response);
    await gate.reached();
    await db.stop();
    gate.open();
    const response = await inFlight;

    expect(response.status).toBe(503);
    expect(response.body).toEqual({
      statusCode: 503,
      error: 'Service Unavailable',
      message: 'Session store unavailable: could not save the session. Try again shortly.',
    });
    expect(setCookieFor(response)).toBeUndefined();

    await db.start();
    await untilStatus(() => http().get('/s/guarded').set('Cookie', cookie), 200);
    expect((await http().get('/s/guarded').set('Cookie', cookie)).body).toEqual({ userId: 'u-midway' });
  }, 120_000);

  it('a login or a guarded read on a hung server waits one storeTimeoutMs, not two, and sets no cookie', async () => {
    const db = await restartableServer();
    await db.start();
    const app = await sessionApp(db.uri, 2000);
    const http = () => request(app.getHttpServer());
    const cookie = cookieFrom(await http().post('/s/login').send({ userId: 'u-wait' }).expect(200));
    // Hung, not gone: connections stay open and nothing answers, so every call waits for its timeout.
    db.running().pause();

    const timed = async (send: () => Promise<request.Response>) => {
      const started = Date.now();
      const response = await send();
      return { response, ms: Date.now() - started };
    };
    const fresh = await timed(() => http().post('/s/login').send({ userId: 'u-wait' }));
    const again = await timed(() => http().post('/s/login').set('Cookie', cookie).send({ userId: 'u-wait' }));
    const read = await timed(() => http().get('/s/guarded').set('Cookie', cookie));
    process.stdout.write(
      `outage: hung server, storeTimeoutMs 2000: a login waited ${fresh.ms} ms (${again.ms} ms with a cookie), ` +
        `a guarded read ${read.ms} ms\n`,
    );
    for (const { response, ms } of [fresh, again, read]) {
      expect(response.status).toBe(503);
      expect(setCookieFor(response)).toBeUndefined();
      // One bounded wait; a second one (the end-of-request save of a half-made session) would pass 4000.
      expect(ms).toBeGreaterThanOrEqual(2000);
      expect(ms).toBeLessThan(3500);
    }

    // Back: the writes the server received while hung run now; the store deletes the ones it gave up on.
    db.running().resume();
    await untilStatus(() => http().get('/s/guarded').set('Cookie', cookie), 200);
    // Nothing half-made is left: only the session that logged in before the outage.
    const client = new MongoClient(db.uri);
    try {
      const stored = await client.db('outage').collection('sessions').find({ 'session.userId': 'u-wait' }).toArray();
      expect(stored.map((document) => document._id)).toEqual([storedIdOf(cookie)]);
    } finally {
      await client.close();
    }
  }, 120_000);

  it('boots while MongoDB is down, and serves sessions once it is up', async () => {
    const db = await restartableServer();
    const app = await sessionApp(db.uri);
    const http = () => request(app.getHttpServer());

    expect((await http().get('/s/health')).status).toBe(200);
    expect((await http().get('/s/guarded')).status).toBe(401); // no cookie: no session, not an outage
    const login = await http().post('/s/login').send({ userId: 'u-late' });
    expect(login.status).toBe(503);

    await db.start();
    await untilStatus(() => http().post('/s/login').send({ userId: 'u-late' }), 200);
    const cookie = cookieFrom(await http().post('/s/login').send({ userId: 'u-late' }));
    expect((await http().get('/s/guarded').set('Cookie', cookie)).body).toEqual({ userId: 'u-late' });
  }, 120_000);
});
