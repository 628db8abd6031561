import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { SessionModule } from 'nestjs-typed-session';
import request from 'supertest';
import { sessionSchema } from '../example/session.schema.js';
import { cookieFrom, sessionIdOf, setCookieFor, signedCookie, tamper, storedIdOf } from './support/cookies.js';
import { TestDatabase } from './support/database.js';
import { CapturingLogger, scenarioOptions, startScenarioApp } from './scenarios/routes.scenario.js';

// Bad input of every kind gets a clear answer: no crash, no 5xx, no stack trace, no other user's data.

const SECRET = 'bad-input-secret';
let app: INestApplication;
let db: TestDatabase;
const logger = new CapturingLogger();
const http = () => request(app.getHttpServer());
let passed = 0;

async function login(userId = 'u-victim'): Promise<string> {
  const response = await http().post('/s/login').send({ userId });
  expect(response.status).toBe(200);
  return cookieFrom(response);
}

/** Logs in, then changes the stored document, as an older deploy or a hand edit would have left it. */
async function storedAs(change: (id: string) => Promise<unknown>): Promise<{ cookie: string; id: string }> {
  const cookie = await login();
  const id = storedIdOf(cookie);
  await change(id);
  return { cookie, id };
}

const setSession = (id: string, session: unknown) =>
  db.sessions().updateOne({ _id: id }, { $set: { session: session as never } });

interface Case {
  status: number;
  send: () => Promise<request.Response>;
  check?: (response: request.Response) => Promise<void> | void;
}

