import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { MongoClient, type CommandStartedEvent } from 'mongodb';
import { SessionModule, SessionSockets, type SessionModuleOptions } from 'nestjs-typed-session';
import type { IncomingMessage } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { io, type Socket } from 'socket.io-client';
import request from 'supertest';
import WebSocket from 'ws';
import {
  GATEWAY_PATH,
  REFUSED_BY_GATEWAY,
  startGatewayApp,
  SYNC_CHECKED_PATH,
  type GatewayTransport,
} from './scenarios/gateway.scenario.js';
import { scenarioOptions } from './scenarios/routes.scenario.js';
import { cookieFrom, sessionIdOf, signedCookie, tamper } from './support/cookies.js';
import { mongoUri, TestDatabase } from './support/database.js';
import { waitFor, wsUrl } from './support/sockets.js';
import { storageKey } from '../src/session/core/session-id.util.js';

// WebSocket gateways (socket.io and ws adapters) under the same guard and session as REST, on real
// connections and the real database; sessions ended over REST close their sockets, here and on a second
// instance.

interface Reply {
  event: string;
  data: Record<string, unknown>;
}

/** One client connection, whatever the transport. */
interface LiveClient {
  /** Sends `event` and resolves with the next reply named `answer`, or an `exception`. */
  ask(event: string, answer: string, data?: unknown): Promise<Reply>;
  /** Every reply named `answer` until `count` have come. */
  collect(answer: string, count: number): Promise<Reply[]>;
  send(event: string, data?: unknown): void;
  /** Resolves when the server closes the connection. */
  readonly closed: Promise<void>;
  close(): void;
}

/**
 * Connects with `cookie` (and `headers`); rejects with the refusal (`Authentication required`, or the HTTP
 * status for ws).
 */
async function connect(
  transport: GatewayTransport,
  base: string,
  cookie?: string,
  headers: Record<string, string> = {},
): Promise<LiveClient> {
  const sent = cookie ? { ...headers, cookie } : headers;
  return transport === 'socket.io' ? connectIo(base, sent) : connectWs(base, sent);
}

async function connectIo(base: string, headers: Record<string, string>): Promise<LiveClient> {
  const socket: Socket = io(base, {
    path: GATEWAY_PATH,
    transports: ['websocket'],
    extraHeaders: headers,
    reconnection: false,
    forceNew: true,
  });
  await waitFor<void>('the socket.io connection', (resolve) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', (error) => {
      socket.close();
      resolve(Promise.reject(error) as unknown as void);
    });
  });
  const closed = new Promise<void>((resolve) => socket.once('disconnect', () => resolve()));
  const next = (answer: string) =>
    waitFor<Reply>(`a "${answer}" reply`, (resolve) => {
      const onAnswer = (data: Record<string, unknown>) => done({ event: answer, data });
      const onException = (data: Record<string, unknown>) => done({ event: 'exception', data });
      const done = (reply: Reply) => {
        socket.off(answer, onAnswer).off('exception', onException);
        resolve(reply);
      };
      socket.on(answer, onAnswer).on('exception', onException);
    });
  return {
    ask: (event, answer, data) => {
      const reply = next(answer);
      socket.emit(event, data ?? {});
      return reply;
    },
    collect: (answer, count) =>
      waitFor<Reply[]>(`${count} "${answer}" replies`, (resolve) => {
        const replies: Reply[] = [];
        const onReply = (event: string) => (data: Record<string, unknown>) => {
          replies.push({ event, data });
          if (replies.length === count) resolve(replies);
        };
        socket.on(answer, onReply(answer)).on('exception', onReply('exception'));
      }),
    send: (event, data) => void socket.emit(event, data ?? {}),
    closed,
    close: () => void socket.close(),
  };
}

