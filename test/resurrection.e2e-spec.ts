import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { SessionModule } from 'nestjs-typed-session';
import request from 'supertest';
import { cookieFrom, setCookieFor, storedIdOf } from './support/cookies.js';
import { TestDatabase } from './support/database.js';
import { Gate, gates, scenarioOptions, startScenarioApp } from './scenarios/routes.scenario.js';

// A request that loaded a session before it was ended, and finishes after, must not bring it back:
// express-session saves (or touches) at the end of every request, and connect-mongo's save is an upsert.

let app: INestApplication;
let db: TestDatabase;
const http = () => request(app.getHttpServer());

async function login(userId: string): Promise<string> {
  const response = await http().post('/s/login').send({ userId });
  expect(response.status).toBe(200);
  return cookieFrom(response);
}

beforeAll(async () => {
  db = new TestDatabase();
  // touchAfter 0: an unchanged request touches the document every time, the harder case.
  app = await startScenarioApp(SessionModule.forRoot(scenarioOptions(db, { touchAfter: 0 })));
});

afterAll(async () => {
  await app?.close();
  await db?.close();
});

type Ender = (victim: string, other: string) => Promise<unknown>;

const enders: [string, Ender][] = [
  ['logout', (victim) => http().post('/s/logout').set('Cookie', victim).expect(200)],
  [
    'password change on another device',
    (_victim, other) => http().post('/s/password').set('Cookie', other).expect(200),
  ],
  [
    'revocation from another device',
    (_victim, other) => http().post('/s/logout-others').set('Cookie', other).expect(200),
  ],
  [
    'expiry',
    (victim) => db.sessions().updateOne({ _id: storedIdOf(victim) }, { $set: { expires: new Date(Date.now() - 1) } }),
  ],
];

const handlers: [string, 'get' | 'post', string][] = [
  ['modifying', 'post', '/s/held-write'],
  ['non-modifying', 'get', '/s/held-read'],
];

describe.each(enders)('a session ended by %s', (_name, end) => {
  it.each(handlers)('is not brought back by a %s request in flight', async (_kind, method, path) => {
    const userId = `u-${Math.random().toString(36).slice(2, 10)}`;
    const victim = await login(userId);
    const other = await login(userId);
    const victimId = storedIdOf(victim);

    // Expiry leaves the document for cleanup; what must never exist again is a live one.
    const live = () => db.sessions().countDocuments({ _id: victimId, expires: { $gt: new Date() } });

    const gate = (gates.current = new Gate());
    const inFlight = http()
      [method](path)
      .set('Cookie', victim)
      .then((response) => response);
    await gate.reached();
    await end(victim, other);
    expect(await live()).toBe(0);
    gate.open();
    const response = await inFlight;

    if (method === 'post') {
      // Its change cannot be stored: it is answered 401 with the cookie cleared, not a 2xx for a dropped write.
      expect(response.status).toBe(401);
      expect(setCookieFor(response)).toMatch(/^sid=;/);
    } else {
      expect(response.status).toBe(200); // nothing to store: the handler's answer stands
    }
    expect(await live()).toBe(0);
    expect((await http().get('/s/guarded').set('Cookie', victim)).status).toBe(401);
    expect(await live()).toBe(0);
  });
});

it('randomized: 1000 rounds of concurrent requests with logouts and password changes resurrect nothing', async () => {
  const rounds = 1000;
  const parallelRounds = 4;
  let ended = 0;
  let resurrected = 0;
  let requests = 0;
  const started = Date.now();

  async function round(index: number): Promise<void> {
    const userId = `u-round-${index}`;
    const [a, b] = [await login(userId), await login(userId)];
    const inFlight = Array.from({ length: 3 }, (_, i) => {
      const cookie = i % 2 === 0 ? a : b;
      const req = Math.random() < 0.5 ? http().post('/s/jitter-write') : http().get('/s/jitter-read');
      return req.set('Cookie', cookie).then((response) => response.status);
    });
    const byPassword = index % 2 === 1;
    const ender = byPassword
      ? http()
          .post('/s/password')
          .set('Cookie', b)
          .then((response) => response.status)
      : http()
          .post('/s/logout')
          .set('Cookie', a)
          .then((response) => response.status);
    const statuses = await Promise.all([...inFlight, ender]);
    requests += statuses.length + 2;
    expect(statuses.every((status) => status === 200 || status === 401)).toBe(true);

    // Logout ends A; a password change from B ends A and B's old id (B lives on under a new id).
    const endedIds = byPassword ? [storedIdOf(a), storedIdOf(b)] : [storedIdOf(a)];
    ended += endedIds.length;
    resurrected += await db.sessions().countDocuments({ _id: { $in: endedIds } });
    // Keep the collection small: FerretDB's SQLite backend scans it on every lookup.
    await db.sessions().deleteMany({ 'session.userId': userId });
    const progress = index + 1;
    if (progress % 250 === 0)
      process.stdout.write(`resurrection: ${progress} rounds, ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  }

  for (let start = 0; start < rounds; start += parallelRounds) {
    await Promise.all(Array.from({ length: parallelRounds }, (_, i) => round(start + i)));
  }

  process.stdout.write(
    `resurrection: ${resurrected} resurrected of ${ended} ended sessions, ${rounds} rounds, ${requests} requests\n`,
  );
  expect(resurrected).toBe(0);
}, 300_000);