const cases: [string, () => Case | Promise<Case>][] = [
  [
    'cookie with a bad signature',
    () => ({
      status: 401,
      send: async () =>
        http()
          .get('/s/guarded')
          .set('Cookie', tamper(await login())),
    }),
  ],
  [
    'unsigned cookie carrying a real id',
    async () => {
      const id = sessionIdOf(await login());
      return { status: 401, send: () => http().get('/s/guarded').set('Cookie', `sid=${id}`) };
    },
  ],
  [
    'well-signed id the store never issued',
    () => {
      const forged = signedCookie('attacker-chosen-session-id-000000', SECRET);
      return {
        status: 401,
        send: () => http().get('/s/guarded').set('Cookie', forged),
        check: async () => {
          const visit = await http().post('/s/visit').set('Cookie', forged);
          expect(sessionIdOf(cookieFrom(visit))).not.toBe('attacker-chosen-session-id-000000');
          expect(
            await db
              .sessions()
              .countDocuments({ _id: { $in: ['attacker-chosen-session-id-000000', storedIdOf(forged)] } }),
          ).toBe(0);
        },
      };
    },
  ],
  [
    'cookie signed with another secret',
    async () => {
      const id = sessionIdOf(await login());
      return { status: 401, send: () => http().get('/s/guarded').set('Cookie', signedCookie(id, 'some-other-secret')) };
    },
  ],
  ['empty Cookie header', () => ({ status: 401, send: () => http().get('/s/guarded').set('Cookie', '') })],
  ['empty session cookie', () => ({ status: 401, send: () => http().get('/s/guarded').set('Cookie', 'sid=') })],
  ['signed prefix without id', () => ({ status: 401, send: () => http().get('/s/guarded').set('Cookie', 'sid=s%3A') })],
  [
    'broken percent-encoding',
    () => ({ status: 401, send: () => http().get('/s/guarded').set('Cookie', 'sid=%E0%A4%A') }),
  ],
  [
    'control characters in the cookie',
    () => ({ status: 401, send: () => http().get('/s/guarded').set('Cookie', 'sid=s%3A%00%01abc.def') }),
  ],
  [
    'oversized cookie (8 KB)',
    () => ({
      status: 401,
      send: () =>
        http()
          .get('/s/guarded')
          .set('Cookie', `sid=s%3A${'x'.repeat(8 * 1024)}.sig`),
    }),
  ],
  [
    'cookie header over the server limit (20 KB)',
    () => ({
      status: 431,
      send: () =>
        http()
          .get('/s/guarded')
          .set('Cookie', `sid=${'x'.repeat(20 * 1024)}`),
    }),
  ],
  [
    'doubled cookie, valid first: the first one counts',
    async () => {
      const cookie = await login('u-double');
      return {
        status: 200,
        send: () =>
          http()
            .get('/s/guarded')
            .set('Cookie', `${cookie}; ${tamper(cookie)}`),
        check: (r) => void expect(r.body).toEqual({ userId: 'u-double' }),
      };
    },
  ],
  [
    'doubled cookie, forged first: the first one counts',
    async () => {
      const cookie = await login('u-double');
      return {
        status: 401,
        send: () =>
          http()
            .get('/s/guarded')
            .set('Cookie', `${tamper(cookie)}; ${cookie}`),
      };
    },
  ],
  [
    'cookie name in other case',
    async () => {
      const cookie = await login();
      return { status: 401, send: () => http().get('/s/guarded').set('Cookie', cookie.replace(/^sid=/, 'SID=')) };
    },
  ],
  [
    "stored data that does not match the application's shape",
    async () => {
      const { cookie, id } = await storedAs((id) =>
        db.sessions().updateOne({ _id: id }, { $set: { 'session.role': 'root' } }),
      );
      return {
        status: 401,
        send: () => http().get('/s/guarded').set('Cookie', cookie),
        check: async () => {
          expect(await db.sessions().countDocuments({ _id: id })).toBe(0);
          const lines = logger.lines.filter((line) => line.message.includes('does not match the session schema'));
          expect(lines).toHaveLength(1);
          expect(lines[0].message).toContain('role');
          expect(lines[0].message).not.toContain(id);
        },
      };
    },
  ],
  [
    'stored session that is a string',
    async () => {
      const { cookie, id } = await storedAs((id) => setSession(id, 'not a session'));
      return {
        status: 401,
        send: () => http().get('/s/guarded').set('Cookie', cookie),
        check: async () => void expect(await db.sessions().countDocuments({ _id: id })).toBe(0),
      };
    },
  ],
  [
    'stored session that is null',
    async () => {
      const { cookie } = await storedAs((id) => setSession(id, null));
      return { status: 401, send: () => http().get('/s/guarded').set('Cookie', cookie) };
    },
  ],
  [
    'stored session that is an array',
    async () => {
      const { cookie } = await storedAs((id) => setSession(id, [1, 2, 3]));
      return { status: 401, send: () => http().get('/s/guarded').set('Cookie', cookie) };
    },
  ],
  [
    'stored session without its cookie',
    async () => {
      const { cookie } = await storedAs((id) =>
        db.sessions().updateOne({ _id: id }, { $unset: { 'session.cookie': '' } }),
      );
      return { status: 401, send: () => http().get('/s/guarded').set('Cookie', cookie) };
    },
  ],
  [
    'stored __proto__ key does not reach the live session',
    async () => {
      const { cookie } = await storedAs((id) =>
        db.sessions().updateOne({ _id: id }, { $set: { 'session.__proto__': { polluted: true, userId: 'u-admin' } } }),
      );
      return {
        status: 200,
        send: () => http().get('/s/guarded').set('Cookie', cookie),
        check: (response) => {
          expect(response.body).toEqual({ userId: 'u-victim' });
          expect(({} as Record<string, unknown>).polluted).toBeUndefined();
        },
      };
    },
  ],
  [
    'patch with a __proto__ key from a JSON body',
    async () => {
      const cookie = await login();
      return {
        status: 400,
        send: () =>
          http()
            .post('/s/raw-patch')
            .set('Cookie', cookie)
            .set('Content-Type', 'application/json')
            .send('{"__proto__":{"polluted":true}}'),
        check: () => void expect(({} as Record<string, unknown>).polluted).toBeUndefined(),
      };
    },
  ],
  [
    'patch with a constructor key',
    async () => {
      const cookie = await login();
      return {
        status: 400,
        send: () =>
          http()
            .post('/s/raw-patch')
            .set('Cookie', cookie)
            .send({ constructor: { prototype: { polluted: true } } }),
      };
    },
  ],
  [
    'patch with a nested $-operator key',
    async () => {
      const cookie = await login();
      return {
        status: 400,
        send: () =>
          http()
            .post('/s/raw-patch')
            .set('Cookie', cookie)
            .send({ visits: { $gt: 0 } }),
      };
    },
  ],
  ...(['function', 'bigint', 'circular', 'map', 'nan', 'nested$'] as const).map(
    (kind): [string, () => Case | Promise<Case>] => [
      `set with a value that cannot be stored (${kind})`,
      async () => {
        const cookie = await login('u-weird');
        const id = storedIdOf(cookie);
        const before = await db.sessions().findOne({ _id: id });
        return {
          status: 400,
          send: () => http().post('/s/weird').set('Cookie', cookie).send({ kind }),
          check: async (response) => {
            expect(response.body.message).toMatch(/^Session value at visits.* cannot be stored: /);
            expect(await db.sessions().findOne({ _id: id })).toEqual(before);
          },
        };
      },
    ],
  ),
  // express-session's own member names as data keys: `touch` or `resetMaxAge` made express-session throw
  // inside res.end (the request was never answered), `id` or `req` answered 500.
  ...(
    [
      'touch',
      'resetMaxAge',
      'save',
      'reload',
      'destroy',
      'regenerate',
      'id',
      'req',
      'cookie',
      'maxAge',
      'expires',
      'toJSON',
      'toString',
      'hasOwnProperty',
      'valueOf',
    ] as const
  ).map((key): [string, () => Promise<Case>] => [
    `profile patch with express-session's member name ${key}`,
    async () => {
      const cookie = await login('u-member-name');
      const id = storedIdOf(cookie);
      const before = await db.sessions().findOne({ _id: id });
      return {
        status: 400,
        send: () =>
          http()
            .post('/s/profile')
            .set('Cookie', cookie)
            .send({ [key]: 1 })
            .timeout(5000),
        check: async (response) => {
          expect(response.body.message).toContain(`Session key "${key}" cannot be stored`);
          expect(await db.sessions().findOne({ _id: id })).toEqual(before);
          expect((await http().get('/s/guarded').set('Cookie', cookie).timeout(5000)).status).toBe(200);
        },
      };
    },
  ]),
  [
    "login whose data holds express-session's member name touch",
    async () => {
      const cookie = await login('u-member-login');
      const id = storedIdOf(cookie);
      return {
        status: 400,
        send: () =>
          http().post('/s/login-with').set('Cookie', cookie).send({ userId: 'u-member-login', touch: 1 }).timeout(5000),
        check: async () => void expect(await db.sessions().countDocuments({ _id: id })).toBe(1),
      };
    },
  ],
  [
    "regenerate keeping express-session's member name id",
    async () => {
      const cookie = await login('u-member-keep');
      const id = storedIdOf(cookie);
      return {
        status: 400,
        send: () =>
          http()
            .post('/s/regenerate-keep')
            .set('Cookie', cookie)
            .send({ keep: ['id'] })
            .timeout(5000),
        check: async () => void expect(await db.sessions().countDocuments({ _id: id })).toBe(1),
      };
    },
  ],
  [
    'profile patch past maxSessionBytes (70 KiB)',
    async () => {
      const cookie = await login('u-big');
      const id = storedIdOf(cookie);
      const before = await db.sessions().findOne({ _id: id });
      return {
        status: 400,
        send: () =>
          http()
            .post('/s/profile')
            .set('Cookie', cookie)
            .send({ bio: 'x'.repeat(70 * 1024) }),
        check: async (response) => {
          expect(response.body.message).toMatch(/maxSessionBytes/);
          expect(await db.sessions().findOne({ _id: id })).toEqual(before);
        },
      };
    },
  ],
  [
    'profile patch with an array inside an array',
    async () => {
      const cookie = await login('u-nested');
      const id = storedIdOf(cookie);
      const before = await db.sessions().findOne({ _id: id });
      return {
        status: 400,
        send: () =>
          http()
            .post('/s/profile')
            .set('Cookie', cookie)
            .send({ grid: [[1, 2], [3]] }),
        check: async (response) => {
          expect(response.body.message).toMatch(
            /^Session value at grid\[0\] cannot be stored: it is an array directly inside an array/,
          );
          expect(await db.sessions().findOne({ _id: id })).toEqual(before);
        },
      };
    },
  ],
  [
    'profile patch with a key that forges a log line',
    async () => {
      const cookie = await login('u-forger');
      return {
        status: 400,
        send: () =>
          http()
            .post('/s/profile')
            .set('Cookie', cookie)
            .send({ prefs: { 'a\n[Nest] 1 - LOG [AuthController] admin logged in': { $gt: 1 } } }),
        check: (response) => {
          expect(response.body.message).not.toContain('\n');
          expect(response.body.message).toContain('prefs["a\\n[Nest]');
        },
      };
    },
  ],
  [
    'malformed JSON body',
    () => ({
      status: 400,
      send: () => http().post('/s/login').set('Content-Type', 'application/json').send('{"userId": '),
    }),
  ],
  [
    'JSON body over the size limit',
    () => ({
      status: 413,
      send: () =>
        http()
          .post('/s/login')
          .send({ userId: 'x'.repeat(200 * 1024) }),
    }),
  ],
];

beforeAll(async () => {
  db = new TestDatabase();
  app = await startScenarioApp(
    SessionModule.forRoot(scenarioOptions(db, { secret: SECRET, schema: sessionSchema })),
    logger,
  );
  await login('u-other-user'); // a bystander whose data must never show up in an answer
});

afterAll(async () => {
  process.stdout.write(`bad input: ${passed}/${cases.length} cases passed\n`);
  await app?.close();
  await db?.close();
});

describe('bad input', () => {
  it('signs cookies the way the tests forge them (sanity check of the forging helper)', async () => {
    const cookie = await login();
    expect(signedCookie(sessionIdOf(cookie), SECRET)).toBe(cookie);
  });

  it.each(cases)('%s', async (_name, prepare) => {
    const { status, send, check } = await prepare();
    const response = await send();
    expect(response.status).toBe(status);
    expect(response.text).not.toMatch(/\n\s+at /);
    expect(response.text).not.toContain('u-other-user');
    if (response.status === 401) expect(setCookieFor(response)).toBeUndefined();
    await check?.(response);
    passed += 1;
  });
});
