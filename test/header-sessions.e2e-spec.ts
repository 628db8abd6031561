import { afterAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { SessionModule, type SessionEvent, type SessionModuleOptions } from 'nestjs-typed-session';
import { sign } from 'cookie-signature';
import { createClient } from 'graphql-ws';
import { io, type Socket } from 'socket.io-client';
import request, { type Response } from 'supertest';
import WebSocket from 'ws';
import { startFerretDB } from '../scripts/mongo-server.mjs';
import { cookieFrom, setCookieFor, signedCookie, storedIdOf, tamper } from './support/cookies.js';
import { TestDatabase } from './support/database.js';
import { waitFor, webSocketWithCookie, wsUrl } from './support/sockets.js';
import { cookieOptions, startCookieApp } from './scenarios/cookies.scenario.js';
import { GATEWAY_PATH, startGatewayApp } from './scenarios/gateway.scenario.js';
import { startGraphqlApp } from './scenarios/graphql.scenario.js';
import { PASSWORD, startRecentAuthApp } from './scenarios/recent-auth.scenario.js';
import { Gate, gates, scenarioOptions, startScenarioApp } from './scenarios/routes.scenario.js';

// Clients without a cookie jar (a mobile app, a CLI, another server): the session travels as a signed token
// in a header. Every request here is sent without `Cookie` unless a test says otherwise.

const running: INestApplication[] = [];
const databases: TestDatabase[] = [];
afterAll(async () => {
  for (const app of running) await app.close();
  for (const db of databases) await db.close();
});

const TOKEN_HEADER = 'x-session-token';

/** The token an answer hands out: `undefined` when it carries none, `''` when it tells the client to drop its own. */
function tokenOf(response: Response): string | undefined {
  return response.headers[TOKEN_HEADER];
}

/** The token an answer hands out; throws when it carries none. */
function issued(response: Response): string {
  const token = tokenOf(response);
  if (!token) throw new Error(`the answer handed out no token (status ${response.status})`);
  return token;
}

/** The session id inside a token (`<id>.<signature>`). */
function idOf(token: string): string {
  return token.slice(0, token.lastIndexOf('.'));
}

/** The cookie that carries the same signed id: what the cookie helpers take. */
function asCookie(token: string): string {
  return `sid=${encodeURIComponent(`s:${token}`)}`;
}

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

async function setup(overrides: Partial<SessionModuleOptions> = {}, db?: TestDatabase) {
  const database = db ?? new TestDatabase();
  if (!db) databases.push(database);
  const events: SessionEvent[] = [];
  const app = await startScenarioApp(
    SessionModule.forRoot(
      scenarioOptions(database, { idSource: 'header', onEvent: (event) => events.push(event), ...overrides }),
    ),
  );
  running.push(app);
  const http = () => request(app.getHttpServer());
  const login = async (userId: string, headers: Record<string, string> = {}) =>
    issued(await http().post('/s/login').set(headers).send({ userId }).expect(200));
  const doc = (token: string) => database.sessions().findOne({ _id: storedIdOf(asCookie(token)) });
  return { http, login, doc, events, db: database };
}

describe('header-only sessions (idSource: "header")', () => {
  it('login hands out the token and no cookie; Bearer and the named header authenticate; stored under its SHA-256', async () => {
    const s = await setup();
    const response = await s.http().post('/s/login').send({ userId: 'u-cli' }).expect(200);
    expect(setCookieFor(response)).toBeUndefined();
    expect(response.headers['cache-control']).toBe('no-store');
    const token = issued(response);
    expect(token).toMatch(/^[\w-]{32}\.[\w+/]{43}$/);
    expect(token).toBe(sign(idOf(token), 'scenario-test-secret'));

    for (const headers of [bearer(token), { 'X-Session-Token': token }, { authorization: `bearer  ${token}` }]) {
      const answer = await s.http().get('/s/guarded').set(headers).expect(200, { userId: 'u-cli' });
      expect(setCookieFor(answer)).toBeUndefined();
      expect(tokenOf(answer)).toBeUndefined(); // an unchanged token is not sent again
      expect(answer.headers['cache-control']).toBe('no-store'); // private data stays uncached
    }

    const stored = (await s.doc(token))!;
    expect(stored._id).toBe(storedIdOf(asCookie(token)));
    expect(stored.session.userId).toBe('u-cli');
    expect(await s.db.sessions().findOne({ _id: idOf(token) })).toBeNull(); // never the id itself
    expect(s.events.filter((event) => event.type === 'created')).toHaveLength(1);
  });

  it('ignores the session cookie: a header-only application reads no credential a browser sends by itself', async () => {
    const s = await setup();
    const token = await s.login('u-no-cookie');
    const cookie = signedCookie(idOf(token), 'scenario-test-secret');
    const answer = await s.http().get('/s/guarded').set('Cookie', cookie);
    expect(answer.status).toBe(401);
    expect(setCookieFor(answer)).toBeUndefined();
    expect(await s.doc(token)).not.toBeNull();
  });

  it('hands a token to a new anonymous session the moment it is stored', async () => {
    const s = await setup();
    const first = await s.http().post('/s/visit').expect(200, { visits: 1 });
    const token = issued(first);
    expect(setCookieFor(first)).toBeUndefined();
    const second = await s.http().post('/s/visit').set(bearer(token)).expect(200, { visits: 2 });
    expect(tokenOf(second)).toBeUndefined();
    expect((await s.doc(token))!.session.visits).toBe(2);
  });

  it('rotation hands out a new token and the old one is dead (regenerate, password change)', async () => {
    const s = await setup();
    const token = await s.login('u-rotate');
    await s.http().post('/s/visit').set(bearer(token)).expect(200);
    const handle = (await s.doc(token))!.handle;

    const rotated = await s.http().post('/s/regenerate').set(bearer(token)).expect(200);
    const renewed = issued(rotated);
    expect(renewed).not.toBe(token);
    expect(rotated.body.data).toEqual({ visits: 1 });
    expect(setCookieFor(rotated)).toBeUndefined();
    expect(await s.doc(token)).toBeNull();
    expect((await s.doc(renewed))!.handle).toBe(handle);

    const dead = await s.http().get('/s/guarded').set(bearer(token));
    expect(dead.status).toBe(401);
    expect(tokenOf(dead)).toBe(''); // the client is told to drop it
    expect(s.events.at(-1)).toMatchObject({ type: 'rejected', reason: 'unknown-id' });

    // regenerate({ keep: ['visits'] }) dropped the login; a password change keeps it and rotates too.
    const again = await s.login('u-rotate', bearer(renewed));
    const changed = await s.http().post('/s/password').set('X-Session-Token', again).expect(200);
    const third = issued(changed);
    expect(third).not.toBe(again);
    expect(await s.doc(again)).toBeNull();
    expect((await s.http().get('/s/guarded').set(bearer(again))).status).toBe(401);
    await s.http().get('/s/guarded').set(bearer(third)).expect(200, { userId: 'u-rotate' });
  });

  it('confirmAuthentication() (sudo mode) hands out a new token; the old one is dead, the new one elevated', async () => {
    const db = new TestDatabase();
    databases.push(db);
    const app = await startRecentAuthApp(
      SessionModule.forRoot(scenarioOptions(db, { idSource: 'header', recentAuthSeconds: 60 })),
    );
    running.push(app);
    const http = () => request(app.getHttpServer());
    const token = issued(await http().post('/a/login').send({ userId: 'u-sudo' }).expect(200));
    await db
      .sessions()
      .updateOne({ _id: storedIdOf(asCookie(token)) }, { $set: { loginAt: new Date(Date.now() - 120_000) } });
    expect((await http().delete('/a/account').set(bearer(token))).status).toBe(403);

    const confirmed = await http().post('/a/confirm').set(bearer(token)).send({ password: PASSWORD }).expect(200);
    const elevated = issued(confirmed);
    expect(elevated).not.toBe(token);
    expect(await db.sessions().findOne({ _id: storedIdOf(asCookie(token)) })).toBeNull();
    const stored = (await db.sessions().findOne({ _id: storedIdOf(asCookie(elevated)) })) as {
      reauthenticatedAt?: unknown;
    } | null;
    expect(stored?.reauthenticatedAt).toBeInstanceOf(Date);
    await http().delete('/a/account').set(bearer(elevated)).expect(200, { deleted: true });
    expect((await http().delete('/a/account').set(bearer(token))).status).toBe(401);
  });

  it('a login presenting a token replaces its session: new token, old document gone', async () => {
    const s = await setup();
    const anonymous = issued(await s.http().post('/s/visit').expect(200));
    const token = await s.login('u-fixation', bearer(anonymous));
    expect(token).not.toBe(anonymous);
    expect(await s.doc(anonymous)).toBeNull();
    expect((await s.doc(token))!.session.userId).toBe('u-fixation');
  });

  it('logout answers an empty token header; the document is gone and the token dead', async () => {
    const s = await setup();
    const token = await s.login('u-logout');
    const out = await s.http().post('/s/logout').set(bearer(token)).expect(200);
    expect(tokenOf(out)).toBe('');
    expect(out.headers['cache-control']).toBe('no-store');
    expect(setCookieFor(out)).toBeUndefined();
    expect(await s.doc(token)).toBeNull();
    expect(s.events.at(-1)).toMatchObject({ type: 'destroyed', reason: 'logout', userId: 'u-logout' });

    const after = await s.http().get('/s/guarded').set(bearer(token));
    expect(after.status).toBe(401);
    // A dead token makes no document when the request writes nothing; a write makes a new session.
    expect(await s.db.sessions().countDocuments({})).toBe(0);
    const fresh = await s.http().post('/s/visit').set(bearer(token)).expect(200, { visits: 1 });
    expect(issued(fresh)).not.toBe(token);
    expect(await s.doc(token)).toBeNull();
  });

  it('an expired session: 401, the empty token header, an expired event, the document gone', async () => {
    const s = await setup({ idleTimeout: 600, touchAfter: 60 });
    const token = await s.login('u-expired');
    await s.db
      .sessions()
      .updateOne({ _id: storedIdOf(asCookie(token)) }, { $set: { lastSeenAt: new Date(Date.now() - 601_000) } });
    const answer = await s.http().get('/s/guarded').set(bearer(token));
    expect(answer.status).toBe(401);
    expect(tokenOf(answer)).toBe('');
    expect(s.events).toContainEqual(
      expect.objectContaining({ type: 'expired', reason: 'idle-timeout', userId: 'u-expired' }),
    );
    expect(await s.doc(token)).toBeNull();
  });

  it('a second device, listForUser, revocation by handle and logout everywhere', async () => {
    const s = await setup();
    const phone = await s.login('u-devices', { 'User-Agent': 'phone' });
    const laptop = await s.login('u-devices', { 'User-Agent': 'cli' });
    expect(phone).not.toBe(laptop);

    const listed = (await s.http().get('/s/sessions').set(bearer(phone)).expect(200)).body as {
      handle: string;
      current: boolean;
      userAgent: string;
    }[];
    expect(listed.map((info) => [info.userAgent, info.current]).sort()).toEqual([
      ['cli', false],
      ['phone', true],
    ]);
    expect(JSON.stringify(listed)).not.toContain(idOf(phone));
    const laptopHandle = listed.find((info) => info.userAgent === 'cli')!.handle;
    expect((await s.doc(laptop))!.handle).toBe(laptopHandle);

    await s.http().delete(`/s/sessions/${laptopHandle}`).set(bearer(phone)).expect(200, { revoked: true });
    expect(await s.doc(laptop)).toBeNull();
    const revoked = await s.http().get('/s/guarded').set(bearer(laptop));
    expect(revoked.status).toBe(401);
    expect(tokenOf(revoked)).toBe('');
    expect(s.events).toContainEqual(
      expect.objectContaining({ type: 'revoked', reason: 'revoke', handle: laptopHandle, userId: 'u-devices' }),
    );

    const tablet = await s.login('u-devices');
    const everywhere = await s.http().post('/s/logout-everywhere').set(bearer(phone)).expect(200, { ended: 2 });
    expect(tokenOf(everywhere)).toBe(''); // the current session ended too
    expect(await s.db.byUser('u-devices')).toHaveLength(0);
    for (const token of [phone, tablet]) expect((await s.http().get('/s/guarded').set(bearer(token))).status).toBe(401);
    expect(s.events.filter((event) => event.type === 'revoked' && event.reason === 'revoke-all')).toHaveLength(2);
  });

  it('no resurrection: a write in flight while its session is revoked is answered 401 with the empty header', async () => {
    const s = await setup();
    const victim = await s.login('u-in-flight');
    const other = await s.login('u-in-flight');
    const handle = (await s.doc(victim))!.handle!;
    const gate = (gates.current = new Gate());
    const inFlight = s
      .http()
      .post('/s/held-write')
      .set(bearer(victim))
      .then((response) => response);
    await gate.reached();
    await s.http().delete(`/s/sessions/${handle}`).set(bearer(other)).expect(200, { revoked: true });
    gate.open();
    const response = await inFlight;
    expect(response.status).toBe(401);
    expect(tokenOf(response)).toBe('');
    expect(await s.doc(victim)).toBeNull();
    expect(await s.db.byUser('u-in-flight')).toHaveLength(1);
  });

  it('the session cap ends the oldest header-borne session', async () => {
    const s = await setup({ maxSessionsPerUser: 2 });
    const first = await s.login('u-cap');
    const second = await s.login('u-cap');
    const third = await s.login('u-cap');
    expect(await s.db.byUser('u-cap')).toHaveLength(2);
    expect(await s.doc(first)).toBeNull();
    expect((await s.http().get('/s/guarded').set(bearer(first))).status).toBe(401);
    for (const token of [second, third]) await s.http().get('/s/guarded').set(bearer(token)).expect(200);
    expect(s.events).toContainEqual(expect.objectContaining({ type: 'revoked', reason: 'session-limit' }));
  });

  it('a forged or tampered token is refused as a bad cookie is: 401, a rejected event, nothing stored', async () => {
    const s = await setup();
    const token = await s.login('u-forge');
    const before = await s.db.sessions().countDocuments({});
    // The last one tries to smuggle a valid session cookie into the Cookie header express-session reads.
    const injected = { 'X-Session-Token': `x; sid=${encodeURIComponent(`s:${token}`)}` };
    const forgeries = [bearer(tamper(token)), bearer('not-a-token'), bearer(sign(idOf(token), 'other')), injected];
    for (const forged of forgeries) {
      s.events.length = 0;
      const answer = await s.http().get('/s/guarded').set(forged);
      expect(answer.status).toBe(401);
      expect(tokenOf(answer)).toBe('');
      expect(s.events).toEqual([expect.objectContaining({ type: 'rejected', reason: 'bad-signature', handle: '' })]);
    }
    const unknown = sign('an-id-that-names-no-stored-session', 'scenario-test-secret');
    s.events.length = 0;
    expect((await s.http().get('/s/guarded').set('X-Session-Token', unknown)).status).toBe(401);
    expect(s.events).toEqual([expect.objectContaining({ type: 'rejected', reason: 'unknown-id' })]);
    expect(await s.db.sessions().countDocuments({})).toBe(before);
    await s.http().get('/s/guarded').set(bearer(token)).expect(200); // the real one is untouched
  });

  it('accepts a token signed with the old secret after a secret rotation, and hands out the re-signed one', async () => {
    const db = new TestDatabase();
    databases.push(db);
    const before = await setup({ secret: 'secret-2025' }, db);
    const token = await before.login('u-rotate-secret');
    expect(token).toBe(sign(idOf(token), 'secret-2025'));

    const rotated = await setup({ secret: ['secret-2026', 'secret-2025'] }, db);
    const answer = await rotated.http().get('/s/guarded').set(bearer(token)).expect(200);
    const resigned = issued(answer);
    expect(resigned).toBe(sign(idOf(token), 'secret-2026'));
    expect(tokenOf(await rotated.http().get('/s/guarded').set(bearer(resigned)).expect(200))).toBeUndefined();

    const after = await setup({ secret: 'secret-2026' }, db);
    await after.http().get('/s/guarded').set(bearer(resigned)).expect(200, { userId: 'u-rotate-secret' });
    expect((await after.http().get('/s/guarded').set(bearer(token))).status).toBe(401);
  });

  it('malformed credentials: another scheme is ignored; two values, or two different tokens, are a 400', async () => {
    const s = await setup();
    const token = await s.login('u-malformed');
    const basic = await s.http().get('/s/guarded').set('Authorization', 'Basic dXNlcjpwYXNz');
    expect(basic.status).toBe(401);
    expect(tokenOf(basic)).toBeUndefined();
    // Another scheme beside the session's own header does not stand in its way.
    await s
      .http()
      .get('/s/guarded')
      .set('Authorization', 'Basic dXNlcjpwYXNz')
      .set('X-Session-Token', token)
      .expect(200);

    const cases: [string, Record<string, string | string[]>][] = [
      ['two Authorization headers', { Authorization: [`Bearer ${token}`, `Bearer ${token}`] }],
      ['two session token headers', { 'X-Session-Token': [token, token] }],
      ['a Bearer value with a space', { Authorization: `Bearer ${token} extra` }],
      ['two different tokens', { Authorization: `Bearer ${token}`, 'X-Session-Token': tamper(token) }],
    ];
    for (const [what, headers] of cases) {
      const answer = await s.http().get('/s/guarded').set(headers);
      expect([what, answer.status]).toEqual([what, 400]);
      expect(answer.body.message).toMatch(/^Session token/);
      expect(tokenOf(answer)).toBeUndefined();
    }
    // The same token in both headers is one credential.
    await s
      .http()
      .get('/s/guarded')
      .set({ ...bearer(token), 'X-Session-Token': token })
      .expect(200);
    expect((await s.doc(token))!.session.userId).toBe('u-malformed');
  });

  it('the token header name is configurable', async () => {
    const s = await setup({ tokenHeader: 'X-Auth-Token' });
    const response = await s.http().post('/s/login').send({ userId: 'u-named' }).expect(200);
    const token = response.headers['x-auth-token'];
    expect(token).toMatch(/\./);
    expect(tokenOf(response)).toBeUndefined();
    await s.http().get('/s/guarded').set('X-Auth-Token', token).expect(200, { userId: 'u-named' });
    await s.http().get('/s/guarded').set(bearer(token)).expect(200);
  });
});

describe('mixed sessions (idSource: ["cookie", "header"])', () => {
  const mixed = { idSource: ['cookie', 'header'] } as Partial<SessionModuleOptions>;

  it('a browser keeps its cookie and never sees the token; a client that asks gets the token and no cookie', async () => {
    const s = await setup(mixed);
    const browser = await s.http().post('/s/login').send({ userId: 'u-browser' }).expect(200);
    expect(tokenOf(browser)).toBeUndefined();
    const cookie = cookieFrom(browser);
    const guarded = await s.http().get('/s/guarded').set('Cookie', cookie).expect(200);
    expect(tokenOf(guarded)).toBeUndefined();
    const rotated = await s.http().post('/s/regenerate').set('Cookie', cookie).expect(200);
    expect(tokenOf(rotated)).toBeUndefined();
    expect(setCookieFor(rotated)).toBeDefined();

    for (const ask of [{ 'X-Session-Token': '' }, { Authorization: 'Bearer' }]) {
      const cli = await s.http().post('/s/login').set(ask).send({ userId: 'u-cli' }).expect(200);
      expect(setCookieFor(cli)).toBeUndefined();
      const token = issued(cli);
      await s.http().get('/s/guarded').set(bearer(token)).expect(200, { userId: 'u-cli' });
      expect((await s.doc(token))!.session.userId).toBe('u-cli');
    }
  });

  it('a request presenting both is judged by the token alone', async () => {
    const s = await setup(mixed);
    const cookie = cookieFrom(await s.http().post('/s/login').send({ userId: 'u-cookie' }).expect(200));
    const token = await s.login('u-token', { 'X-Session-Token': '' });

    const both = await s.http().get('/s/guarded').set('Cookie', cookie).set(bearer(token)).expect(200);
    expect(both.body).toEqual({ userId: 'u-token' });
    expect(setCookieFor(both)).toBeUndefined();
    // A bad token is not made up for by the cookie, nor is a request that asks for a token.
    const forged = await s
      .http()
      .get('/s/guarded')
      .set('Cookie', cookie)
      .set(bearer(tamper(token)));
    expect(forged.status).toBe(401);
    expect(tokenOf(forged)).toBe('');
    const asking = await s.http().get('/s/guarded').set('Cookie', cookie).set('X-Session-Token', '');
    expect(asking.status).toBe(401);
    expect(tokenOf(asking)).toBeUndefined();
    // Logging out by the token ends the token's session, not the cookie's.
    await s.http().post('/s/logout').set('Cookie', cookie).set(bearer(token)).expect(200);
    expect(await s.doc(token)).toBeNull();
    expect(await s.db.sessions().findOne({ _id: storedIdOf(cookie) })).not.toBeNull();
    await s.http().get('/s/guarded').set('Cookie', cookie).expect(200, { userId: 'u-cookie' });
  });

  it('CsrfGuard: no token demanded from a header-borne POST, still demanded from a cookie-borne one', async () => {
    const db = new TestDatabase();
    databases.push(db);
    const app = await startCookieApp(cookieOptions(db, mixed));
    running.push(app);
    const http = () => request(app.getHttpServer());

    const browser = await http().post('/c/login').send({ userId: 'u-csrf-cookie' }).expect(200);
    const cookie = cookieFrom(browser);
    const refused = await http().post('/c/change').set('Cookie', cookie);
    expect(refused.status).toBe(403);
    expect(refused.body.message).toMatch(/^CSRF check failed: no token/);
    await http().post('/c/change').set('Cookie', cookie).set('X-CSRF-Token', browser.body.token).expect(200);

    const token = issued(await http().post('/c/login').set('X-Session-Token', '').send({ userId: 'u-csrf-header' }));
    // Even from a page of another origin: the header is no ambient credential, a forged request has none.
    await http().post('/c/change').set(bearer(token)).set('Sec-Fetch-Site', 'cross-site').expect(200, { visits: 1 });
    await http().post('/c/change').set('Cookie', cookie).set(bearer(token)).expect(200, { visits: 2 });
    expect((await db.sessions().findOne({ _id: storedIdOf(asCookie(token)) }))!.session.visits).toBe(2);
    expect((await db.sessions().findOne({ _id: storedIdOf(cookie) }))!.session.visits).toBe(1);
  });
});

describe('WebSocket handshakes', () => {
  const gatewayApp = async (transport: 'socket.io' | 'ws', db: TestDatabase) => {
    const app = await startGatewayApp(
      SessionModule.forRoot(scenarioOptions(db, { idSource: 'header', sockets: { checkInterval: 60 } })),
      transport,
    );
    running.push(app);
    return app;
  };

  const loginToken = async (app: INestApplication, userId: string) =>
    issued(await request(app.getHttpServer()).post('/auth/login').send({ userId }).expect(200));

  /** Connects with socket.io and asks `whoami`; resolves with what the gateway answered. */
  async function ioWhoami(base: string, options: { auth?: object; headers?: Record<string, string> }) {
    const socket: Socket = io(base, {
      path: GATEWAY_PATH,
      transports: ['websocket'],
      extraHeaders: options.headers,
      auth: options.auth,
      reconnection: false,
      forceNew: true,
    });
    try {
      await waitFor<void>('the socket.io connection', (resolve) => socket.once('connect', () => resolve()));
      return await waitFor<{ event: string; data: unknown }>('the whoami answer', (resolve) => {
        socket.once('whoami', (data: unknown) => resolve({ event: 'whoami', data }));
        socket.once('exception', (data: unknown) => resolve({ event: 'exception', data }));
        socket.emit('whoami', {});
      });
    } finally {
      socket.close();
    }
  }

  it('socket.io: the auth payload or the header carries the token; a forged one or a cookie authenticates nothing', async () => {
    const db = new TestDatabase();
    databases.push(db);
    const app = await gatewayApp('socket.io', db);
    const base = await app.getUrl();
    const token = await loginToken(app, 'u-io');
    const data = { userId: 'u-io', service: 'u-io', tag: null };
    expect(await ioWhoami(base, { auth: { token } })).toEqual({ event: 'whoami', data });
    expect(await ioWhoami(base, { headers: { 'X-Session-Token': token } })).toEqual({ event: 'whoami', data });
    expect(await ioWhoami(base, { headers: bearer(token) })).toEqual({ event: 'whoami', data });
    // The socket closes when its session ends over HTTP, as with a cookie.
    const live: Socket = io(base, { path: GATEWAY_PATH, transports: ['websocket'], auth: { token }, forceNew: true });
    await waitFor<void>('the socket.io connection', (resolve) => live.once('connect', () => resolve()));
    const closed = waitFor<void>('the socket to close', (resolve) => live.once('disconnect', () => resolve()), 2_000);
    await request(app.getHttpServer()).post('/auth/logout').set(bearer(token)).expect(200);
    await closed;
    live.close();
    for (const options of [
      { auth: { token } }, // logged out
      { auth: { token: tamper(token) } },
      { headers: { cookie: asCookie(token) } }, // a header-only application reads no cookie
      { auth: { token: 42 } },
    ]) {
      expect((await ioWhoami(base, options)).event).toBe('exception');
    }
  });

  it('ws: the upgrade request header carries the token', async () => {
    const db = new TestDatabase();
    databases.push(db);
    const app = await gatewayApp('ws', db);
    const token = await loginToken(app, 'u-ws');
    const socket = new WebSocket(wsUrl(await app.getUrl(), GATEWAY_PATH), { headers: bearer(token) });
    try {
      await waitFor<void>('the ws connection', (resolve) => socket.once('open', () => resolve()));
      const reply = waitFor<unknown>('the whoami answer', (resolve) =>
        socket.once('message', (raw) => resolve(JSON.parse((raw as Buffer).toString()))),
      );
      socket.send(JSON.stringify({ event: 'whoami', data: {} }));
      expect(await reply).toEqual({ event: 'whoami', data: { userId: 'u-ws', service: 'u-ws', tag: null } });
    } finally {
      socket.close();
    }
  });
});

describe('GraphQL', () => {
  it('a mutation over HTTP hands out the token; graphql-ws takes it in connection_init or in the upgrade header', async () => {
    const db = new TestDatabase();
    databases.push(db);
    const app = await startGraphqlApp(SessionModule.forRoot(scenarioOptions(db, { idSource: 'header' })));
    running.push(app);
    const login = await request(app.getHttpServer())
      .post('/graphql')
      .send({ query: 'mutation { login(userId: "u-gql") }' })
      .expect(200);
    expect(setCookieFor(login)).toBeUndefined();
    const token = issued(login);
    const me = await request(app.getHttpServer()).post('/graphql').set(bearer(token)).send({ query: '{ me }' });
    expect(me.body).toEqual({ data: { me: 'u-gql|u-gql' } });

    const ticks = async (connectionParams: Record<string, unknown>, headers: Record<string, string> = {}) => {
      const client = createClient({
        url: wsUrl(await app.getUrl(), '/graphql'),
        webSocketImpl: webSocketWithCookie(undefined, headers),
        connectionParams,
        retryAttempts: 0,
        lazy: true,
      });
      try {
        return await waitFor<unknown>('the first tick', (resolve) => {
          client.subscribe(
            { query: 'subscription { ticks }' },
            { next: resolve, error: (error) => resolve({ error: String(error) }), complete: () => undefined },
          );
        });
      } finally {
        await client.dispose();
      }
    };
    expect(await ticks({ token })).toEqual({ data: { ticks: 'u-gql|u-gql' } });
    expect(await ticks({}, bearer(token))).toEqual({ data: { ticks: 'u-gql|u-gql' } });
    const forged = (await ticks({ token: tamper(token) })) as { errors?: { extensions?: { code?: string } }[] };
    expect(forged.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });
});

describe('MongoDB down', () => {
  it('a header-borne request answers 503 and keeps its token (an outage is no logout)', async () => {
    const server = await startFerretDB();
    const app = await startScenarioApp(
      SessionModule.forRoot({
        secret: 'outage-secret',
        uri: server.uri,
        dbName: 'header-outage',
        autoRemove: 'interval',
        storeTimeoutMs: 300,
        idSource: 'header',
      }),
    );
    try {
      const token = issued(await request(app.getHttpServer()).post('/s/login').send({ userId: 'u-down' }));
      await server.stop();
      const down = await request(app.getHttpServer()).get('/s/guarded').set(bearer(token));
      expect(down.status).toBe(503);
      expect(tokenOf(down)).toBeUndefined();
      const logout = await request(app.getHttpServer()).post('/s/logout').set(bearer(token));
      expect(logout.status).toBe(503);
      expect(tokenOf(logout)).toBeUndefined();
    } finally {
      await app.close();
      await server.stop();
    }
  }, 120_000);
});
