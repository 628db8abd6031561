import { afterAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import type { SessionEvent, SessionModuleOptions } from 'nestjs-typed-session';
import request from 'supertest';
import {
  cookieFrom,
  sessionIdOf,
  setCookieFor,
  setCookies,
  signedCookie,
  storedIdOf,
  tamper,
} from './support/cookies.js';
import { TestDatabase } from './support/database.js';
import { CapturingLogger } from './scenarios/routes.scenario.js';
import { cookieOptions, startCookieApp } from './scenarios/cookies.scenario.js';

// What a browser does with the session cookie, checked on the wire: when it is sent and with which expiry,
// what may be cached, which requests are refused as forged, and what is reported.

const running: INestApplication[] = [];
const databases: TestDatabase[] = [];
afterAll(async () => {
  for (const app of running) await app.close();
  for (const db of databases) await db.close();
});

async function setup(
  overrides: Partial<SessionModuleOptions> = {},
  settings: { trustProxy?: boolean; db?: TestDatabase } = {},
) {
  const db = settings.db ?? new TestDatabase();
  if (!settings.db) databases.push(db);
  const events: SessionEvent[] = [];
  const logger = new CapturingLogger();
  const app = await startCookieApp(cookieOptions(db, { onEvent: (event) => events.push(event), ...overrides }), {
    ...settings,
    logger,
  });
  running.push(app);
  const http = () => request(app.getHttpServer());
  const login = async (userId: string, remember = false) => {
    const response = await http().post('/c/login').send({ userId, remember }).expect(200);
    return { cookie: cookieFrom(response), token: response.body.token as string, response };
  };
  return { http, login, db, events, logger };
}

/** The `Expires` of a `Set-Cookie` line, in ms since the epoch, or `undefined` for a browser-session cookie. */
function expiresOf(line: string | undefined): number | undefined {
  const match = /Expires=([^;]+)/.exec(line ?? '');
  return match ? Date.parse(match[1]) : undefined;
}

describe('cookie lifetime', () => {
  it('is a browser-session cookie by default: no Expires, no Max-Age', async () => {
    const s = await setup();
    const { response } = await s.login('u-session-cookie');
    const line = setCookieFor(response)!;
    expect(line).not.toMatch(/Expires=|Max-Age=/);
    expect((await s.db.sessions().findOne({ _id: storedIdOf(cookieFrom(response)) }))!.remember).toBeUndefined();
  });

  it('follows the server with persistent cookies: sent again, with the new expiry, when the touch moves it', async () => {
    const s = await setup({ cookie: { persistent: true }, idleTimeout: 600, touchAfter: 60 });
    const { cookie } = await s.login('u-follow');

    const within = await s.http().get('/c/me').set('Cookie', cookie).expect(200);
    expect(setCookieFor(within)).toBeUndefined(); // within touchAfter: nothing moved, nothing sent

    const lastSeenAt = new Date(Date.now() - 61_000);
    await s.db.sessions().updateOne({ _id: storedIdOf(cookie) }, { $set: { lastSeenAt } });
    const before = Date.now();
    const touched = await s.http().get('/c/me').set('Cookie', cookie).expect(200);
    const line = setCookieFor(touched);
    expect(cookieFrom(touched)).toBe(cookie); // the same session, in one Set-Cookie
    expect(setCookies(touched).filter((header) => header.startsWith('sid='))).toHaveLength(1);
    const expires = expiresOf(line)!;
    const stored = (await s.db.sessions().findOne({ _id: storedIdOf(cookie) }))!;
    // The cookie's expiry is the server's, to the second (Expires has a one-second precision).
    expect(Math.abs(expires - stored.expires.getTime())).toBeLessThan(1000);
    expect(expires).toBeGreaterThanOrEqual(before + 600_000 - 1000);
  });

  it('is capped by the absolute timeout', async () => {
    const s = await setup({ cookie: { persistent: true }, idleTimeout: 600, absoluteTimeout: 900, touchAfter: 60 });
    const { cookie } = await s.login('u-capped');
    const loginAt = new Date(Date.now() - 800_000); // 100 s of the absolute timeout left
    await s.db
      .sessions()
      .updateOne({ _id: storedIdOf(cookie) }, { $set: { loginAt, lastSeenAt: new Date(Date.now() - 61_000) } });
    const touched = await s.http().get('/c/me').set('Cookie', cookie).expect(200);
    const expires = expiresOf(setCookieFor(touched))!;
    expect(Math.abs(expires - (loginAt.getTime() + 900_000))).toBeLessThan(1500);
  });

  it('is persistent for a remembered login, whose session has the rememberMe timeouts', async () => {
    const s = await setup({ idleTimeout: 600, rememberMe: { idleTimeout: 30 * 86_400 } });
    const { cookie, response } = await s.login('u-remember', true);
    const expires = expiresOf(setCookieFor(response))!;
    expect(expires).toBeGreaterThan(Date.now() + 29 * 86_400_000);
    const stored = (await s.db.sessions().findOne({ _id: storedIdOf(cookie) }))!;
    expect(stored.remember).toBe(true);
    expect(stored.expires.getTime()).toBeGreaterThan(Date.now() + 29 * 86_400_000);

    // Idle for an hour: past the default idle timeout, well within the remembered one.
    await s.db
      .sessions()
      .updateOne({ _id: storedIdOf(cookie) }, { $set: { lastSeenAt: new Date(Date.now() - 3_600_000) } });
    await s.http().get('/c/me').set('Cookie', cookie).expect(200, { userId: 'u-remember' });
    const plain = await s.login('u-plain');
    await s.db
      .sessions()
      .updateOne({ _id: storedIdOf(plain.cookie) }, { $set: { lastSeenAt: new Date(Date.now() - 3_600_000) } });
    await s.http().get('/c/me').set('Cookie', plain.cookie).expect(401);
  });
});

describe('a cookie sent again for an old session', () => {
  /** A session logged in under lax attributes, then the app started again with hardened ones on the same data. */
  async function hardened(old: Partial<SessionModuleOptions>, hardenedOptions: Partial<SessionModuleOptions>) {
    const before = await setup({ cookie: { httpOnly: false, sameSite: 'lax' }, ...old });
    const { cookie } = await before.login('u-hardening');
    const stored = (await before.db.sessions().findOne({ _id: storedIdOf(cookie) }))!;
    expect(stored.session.cookie).toMatchObject({ httpOnly: false, sameSite: 'lax', secure: false });
    const after = await setup(
      {
        ...hardenedOptions,
        cookie: {
          httpOnly: true,
          sameSite: 'strict',
          secure: true,
          domain: 'app.example.test',
          ...hardenedOptions.cookie,
        },
      },
      { trustProxy: true, db: before.db },
    );
    return { after, cookie };
  }

  it('takes the attributes in force when re-signed with the current secret, and stays a browser-session cookie', async () => {
    const { after, cookie } = await hardened({ secret: 'secret-2025' }, { secret: ['secret-2026', 'secret-2025'] });
    const response = await after.http().get('/c/me').set('X-Forwarded-Proto', 'https').set('Cookie', cookie);
    expect(response.status).toBe(200);
    const line = setCookieFor(response)!;
    expect(line).toContain(`sid=${encodeURIComponent(`s:${sessionIdOf(cookie)}`)}`); // the same session, re-signed
    expect(line).toMatch(/; HttpOnly/);
    expect(line).toMatch(/; Secure/);
    expect(line).toMatch(/; SameSite=Strict/);
    expect(line).toMatch(/; Domain=app\.example\.test/);
    expect(line).not.toMatch(/Expires=|Max-Age=/);
  });

  it("takes the attributes in force when a persistent cookie follows a touch, with the session's expiry", async () => {
    const persistent = { cookie: { persistent: true }, idleTimeout: 600, touchAfter: 60 };
    const { after, cookie } = await hardened(
      { ...persistent, cookie: { httpOnly: false, sameSite: 'lax', persistent: true } },
      persistent,
    );
    await after.db
      .sessions()
      .updateOne({ _id: storedIdOf(cookie) }, { $set: { lastSeenAt: new Date(Date.now() - 61_000) } });
    const response = await after.http().get('/c/me').set('X-Forwarded-Proto', 'https').set('Cookie', cookie);
    expect(response.status).toBe(200);
    const line = setCookieFor(response)!;
    expect(cookieFrom(response)).toBe(cookie);
    expect(line).toMatch(/; HttpOnly/);
    expect(line).toMatch(/; Secure/);
    expect(line).toMatch(/; SameSite=Strict/);
    expect(line).toMatch(/; Domain=app\.example\.test/);
    const stored = (await after.db.sessions().findOne({ _id: storedIdOf(cookie) }))!;
    expect(Math.abs(expiresOf(line)! - stored.expires.getTime())).toBeLessThan(1000);
  });
});

describe('Cache-Control: no-store', () => {
  it('on answers that set or clear the cookie and on authenticated answers; not on anonymous ones', async () => {
    const s = await setup();
    const { cookie, response } = await s.login('u-cache');
    expect(response.headers['cache-control']).toBe('no-store');
    expect((await s.http().get('/c/me').set('Cookie', cookie)).headers['cache-control']).toBe('no-store');
    // The handler's own Cache-Control stands.
    expect((await s.http().get('/c/cached').set('Cookie', cookie)).headers['cache-control']).toBe(
      'private, max-age=60',
    );
    expect((await s.http().get('/c/public')).headers['cache-control']).toBeUndefined();
  });

  it('not on authenticated answers with noStoreAuthenticated: false (still on those that set the cookie)', async () => {
    const s = await setup({ noStoreAuthenticated: false });
    const { cookie, response } = await s.login('u-cache-off');
    expect(response.headers['cache-control']).toBe('no-store');
    expect((await s.http().get('/c/me').set('Cookie', cookie)).headers['cache-control']).toBeUndefined();
  });
});

describe('a Secure cookie on a request that is not HTTPS', () => {
  it('fails the login loudly, writing nothing and setting no cookie', async () => {
    const s = await setup({ cookie: { hostPrefix: true } });
    const response = await s.http().post('/c/login').send({ userId: 'u-insecure' });
    expect(response.status).toBe(500);
    expect(response.body.message).toMatch(/not HTTPS.*trust proxy/);
    expect(setCookieFor(response, '__Host-sid')).toBeUndefined();
    expect(await s.db.sessions().countDocuments({})).toBe(0);
    // Said once at start-up already: a Secure cookie, plain HTTP, no trust proxy.
    expect(
      s.logger.lines.filter((line) => line.message.includes("plain HTTP and Express 'trust proxy' is off")),
    ).toHaveLength(1);
  });

  it('works behind a TLS proxy once trust proxy is set', async () => {
    const s = await setup({ cookie: { hostPrefix: true } }, { trustProxy: true });
    const response = await s.http().post('/c/login').set('X-Forwarded-Proto', 'https').send({ userId: 'u-proxied' });
    expect(response.status).toBe(200);
    expect(setCookieFor(response, '__Host-sid')).toMatch(/; Secure/);
  });

  it("warns once when secure: 'auto' meets a TLS proxy that Express does not trust", async () => {
    const s = await setup();
    for (let i = 0; i < 3; i += 1) await s.http().get('/c/public').set('X-Forwarded-Proto', 'https');
    const warnings = s.logger.lines.filter((line) => line.message.includes("'trust proxy' is off"));
    expect(warnings).toHaveLength(1);
  });
});

describe('CSRF', () => {
  it('refuses an unsafe request of a session without its token, and accepts the header or the form field', async () => {
    const s = await setup();
    const { cookie, token } = await s.login('u-csrf');
    const missing = await s.http().post('/c/change').set('Cookie', cookie);
    expect(missing.status).toBe(403);
    expect(missing.body.message).toMatch(/^CSRF check failed: no token/);
    const wrong = await s.http().post('/c/change').set('Cookie', cookie).set('X-CSRF-Token', tamper(token));
    expect(wrong.status).toBe(403);
    expect((await s.db.sessions().findOne({ _id: storedIdOf(cookie) }))!.session.visits).toBeUndefined();

    await s.http().post('/c/change').set('Cookie', cookie).set('X-CSRF-Token', token).expect(200, { visits: 1 });
    await s
      .http()
      .post('/c/change')
      .set('Cookie', cookie)
      .type('form')
      .send({ _csrf: token })
      .expect(200, { visits: 2 });
    await s.http().get('/c/me').set('Cookie', cookie).expect(200); // safe methods are not checked
  });

  it('renews the token at login, and never shows it in the session data', async () => {
    const s = await setup();
    const first = await s.login('u-csrf-rotate');
    const anonymous = await s.http().get('/c/token').expect(200);
    expect(setCookieFor(anonymous)).toBeUndefined(); // an anonymous token makes no session
    const second = await s.http().post('/c/login').send({ userId: 'u-csrf-rotate' }).expect(200);
    expect(second.body.token).not.toBe(anonymous.body.token);
    expect(second.body.token).not.toBe(first.token);
    await s
      .http()
      .post('/c/change')
      .set('Cookie', cookieFrom(second))
      .set('X-CSRF-Token', anonymous.body.token)
      .expect(403);
    const stored = (await s.db.sessions().findOne({ _id: storedIdOf(cookieFrom(second)) }))!;
    expect(stored.session.__csrf).toBe(second.body.token);
  });

  it('refuses a cross-site request without a session (login forgery), and lets a first-party or non-browser one through', async () => {
    const s = await setup();
    for (const site of ['cross-site', 'same-site']) {
      const forged = await s.http().post('/c/login').set('Sec-Fetch-Site', site).send({ userId: 'u-forged' });
      expect(forged.status).toBe(403);
      expect(setCookieFor(forged)).toBeUndefined();
    }
    expect(await s.db.sessions().countDocuments({})).toBe(0);
    await s.http().post('/c/login').set('Sec-Fetch-Site', 'same-origin').send({ userId: 'u-first-party' }).expect(200);
    await s.http().post('/c/login').send({ userId: 'u-api-client' }).expect(200);
  });
});

describe('CSRF: origins, planted cookies, TRACE, anonymous tokens', () => {
  // supertest listens on a new port per request: the tests name the host, as a browser's request does.
  const HOST = 'app.test:8080';
  const OWN = 'http://app.test:8080';

  it('refuses a login posted from another origin (Origin, else Referer) without Sec-Fetch-Site', async () => {
    const s = await setup();
    const foreign = [
      ['Origin', 'http://evil.test:8080'],
      ['Origin', 'http://sibling.app.test:8080'],
      ['Origin', 'http://app.test:9090'],
      ['Origin', 'null'],
      ['Referer', 'http://sibling.app.test:8080/login'],
    ];
    for (const [header, value] of foreign) {
      const forged = await s.http().post('/c/login').set('Host', HOST).set(header, value).send({ userId: 'u-forged' });
      expect(forged.status).toBe(403);
      expect(forged.body.message).toBe('CSRF check failed: a request from another origin.');
      expect(setCookieFor(forged)).toBeUndefined();
    }
    expect(await s.db.sessions().countDocuments({})).toBe(0);
    await s.http().post('/c/login').set('Host', HOST).set('Origin', OWN).send({ userId: 'u-own' }).expect(200);
    await s
      .http()
      .post('/c/login')
      .set('Host', HOST)
      .set('Referer', `${OWN}/login`)
      .send({ userId: 'u-ref' })
      .expect(200);
    await s.http().post('/c/login').set('Host', HOST).send({ userId: 'u-api' }).expect(200); // not a browser
    expect(await s.db.sessions().countDocuments({})).toBe(3);
  });

  it('accepts a trusted origin; an https page only for an HTTPS app; refuses a session request from elsewhere', async () => {
    const s = await setup({ trustedOrigins: ['https://spa.test'] }, { trustProxy: true });
    await s
      .http()
      .post('/c/login')
      .set('Host', HOST)
      .set('Origin', 'https://spa.test')
      .send({ userId: 'u-spa' })
      .expect(200);
    const secure = (call: ReturnType<ReturnType<typeof s.http>['post']>) =>
      call.set('Host', 'app.test').set('X-Forwarded-Proto', 'https');
    expect(
      (await secure(s.http().post('/c/login')).set('Origin', 'http://app.test').send({ userId: 'u-http' })).status,
    ).toBe(403);
    const login = await secure(s.http().post('/c/login')).set('Origin', 'https://app.test').send({ userId: 'u-https' });
    expect(login.status).toBe(200);
    const cookie = cookieFrom(login);
    // With the session's cookie and its token, from a sibling's page: refused, nothing written.
    const sibling = await secure(s.http().post('/c/change'))
      .set('Cookie', cookie)
      .set('X-CSRF-Token', login.body.token)
      .set('Origin', 'https://sibling.app.test');
    expect(sibling.status).toBe(403);
    expect((await s.db.sessions().findOne({ _id: storedIdOf(cookie) }))!.session.visits).toBeUndefined();
    await secure(s.http().post('/c/change'))
      .set('Cookie', cookie)
      .set('X-CSRF-Token', login.body.token)
      .set('Origin', 'https://app.test')
      .expect(200, { visits: 1 });
  });

  it('refuses an unsafe request carrying two session cookies (one planted by a sibling), whatever the token', async () => {
    const s = await setup();
    const victim = await s.login('u-victim');
    const attacker = await s.login('u-attacker');
    const tossed = await s
      .http()
      .post('/c/change')
      .set('Cookie', `${attacker.cookie}; ${victim.cookie}`)
      .set('X-CSRF-Token', attacker.token);
    expect(tossed.status).toBe(403);
    expect(tossed.body.message).toMatch(/two session cookies/);
    expect((await s.db.sessions().findOne({ _id: storedIdOf(attacker.cookie) }))!.session.visits).toBeUndefined();
    await s.http().get('/c/me').set('Cookie', `${victim.cookie}; ${attacker.cookie}`).expect(200); // safe: served
  });

  it('advises cookie.hostPrefix once, at the first HTTPS request, when the cookie has no __Host- prefix', async () => {
    const advice = (s: { logger: { lines: { message: string }[] } }) =>
      s.logger.lines.filter((line) => line.message.includes('no __Host- prefix'));
    const plain = await setup({}, { trustProxy: true });
    await plain.http().post('/c/login').send({ userId: 'u-plain' }).expect(200);
    expect(advice(plain)).toHaveLength(0); // plain HTTP: a __Host- cookie could not be set
    for (const userId of ['u-https-1', 'u-https-2']) {
      await plain.http().post('/c/login').set('X-Forwarded-Proto', 'https').send({ userId }).expect(200);
    }
    expect(advice(plain)).toHaveLength(1);
    const prefixed = await setup({ cookie: { hostPrefix: true } }, { trustProxy: true });
    await prefixed.http().post('/c/login').set('X-Forwarded-Proto', 'https').send({ userId: 'u-host' }).expect(200);
    expect(advice(prefixed)).toHaveLength(0);
  });

  it('checks TRACE as an unsafe method', async () => {
    const s = await setup();
    const { cookie, token } = await s.login('u-trace');
    const traced = await s.http().trace('/c/any').set('Cookie', cookie);
    expect(traced.status).toBe(403);
    expect((await s.db.sessions().findOne({ _id: storedIdOf(cookie) }))!.session.visits).toBeUndefined();
    await s.http().trace('/c/any').set('Cookie', cookie).set('X-CSRF-Token', token).expect(200);
  });

  it('csrfToken() for a visitor without a session stores nothing; stored with the session when it is', async () => {
    const s = await setup();
    for (let i = 0; i < 3; i += 1) {
      const page = await s.http().get('/c/token').expect(200);
      expect(page.body.token).toEqual(expect.any(String));
      expect(setCookieFor(page)).toBeUndefined();
    }
    expect(await s.db.sessions().countDocuments({})).toBe(0);
    // A page that also writes the session: the token it rendered is the stored one, and is checked.
    const welcome = await s.http().get('/c/welcome').expect(200);
    const cookie = cookieFrom(welcome);
    const stored = (await s.db.sessions().findOne({ _id: storedIdOf(cookie) }))!;
    expect(stored.session.__csrf).toBe(welcome.body.token);
    await s.http().post('/c/change').set('Cookie', cookie).expect(403);
    await s
      .http()
      .post('/c/change')
      .set('Cookie', cookie)
      .set('X-CSRF-Token', welcome.body.token)
      .expect(200, { visits: 1 });
  });
});

describe('refused cookies', () => {
  it('are read as express-session reads the header: a forged cookie sent as `sid =…` or `sid\t=…` is reported', async () => {
    const s = await setup();
    const { cookie } = await s.login('u-spaced');
    const value = cookie.slice(cookie.indexOf('=') + 1);
    for (const spaced of [`sid =${tamper(cookie).slice(4)}`, `other=1; sid\t=${tamper(cookie).slice(4)}`]) {
      await s.http().get('/c/me').set('Cookie', spaced).expect(401);
    }
    expect(s.events.filter((event) => event.type === 'rejected').map((event) => event.reason)).toEqual([
      'bad-signature',
      'bad-signature',
    ]);
    // The genuine cookie sent that way is the session, as express-session reads it.
    await s.http().get('/c/me').set('Cookie', `sid = ${value}`).expect(200, { userId: 'u-spaced' });
  });

  it('are reported as rejected events without the id, at most 100 a minute, and logged once', async () => {
    const s = await setup();
    const { cookie } = await s.login('u-target');
    const forgedId = 'guessed-session-id-0000000000000';
    await s.http().get('/c/me').set('Cookie', tamper(cookie)).expect(401);
    await s.http().get('/c/me').set('Cookie', signedCookie(forgedId, 'cookie-test-secret')).expect(401);
    const rejected = s.events.filter((event) => event.type === 'rejected');
    expect(rejected.map((event) => event.reason)).toEqual(['bad-signature', 'unknown-id']);
    expect(rejected[0].handle).toBe('');
    expect(rejected[0].ip).toMatch(/127\.0\.0\.1/);
    expect(JSON.stringify(rejected)).not.toContain(sessionIdOf(cookie));
    expect(JSON.stringify(rejected)).not.toContain(forgedId);

    for (let i = 0; i < 110; i += 1) await s.http().get('/c/me').set('Cookie', tamper(cookie));
    expect(s.events.filter((event) => event.type === 'rejected')).toHaveLength(100);
    expect(s.logger.lines.filter((line) => line.message.includes('session cookie was refused'))).toHaveLength(1);
  });
});