async function connectWs(base: string, headers: Record<string, string>): Promise<LiveClient> {
  const socket = new WebSocket(wsUrl(base, GATEWAY_PATH), { headers });
  await waitFor<void>('the ws connection', (resolve) => {
    socket.once('open', () => resolve());
    socket.once('unexpected-response', (_req, response) =>
      resolve(Promise.reject(new Error(`HTTP ${response.statusCode}`)) as unknown as void),
    );
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const replies = (answer: string, count: number) =>
    waitFor<Reply[]>(`${count} "${answer}" replies`, (resolve) => {
      const got: Reply[] = [];
      const onMessage = (raw: WebSocket.RawData) => {
        const reply = JSON.parse((raw as Buffer).toString()) as Reply;
        if (reply.event !== answer && reply.event !== 'exception') return;
        got.push(reply);
        if (got.length === count) {
          socket.off('message', onMessage);
          resolve(got);
        }
      };
      socket.on('message', onMessage);
    });
  const send = (event: string, data?: unknown) => socket.send(JSON.stringify({ event, data: data ?? {} }));
  return {
    ask: async (event, answer, data) => {
      const reply = replies(answer, 1);
      send(event, data);
      return (await reply)[0];
    },
    collect: replies,
    send,
    closed,
    close: () => socket.close(),
  };
}

/** What the server answers a bare WebSocket upgrade to `url`: 101 when it opens, else its status and body. */
async function upgrade(url: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  const socket = new WebSocket(url, { headers });
  return waitFor('the answer to the upgrade', (resolve) => {
    socket.once('open', () => {
      socket.close();
      resolve({ status: 101, body: '' });
    });
    socket.once('unexpected-response', (req, response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => {
        req.destroy();
        resolve({ status: response.statusCode ?? 0, body });
      });
    });
    socket.once('error', () => undefined);
  });
}

/** The URL of a bare WebSocket upgrade to the gateway: socket.io's engine wants its query. */
function upgradeUrl(transport: GatewayTransport, base: string, path = GATEWAY_PATH): string {
  return wsUrl(base, transport === 'socket.io' ? `${path}/?EIO=4&transport=websocket` : path);
}

/** Resolves with the milliseconds from now until `client` is closed by the server; fails after `ms`. */
async function closesWithin(client: LiveClient, ms: number, start = Date.now()): Promise<number> {
  await waitFor<void>(`the server to close the socket within ${ms} ms`, (done) => void client.closed.then(done), ms);
  return Date.now() - start;
}

const AUTH_REQUIRED = { status: 'error', statusCode: 401, message: 'Authentication required' };

/** Cross-instance disconnect times measured here, printed at the end (ms). */
const measured: Record<string, number[]> = {};

describe.each<GatewayTransport>(['socket.io', 'ws'])('%s gateway', (transport) => {
  const db = new TestDatabase();
  const CHECK_INTERVAL = 0.5;
  let main: INestApplication; // checkInterval 60 s: anything closed there was closed by an event
  let second: INestApplication; // same database, checkInterval 0.5 s
  let strict: INestApplication; // sockets.requireSession
  let expiring: INestApplication; // idleTimeout 2 s, checkInterval 0.5 s
  const apps: INestApplication[] = [];
  const open: LiveClient[] = [];

  const start = async (overrides: Partial<SessionModuleOptions>) => {
    const app = await startGatewayApp(SessionModule.forRoot(scenarioOptions(db, overrides)), transport);
    apps.push(app);
    return app;
  };

  beforeAll(async () => {
    main = await start({ sockets: { checkInterval: 60 } });
    second = await start({ sockets: { checkInterval: CHECK_INTERVAL } });
    strict = await start({ sockets: { requireSession: true } });
    expiring = await start({ idleTimeout: 2, sockets: { checkInterval: CHECK_INTERVAL } });
  });

  afterAll(async () => {
    for (const client of open) client.close();
    for (const app of apps) await app.close();
    await db.close();
  });

  const client = async (app: INestApplication, cookie?: string, headers: Record<string, string> = {}) => {
    const live = await connect(transport, await app.getUrl(), cookie, headers);
    open.push(live);
    return live;
  };

  const login = async (userId: string, app = main) =>
    cookieFrom(await request(app.getHttpServer()).post('/auth/login').send({ userId }).expect(200));

  const stored = async (cookie: string) => db.sessions().findOne({ _id: storageKey(sessionIdOf(cookie)) });

  it('no session: guarded messages are refused with 401 as a WsException; @Public() ones are served', async () => {
    const live = await client(main);
    expect(await live.ask('whoami', 'whoami')).toEqual({ event: 'exception', data: AUTH_REQUIRED });
    expect(await live.ask('ping', 'pong')).toEqual({ event: 'pong', data: { userId: null } });
  });

  it('valid session: the handshake cookie authenticates; @Session() and SessionService see its user', async () => {
    const live = await client(main, await login(`${transport}-valid`));
    const user = `${transport}-valid`;
    const data = { userId: user, service: user, tag: null };
    expect(await live.ask('whoami', 'whoami')).toEqual({ event: 'whoami', data });
    expect(await live.ask('ping', 'pong')).toEqual({ event: 'pong', data: { userId: user } });
  });

  it("concurrent messages on two sockets never see each other's session", async () => {
    const alice = await client(main, await login(`${transport}-alice`));
    const bob = await client(main, await login(`${transport}-bob`));
    const anonymous = await client(main);
    const count = 40;
    const answers = [alice.collect('whoami', count), bob.collect('whoami', count), anonymous.collect('whoami', count)];
    for (let tag = 0; tag < count; tag += 1) for (const live of [alice, bob, anonymous]) live.send('whoami', { tag });
    const [forAlice, forBob, forAnonymous] = await Promise.all(answers);
    expect(new Set(forAlice.map((reply) => `${String(reply.data.userId)}|${String(reply.data.service)}`))).toEqual(
      new Set([`${transport}-alice|${transport}-alice`]),
    );
    expect(new Set(forBob.map((reply) => `${String(reply.data.userId)}|${String(reply.data.service)}`))).toEqual(
      new Set([`${transport}-bob|${transport}-bob`]),
    );
    expect(new Set(forAnonymous.map((reply) => reply.event))).toEqual(new Set(['exception']));
    expect(new Set(forAlice.map((reply) => reply.data.tag)).size).toBe(count);
  });

  it('SessionService.set() and save() in a handler write the session to MongoDB', async () => {
    const cookie = await login(`${transport}-visit`);
    const live = await client(main, cookie);
    expect((await live.ask('visit', 'visited')).data).toEqual({ visits: 1 });
    expect((await live.ask('visit', 'visited')).data).toEqual({ visits: 2 });
    expect((await stored(cookie))?.session.visits).toBe(2);
  });

  it('login() over a socket is refused (no cookie could carry the new id) and changes nothing', async () => {
    const cookie = await login(`${transport}-rotate`);
    const live = await client(main, cookie);
    expect((await live.ask('login', 'login')).data).toEqual({ error: 'SocketSessionRotationError' });
    expect((await stored(cookie))?.session.userId).toBe(`${transport}-rotate`);
    expect(await db.byUser('intruder')).toHaveLength(0);
    expect((await live.ask('whoami', 'whoami')).data.userId).toBe(`${transport}-rotate`);
  });

  it('regenerate({ keep }) over a socket is refused too, and writes nothing', async () => {
    const cookie = await login(`${transport}-keep`);
    const live = await client(main, cookie);
    const before = await db.sessions().countDocuments({});
    expect((await live.ask('rotate', 'rotate')).data).toEqual({ error: 'SocketSessionRotationError' });
    expect(await db.sessions().countDocuments({})).toBe(before);
    expect((await live.ask('whoami', 'whoami')).data.userId).toBe(`${transport}-keep`);
  });

  it('ended session: the cookie of a logged-out session, or a forged one, authenticates nothing', async () => {
    const cookie = await login(`${transport}-ended`);
    await request(main.getHttpServer()).post('/auth/logout').set('Cookie', cookie).expect(200);
    const ended = await client(main, cookie);
    expect(await ended.ask('whoami', 'whoami')).toEqual({ event: 'exception', data: AUTH_REQUIRED });
    const forged = await client(main, tamper(await login(`${transport}-forged`)));
    expect(await forged.ask('whoami', 'whoami')).toEqual({ event: 'exception', data: AUTH_REQUIRED });
  });

  it('a cookie signed with an older secret of the rotation is accepted, as over HTTP', async () => {
    const rotating = await start({ secret: ['new-secret', 'scenario-test-secret'], sockets: { checkInterval: 60 } });
    const cookie = await login(`${transport}-old-secret`);
    const resigned = signedCookie(sessionIdOf(cookie), 'scenario-test-secret');
    const live = await client(rotating, resigned);
    expect((await live.ask('whoami', 'whoami')).data.userId).toBe(`${transport}-old-secret`);
  });

  it('logout over REST closes the sockets of that session on this instance at once, and only those', async () => {
    const cookie = await login(`${transport}-logout`);
    const first = await client(main, cookie);
    const secondTab = await client(main, cookie);
    const other = await client(main, await login(`${transport}-bystander`));
    expect((await first.ask('whoami', 'whoami')).data.userId).toBe(`${transport}-logout`);
    const started = Date.now();
    await request(main.getHttpServer()).post('/auth/logout').set('Cookie', cookie).expect(200);
    // checkInterval is 60 s on this instance: only the destroyed event can close them this soon.
    await closesWithin(first, 1_000, started);
    await closesWithin(secondTab, 1_000, started);
    expect((await other.ask('whoami', 'whoami')).data.userId).toBe(`${transport}-bystander`);
  });

  it('logout from a handler of the socket itself deletes the session and closes the socket', async () => {
    const cookie = await login(`${transport}-self-logout`);
    const live = await client(main, cookie);
    live.send('logout');
    await closesWithin(live, 1_000);
    expect(await stored(cookie)).toBeNull();
  });

  it('revocation of all sessions of the user (REST) closes every socket of the user at once', async () => {
    const here = await login(`${transport}-revoke`);
    const there = await login(`${transport}-revoke`);
    const sockets = [await client(main, here), await client(main, there)];
    await request(main.getHttpServer()).post('/auth/logout-everywhere').set('Cookie', here).expect(200);
    for (const live of sockets) await closesWithin(live, 1_000);
  });

  it("revocation by the handle listed before the session rotated closes the rotated session's socket at once", async () => {
    const owner = await login(`${transport}-stolen`);
    const stolen = await login(`${transport}-stolen`);
    const beforeRotation = await client(main, stolen);
    const http = () => request(main.getHttpServer());
    const listed = (await http().get('/auth/sessions').set('Cookie', owner).expect(200)).body as {
      handle: string;
      current: boolean;
    }[];
    const handle = listed.find((entry) => !entry.current)!.handle;
    const thief = cookieFrom(await http().post('/auth/rotate').set('Cookie', stolen).expect(200));
    await closesWithin(beforeRotation, 1_000); // to reconnect with the new cookie
    const afterRotation = await client(main, thief);
    expect((await afterRotation.ask('whoami', 'whoami')).data.userId).toBe(`${transport}-stolen`);

    const revoked = await http().delete(`/auth/sessions/${handle}`).set('Cookie', owner).expect(200);
    expect(revoked.body).toEqual({ revoked: true });
    await closesWithin(afterRotation, 1_000);
    expect(await stored(thief)).toBeNull();
  });

  it("a password change closes other devices' sockets at once, and the rotated device's", async () => {
    const here = await login(`${transport}-password`, second);
    const there = await login(`${transport}-password`, second);
    const elsewhere = await client(second, there);
    const sameDevice = await client(second, here);
    const started = Date.now();
    await request(second.getHttpServer()).post('/auth/password').set('Cookie', here).expect(200);
    await closesWithin(elsewhere, 1_000, started);
    // The current session got a new id (its cookie, in the HTTP answer): the socket holding the old one is
    // closed at once too, to reconnect with the new cookie.
    await closesWithin(sameDevice, 1_000, started);
  });

  it("SessionSockets.closeSession(id) closes that session's sockets at once (the hook for rotations)", async () => {
    const cookie = await login(`${transport}-rotated`);
    const live = await client(main, cookie);
    const bystander = await client(main, await login(`${transport}-not-rotated`));
    main.get(SessionSockets).closeSession(sessionIdOf(cookie));
    await closesWithin(live, 1_000);
    expect((await bystander.ask('whoami', 'whoami')).data.userId).toBe(`${transport}-not-rotated`);
  });

  it('logout on a second instance closes the socket within the check interval', async () => {
    const samples: number[] = [];
    for (let round = 0; round < 3; round += 1) {
      const cookie = await login(`${transport}-cross-${round}`);
      const live = await client(second, cookie);
      expect((await live.ask('whoami', 'whoami')).data.userId).toBe(`${transport}-cross-${round}`);
      const started = Date.now();
      await request(main.getHttpServer()).post('/auth/logout').set('Cookie', cookie).expect(200);
      samples.push(await closesWithin(live, CHECK_INTERVAL * 1000 + 1_000, started));
    }
    (measured[transport] ??= []).push(...samples);
    expect(Math.max(...samples)).toBeLessThanOrEqual(CHECK_INTERVAL * 1000 + 1_000);
  });

  it('a session that idles out closes its socket within idleTimeout + the check interval', async () => {
    const cookie = await login(`${transport}-idle`, expiring);
    const started = Date.now();
    const live = await client(expiring, cookie);
    const elapsed = await closesWithin(live, 2_000 + CHECK_INTERVAL * 1000 + 1_500, started);
    expect(elapsed).toBeGreaterThanOrEqual(1_500);
  });

  describe('the Origin of the handshake (cross-site WebSocket hijacking)', () => {
    let trusting: INestApplication; // trustedOrigins: ['https://app.example.com']
    beforeAll(async () => {
      trusting = await start({ trustedOrigins: ['https://app.example.com'], sockets: { checkInterval: 60 } });
    });

    // What a refused upgrade is answered: 403 by the ws adapter; socket.io's engine answers 400 to any refused
    // WebSocket upgrade, with the reason as its body.
    const refused = (reason: string) =>
      transport === 'ws'
        ? { status: reason === 'Origin not allowed' ? 403 : 418, body: reason }
        : { status: 400, body: reason };

    it("refuses a page of another origin (same site, other port; another site; opaque) with the user's cookie", async () => {
      const cookie = await login(`${transport}-hijacked`);
      const base = await main.getUrl();
      const liveBefore = main.get(SessionSockets).liveCount;
      const port = new URL(base).port;
      for (const origin of [
        `http://127.0.0.1:${Number(port) + 1}`,
        `http://localhost:${port}`,
        'https://evil.example',
        'null',
      ]) {
        expect(await upgrade(upgradeUrl(transport, base), { cookie, origin })).toEqual(refused('Origin not allowed'));
      }
      await expect(client(main, cookie, { origin: 'https://evil.example' })).rejects.toThrow();
      expect(main.get(SessionSockets).liveCount).toBe(liveBefore); // no session was attached
      if (transport === 'socket.io') {
        // Over HTTP long-polling, engine.io answers the refused handshake 403.
        const polling = await request(main.getHttpServer())
          .get(`${GATEWAY_PATH}/?EIO=4&transport=polling`)
          .set('Cookie', cookie)
          .set('Origin', 'https://evil.example');
        expect(polling.status).toBe(403);
        expect(polling.body).toEqual({ code: 4, message: 'Origin not allowed' });
      }
    });

    it("serves the app's own origin, a trusted origin, and a client without Origin, with the session", async () => {
      const cookie = await login(`${transport}-origins`);
      const own = await client(main, cookie, { origin: new URL(await main.getUrl()).origin });
      expect((await own.ask('whoami', 'whoami')).data.userId).toBe(`${transport}-origins`);
      const bare = await client(main, cookie);
      expect((await bare.ask('whoami', 'whoami')).data.userId).toBe(`${transport}-origins`);
      const trustedCookie = await login(`${transport}-trusted`, trusting);
      const trusted = await client(trusting, trustedCookie, { origin: 'https://app.example.com' });
      expect((await trusted.ask('whoami', 'whoami')).data.userId).toBe(`${transport}-trusted`);
      const base = await trusting.getUrl();
      expect(await upgrade(upgradeUrl(transport, base), { origin: 'https://other.example.com' })).toEqual(
        refused('Origin not allowed'),
      );
    });

    it("keeps the gateway's own handshake check (verifyClient for ws, allowRequest for socket.io)", async () => {
      const cookie = await login(`${transport}-gateway-check`);
      const base = await main.getUrl();
      const headers = { cookie, origin: new URL(base).origin };
      expect(await upgrade(upgradeUrl(transport, base), { ...headers, [REFUSED_BY_GATEWAY]: '1' })).toEqual(
        refused('Refused by the gateway'),
      );
      expect((await upgrade(upgradeUrl(transport, base), headers)).status).toBe(101);
      if (transport === 'ws') {
        // A verifyClient of the synchronous form: ws answers its refusal 401.
        const sync = upgradeUrl(transport, base, SYNC_CHECKED_PATH);
        expect((await upgrade(sync, { ...headers, [REFUSED_BY_GATEWAY]: '1' })).status).toBe(401);
        expect((await upgrade(sync, headers)).status).toBe(101);
      }
    });
  });

  it('with sockets.requireSession, a handshake without a session is refused, one with a session served', async () => {
    const refusal = transport === 'socket.io' ? 'Authentication required' : 'HTTP 401';
    await expect(client(strict)).rejects.toThrow(refusal);
    const ended = await login(`${transport}-strict-ended`, strict);
    await request(strict.getHttpServer()).post('/auth/logout').set('Cookie', ended).expect(200);
    await expect(client(strict, ended)).rejects.toThrow(refusal);
    const live = await client(strict, await login(`${transport}-strict`, strict));
    expect((await live.ask('whoami', 'whoami')).data.userId).toBe(`${transport}-strict`);
  });
});

describe.each<GatewayTransport>(['socket.io', 'ws'])('what a %s socket costs', (transport) => {
  const db = new TestDatabase();
  const client = new MongoClient(mongoUri(), { monitorCommands: true });
  const commands: string[] = [];
  let app: INestApplication;

  beforeAll(async () => {
    const options = { ...scenarioOptions(db), uri: undefined, client, sockets: { checkInterval: 60 } };
    app = await startGatewayApp(SessionModule.forRoot(options), transport);
    client.on('commandStarted', (event: CommandStartedEvent) => {
      if (event.databaseName === db.name)
        commands.push(`${event.commandName} ${JSON.stringify(event.command.filter ?? {})}`);
    });
  });

  afterAll(async () => {
    await app.close();
    await client.close();
    await db.close();
  });

  it('one read by _id per connection, no database command per message (touch throttled)', async () => {
    const cookie = cookieFrom(
      await request(app.getHttpServer())
        .post('/auth/login')
        .send({ userId: `${transport}-cost` }),
    );
    commands.length = 0;
    const connectStart = process.hrtime.bigint();
    const live = await connect(transport, await app.getUrl(), cookie);
    const connectMs = Number(process.hrtime.bigint() - connectStart) / 1e6;
    expect(commands).toEqual([`find ${JSON.stringify({ _id: storageKey(sessionIdOf(cookie)) })}`]);

    commands.length = 0;
    const messages = 300;
    const started = process.hrtime.bigint();
    for (let index = 0; index < messages; index += 1) {
      expect((await live.ask('whoami', 'whoami')).data.userId).toBe(`${transport}-cost`);
    }
    const perMessageUs = Number(process.hrtime.bigint() - started) / 1e3 / messages;
    expect(commands).toEqual([]);
    live.close();
    process.stderr.write(
      `\n[websocket] ${transport}: connect with a session ${connectMs.toFixed(1)} ms (1 find); guarded round trip ` +
        `${perMessageUs.toFixed(0)} µs per message (0 commands over ${messages})\n`,
    );
  });

  it('the session context costs microseconds per message and a few hundred bytes per socket', async () => {
    const sockets = app.get(SessionSockets);
    const cookie = cookieFrom(
      await request(app.getHttpServer())
        .post('/auth/login')
        .send({ userId: `${transport}-heap` }),
    );
    const handshake = { headers: { cookie } } as IncomingMessage;
    const connection = await sockets.open(handshake);
    expect(connection.authenticated).toBe(true);

    // Per message: the handler run bare, then through SessionSockets.run (context, request, touch check).
    const socket = {};
    sockets.attach(socket, connection, () => undefined);
    const handler = () => 1;
    const rounds = 200_000;
    const time = (run: () => unknown) => {
      const start = process.hrtime.bigint();
      for (let index = 0; index < rounds; index += 1) run();
      return Number(process.hrtime.bigint() - start) / rounds;
    };
    time(() => sockets.run(socket, handler)); // warm-up
    const bare = time(handler);
    const wrapped = time(() => sockets.run(socket, handler));
    sockets.detach(socket);

    // Per socket: what the library keeps for an open connection (its request, Session, cookie, entries).
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const count = 1000;
    gc();
    const before = process.memoryUsage().heapUsed;
    const clients: object[] = [];
    for (const each of await Promise.all(Array.from({ length: count }, () => sockets.open(handshake)))) {
      const client = {};
      sockets.attach(client, each, () => undefined);
      clients.push(client);
    }
    gc();
    const perSocket = (process.memoryUsage().heapUsed - before) / count;
    for (const each of clients) sockets.detach(each);
    expect(sockets.liveCount).toBe(0);
    expect(wrapped).toBeLessThan(50_000); // 50 µs: far above what it costs; catches a query slipping in
    process.stderr.write(
      `[websocket] ${transport}: SessionSockets.run ${(wrapped - bare).toFixed(0)} ns per message over a bare call; ` +
        `${perSocket.toFixed(0)} bytes kept per open socket (${count} sockets of one session)\n`,
    );
  });
});

afterAll(() => {
  const lines = Object.entries(measured).map(([transport, samples]) => `${transport}: ${samples.join(', ')} ms`);
  const title = 'disconnect after a logout on another instance (checkInterval 0.5 s)';
  process.stderr.write(`\n[websocket] ${title}: ${lines.join('; ')}\n`);
});
