import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io } from 'socket.io-client';
import request from 'supertest';
import WebSocket from 'ws';
import { cookieFrom, storedIdOf } from './support/cookies.js';
import { mongoUri, TestDatabase } from './support/database.js';
import { CONSUMER_FILES, consumerPackage, keepInstall, restoreInstall } from './support/nest11-consumer.js';
import { packLibrary, REPO, run, startApp, writeFiles, type RunningApp } from './support/readme-consumer.js';
import { waitFor, wsUrl } from './support/sockets.js';
import { StepTimings } from './support/timings.js';

// A Nest 11 application in CommonJS, as most in production are, installs the packed library with npm's
// strict peer check (no --legacy-peer-deps), compiles with `module: commonjs`, runs its own Jest on it
// (ts-jest in CommonJS mode, where an ES module build fails with `Unexpected token 'export'`), and runs on
// the test server: log in, the guarded route, a gateway on each adapter, log out.

const timings = new StepTimings();
const timed = <T>(label: string, work: () => Promise<T>) => timings.timed(label, work);

function versionOf(project: string, name: string): string {
  const pkg = JSON.parse(readFileSync(join(project, 'node_modules', name, 'package.json'), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

describe('a Nest 11 CommonJS application, with the library installed from its tarball', () => {
  const work = mkdtempSync(join(tmpdir(), 'nts-nest11-'));
  const project = join(work, 'app');
  const db = new TestDatabase();
  let tarball = '';
  let installed = false;
  let compiled = false;
  let app: RunningApp | undefined;
  const started = performance.now();

  afterAll(async () => {
    await app?.stop();
    await db.close();
    if (!process.env.KEEP_CONSUMER_PROJECT) {
      if (installed) keepInstall(project, consumerPackage(tarball));
      rmSync(work, { recursive: true, force: true });
    }
    const total = ((performance.now() - started) / 1000).toFixed(1);
    process.stdout.write(
      `nest11-cjs: ${timings.toString()}; total ${total} s${process.env.KEEP_CONSUMER_PROJECT ? ` (kept in ${project})` : ''}\n`,
    );
  });

  it('installs with the strict peer check, next to Nest 11, connect-mongo 6 and mongodb 6', async () => {
    tarball = await timed('npm pack', () => packLibrary(work));
    mkdirSync(project);
    const pkg = consumerPackage(tarball);
    writeFileSync(join(project, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
    const kept = restoreInstall(project, pkg);
    writeFiles(
      project,
      Object.entries(CONSUMER_FILES).map(([path, code]) => ({ path, code })),
    );
    await timed(kept ? 'install (kept from the last run)' : 'install', () =>
      run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--no-update-notifier'], {
        cwd: project,
        timeoutMs: 240_000,
      }),
    );
    // This very version of the library, from its tarball (a kept install is given without it).
    const library = JSON.parse(
      readFileSync(join(project, 'node_modules', 'nestjs-typed-session', 'package.json'), 'utf8'),
    );
    expect(library.peerDependencies).toEqual(
      JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).peerDependencies,
    );
    expect(versionOf(project, '@nestjs/common')).toMatch(/^11\./);
    expect(versionOf(project, '@nestjs/core')).toMatch(/^11\./);
    expect(versionOf(project, '@nestjs/event-emitter')).toMatch(/^3\./);
    expect(versionOf(project, 'mongodb')).toMatch(/^6\./);
    expect(versionOf(project, 'connect-mongo')).toMatch(/^6\./);
    installed = true;
  }, 300_000);

  it("compiles with the application's tsc: module commonjs, strict, skipLibCheck false", async () => {
    if (!installed) throw new Error('not run: the install failed');
    const tsc = [join('node_modules', 'typescript', 'bin', 'tsc'), '-p', '.', '--pretty', 'false'];
    // `module: commonjs` resolves packages as Node 10 did (`main`, `types`, `typesVersions`); a Nest 11 app
    // made by today's `nest new` has `module: nodenext`, which reads the `exports` map's `require` types: the
    // same declaration files, checked once (skipLibCheck in the second run).
    await timed('tsc', () => run(process.execPath, tsc, { cwd: project, timeoutMs: 120_000 }));
    await timed('tsc nodenext', () =>
      run(
        process.execPath,
        [...tsc, '--noEmit', '--skipLibCheck', '--module', 'nodenext', '--moduleResolution', 'nodenext'],
        {
          cwd: project,
          timeoutMs: 120_000,
        },
      ),
    );
    const appModule = readFileSync(join(project, 'dist', 'src', 'app.module.js'), 'utf8');
    expect(appModule).toContain('require("nestjs-typed-session")');
    compiled = true;
  }, 150_000);

  it('runs its own Jest (ts-jest, CommonJS) on a test that requires the library', async () => {
    if (!installed) throw new Error('not run: the install failed');
    const jest = join('node_modules', 'jest', 'bin', 'jest.js');
    const output = await timed('jest', () =>
      run(process.execPath, [jest, '--ci', '--json'], { cwd: project, timeoutMs: 120_000 }),
    );
    const results = JSON.parse(output) as { numPassedTests: number; numTotalTests: number; success: boolean };
    expect(results).toMatchObject({ success: true, numTotalTests: 2, numPassedTests: 2 });
  }, 150_000);

  it.each(['socket.io', 'ws'] as const)(
    'runs on the test server with the %s adapter: login, the guarded route and gateway, logout',
    async (adapter) => {
      if (!compiled) throw new Error('not run: the compilation failed');
      await app?.stop();
      app = await timed(`start (${adapter})`, () =>
        startApp(project, join('dist', 'src', 'main.js'), {
          APP_ADAPTER: adapter,
          APP_MONGODB_URI: mongoUri(),
          APP_DB_NAME: db.name,
          APP_SESSION_SECRET: 'nest11-test-secret',
          NO_COLOR: '1',
        }),
      );
      const { url } = app;
      await timed(`requests (${adapter})`, async () => {
        await request(url).get('/auth/me').expect(401);

        const login = await request(url).post('/auth/login').send({ name: 'ada' }).expect(201);
        const cookie = cookieFrom(login);
        const stored = await db.sessions().find().toArray();
        expect(stored).toHaveLength(1);
        expect(stored[0]).toMatchObject({ _id: storedIdOf(cookie), session: { userId: 'ada', role: 'member' } });

        await request(url).get('/auth/me').set('Cookie', cookie).expect(200, { userId: 'ada', role: 'member' });

        const socket = await (adapter === 'socket.io' ? ioClient : wsClient)(url, cookie);
        expect(await socket.say('hello')).toEqual({ userId: 'ada', text: 'hello' });

        await request(url).post('/auth/logout').set('Cookie', cookie).expect(201);
        expect(await db.sessions().countDocuments()).toBe(0);
        // The logout closed the session's socket (socket.io: the server's disconnect; ws: close code 4401).
        const closed = await waitFor('the socket closed by the logout', (resolve) => void socket.closed.then(resolve));
        expect(closed).toBe(adapter === 'socket.io' ? 'io server disconnect' : 4401);
        await request(url).get('/auth/me').set('Cookie', cookie).expect(401);
        expect(await db.sessions().countDocuments()).toBe(0);

        // @nestjs/event-emitter 3 (Nest 11's) delivered the library's events to the application's listener.
        await request(url).get('/auth/events').expect(200, ['created login ada', 'destroyed logout ada']);
      });
    },
    60_000,
  );
});

interface ChatClient {
  say(text: string): Promise<unknown>;
  /** How the server closed it: socket.io's disconnect reason, ws's close code. */
  closed: Promise<string | number>;
}

async function ioClient(base: string, cookie: string): Promise<ChatClient> {
  const socket = io(base, { path: '/chat', transports: ['websocket'], extraHeaders: { cookie }, reconnection: false });
  await waitFor<void>('the socket.io connection', (resolve) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', (error) => resolve(Promise.reject(error) as unknown as void));
  });
  return {
    say: (text) => {
      const reply = waitFor<unknown>('the "said" reply', (resolve) => socket.once('said', resolve));
      socket.emit('say', text);
      return reply;
    },
    closed: new Promise((resolve) => socket.once('disconnect', resolve)),
  };
}

async function wsClient(base: string, cookie: string): Promise<ChatClient> {
  const socket = new WebSocket(wsUrl(base, '/chat'), { headers: { cookie } });
  await waitFor<void>('the ws connection', (resolve) => {
    socket.once('open', () => resolve());
    socket.once('unexpected-response', (_request, response) =>
      resolve(Promise.reject(new Error(`HTTP ${response.statusCode}`)) as unknown as void),
    );
  });
  return {
    say: (text) => {
      const reply = waitFor<unknown>('the "said" reply', (resolve) =>
        socket.once('message', (raw: Buffer) => resolve((JSON.parse(raw.toString()) as { data: unknown }).data)),
      );
      socket.send(JSON.stringify({ event: 'say', data: text }));
      return reply;
    },
    closed: new Promise((resolve) => socket.once('close', resolve)),
  };
}
