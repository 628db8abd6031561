import { afterAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { SessionModule } from 'nestjs-typed-session';
import { freePort, startFerretDB } from '../scripts/mongo-server.mjs';
import { MongoSessionStore as SessionStore } from '../src/session/store/mongodb/mongo-session.store.js';
import { startScenarioApp } from './scenarios/routes.scenario.js';

// Issue 9: an app could stay at 503 for minutes after MongoDB came back. This test stops a real FerretDB
// while one of three app instances is under load (40 clients), another lightly loaded and the third idle,
// restarts it on the same port and data directory, and checks that every instance serves an existing session
// again within RECOVERY_BOUND_MS, cycle after cycle. Cycles alternate a clean stop (SIGTERM: FerretDB closes
// its client connections itself, the case that used to leave the driver's monitor hung) and a crash (SIGKILL).
//
// OUTAGE_CYCLES (default 20) sets the number of cycles; OUTAGE_STUCK_WAIT_MS (default 20000) how long an
// instance past the bound is still watched, to report how long it stayed stuck, before the test fails.

const CYCLES = Number(process.env.OUTAGE_CYCLES ?? 20);
const STUCK_WAIT_MS = Number(process.env.OUTAGE_STUCK_WAIT_MS ?? 20_000);
const STORE_TIMEOUT_MS = 1_000;
/** Every instance must answer a guarded request with 200 within this long after the server is back. */
const RECOVERY_BOUND_MS = STORE_TIMEOUT_MS + 5_000;
/** A client-side limit for one HTTP request: the app answers within the store timeout, or it hangs. */
const REQUEST_TIMEOUT_MS = STORE_TIMEOUT_MS + 4_000;
const LOAD_CLIENTS = 40;
const USERS = Array.from({ length: 10 }, (_, i) => `cycle-user-${i}`);

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** A FerretDB process this test stops with a signal of its choice. */
interface KillableServer {
  /**
   * Sends `signal` and resolves once the process has exited: SIGTERM lets FerretDB close its client
   * connections itself, one after the other, as a `docker stop` or a systemd restart does; SIGKILL is a crash.
   */
  kill(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
}

/** Starts FerretDB on `port` with its data in `dataDir`; resolves once it answers. */
async function startKillable(port: number, dataDir: string): Promise<KillableServer> {
  const server = await startFerretDB({ port, dataDir });
  return {
    kill: async (signal = 'SIGKILL') => {
      if (signal === 'SIGKILL') server.kill();
      await server.stop(); // SIGTERM, and waits for the exit (SIGKILL after 5 s)
    },
  };
}

/** One app instance, listening on a loopback port. */
interface Instance {
  name: string;
  app: INestApplication;
  url: string;
  /** Topologies its MongoClient opened after the first one: a reconnection each. */
  reconnections: number;
}

async function startInstance(name: string, uri: string): Promise<Instance> {
  const app = await startScenarioApp(
    SessionModule.forRoot({
      secret: 'cycles-secret',
      uri,
      dbName: 'cycles',
      autoRemove: 'interval',
      storeTimeoutMs: STORE_TIMEOUT_MS,
    }),
  );
  await app.listen(0, '127.0.0.1');
  cleanups.push(() => app.close());
  const instance: Instance = { name, app, url: await app.getUrl(), reconnections: 0 };
  storeClient(instance).on('topologyOpening', () => (instance.reconnections += 1));
  return instance;
}

/** The MongoClient of an instance's session store. */
function storeClient(instance: Instance): MongoClient & DriverState {
  return instance.app.get<SessionStore, { client: MongoClient & DriverState }>(SessionStore).client;
}

/** Sends one request; the status, or 0 when it failed or took longer than REQUEST_TIMEOUT_MS. */
async function send(url: string, init: { method?: string; cookie?: string; body?: unknown } = {}): Promise<number> {
  try {
    const response = await fetch(url, {
      method: init.method ?? 'GET',
      headers: {
        ...(init.cookie ? { cookie: init.cookie } : {}),
        ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return 0;
  }
}

async function login(instance: Instance, userId: string): Promise<string> {
  const response = await fetch(`${instance.url}/s/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ userId }),
  });
  const line = response.headers.getSetCookie().find((cookie) => cookie.startsWith('sid='));
  if (response.status !== 200 || !line) throw new Error(`login of ${userId} answered ${response.status}`);
  return line.split(';')[0];
}

/** Clients that send requests in a loop until stopped, counting answers. */
class Load {
  ok = 0;
  failed = 0;
  private running = true;
  private readonly waiters = new Set<() => void>();
  private readonly workers: Promise<void>[];

  constructor(
    private readonly instance: Instance,
    clients: number,
    private readonly cookies: string[],
    private readonly mixed: boolean,
  ) {
    this.workers = Array.from({ length: clients }, (_, i) => this.work(i));
  }

  /** Resolves when `condition` holds (checked after each answer), or rejects after `timeoutMs`. */
  until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!condition()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`${this.instance.name}: ${what} did not happen within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.workers);
  }

  private async work(client: number): Promise<void> {
    const { url } = this.instance;
    for (let i = client; this.running; i += 1) {
      const cookie = this.cookies[i % this.cookies.length];
      let status: number;
      if (!this.mixed || i % 4 < 2) status = await send(`${url}/s/guarded`, { cookie });
      else if (i % 4 === 2) status = await send(`${url}/s/jitter-write`, { method: 'POST', cookie });
      else status = await send(`${url}/s/login`, { method: 'POST', body: { userId: `load-${client % 8}` } });
      if (status === 200) this.ok += 1;
      else this.failed += 1;
      for (const waiter of [...this.waiters]) waiter();
    }
  }
}

/** The parts of the driver's internals that tell why a client does not recover. */
interface DriverState {
  topology?: {
    s: { state: string; servers: Map<string, DriverServer> };
    description: { type: string; servers: Map<string, { type: string; error?: Error | null }> };
  };
}
interface DriverServer {
  s: { state: string };
  pool: { poolState: string; generation: number; totalConnectionCount: number; waitQueue: { length: number } };
  monitor?: {
    s: { state: string };
    connection: { closed: boolean } | null;
    monitorId?: { isExecutionInProgress: boolean; stopped: boolean; lastExecutionEnded: number };
  } | null;
}

/** What the driver of an instance's session store says about its server, pool and monitor. */
function driverState(instance: Instance): string {
  const topology = storeClient(instance).topology;
  if (!topology) return 'no topology';
  const servers = [...topology.s.servers].map(([address, server]) => {
    const description = topology.description.servers.get(address);
    const monitor = server.monitor;
    return {
      address,
      serverState: server.s.state,
      type: description?.type,
      error: description?.error ? `${description.error.name}: ${description.error.message}` : undefined,
      pool: {
        state: server.pool.poolState,
        generation: server.pool.generation,
        connections: server.pool.totalConnectionCount,
        waiting: server.pool.waitQueue.length,
      },
      monitor: monitor && {
        state: monitor.s.state,
        connection: monitor.connection ? (monitor.connection.closed ? 'closed' : 'open') : 'none',
        checking: monitor.monitorId?.isExecutionInProgress,
        stopped: monitor.monitorId?.stopped,
        msSinceLastCheck: monitor.monitorId && Math.round(performance.now() - monitor.monitorId.lastExecutionEnded),
      },
    };
  });
  return JSON.stringify({ topology: topology.s.state, type: topology.description.type, servers });
}

/**
 * Sends guarded requests with an existing cookie until one answers 200; resolves to the milliseconds from
 * `since` to that answer, or `undefined` when none came by `since + limitMs`.
 */
async function recovery(
  instance: Instance,
  cookie: string,
  since: number,
  limitMs: number,
): Promise<number | undefined> {
  while (Date.now() < since + limitMs) {
    if ((await send(`${instance.url}/s/guarded`, { cookie })) === 200) return Date.now() - since;
  }
  return undefined;
}

describe('MongoDB killed and restarted under load, again and again', () => {
  it(
    `every instance serves sessions again within ${RECOVERY_BOUND_MS} ms, in each of ${CYCLES} cycles`,
    async () => {
      const started = Date.now();
      const port = await freePort();
      const dataDir = mkdtempSync(join(tmpdir(), 'outage-cycles-'));
      let server = await startKillable(port, dataDir);
      cleanups.push(async () => {
        await server.kill();
        rmSync(dataDir, { recursive: true, force: true });
      });
      const uri = `mongodb://127.0.0.1:${port}/`;
      const instances = [
        await startInstance('loaded', uri),
        await startInstance('light', uri),
        await startInstance('idle', uri),
      ];
      const [loaded, light] = instances as [Instance, Instance, Instance];
      const cookies: string[] = [];
      for (const userId of USERS) cookies.push(await login(loaded, userId));

      const heavy = new Load(loaded, LOAD_CLIENTS, cookies, true);
      const lightLoad = new Load(light, 2, cookies, false);
      cleanups.push(async () => {
        await heavy.stop();
        await lightLoad.stop();
      });

      const failures: string[] = [];
      let slowest = { ms: 0, cycle: 0, instance: '' };
      for (let cycle = 1; cycle <= CYCLES && failures.length === 0; cycle += 1) {
        // Stop the server while the load is in full swing: after a varying number of served requests.
        const okBefore = heavy.ok;
        const served = 20 + Math.floor(Math.random() * 100);
        await heavy.until(() => heavy.ok - okBefore >= served, 30_000, `${served} answers of 200`);
        const reconnectionsBefore = instances.map((instance) => instance.reconnections);
        const signal = cycle % 2 === 1 ? 'SIGTERM' : 'SIGKILL';
        const stoppingAt = Date.now();
        await server.kill(signal);
        const exitedAt = Date.now();

        // Down for a varying while: until the loaded instance has answered a varying number of failures.
        const failedBefore = heavy.failed;
        const failing = 1 + Math.floor(Math.random() * 60);
        await heavy.until(() => heavy.failed - failedBefore >= failing, 30_000, `${failing} failed answers`);
        const restartingAt = Date.now();
        server = await startKillable(port, dataDir);
        const upAt = Date.now();

        // From the moment the new server answers, each instance is asked until it serves an existing session.
        const times = await Promise.all(
          instances.map((instance, i) => recovery(instance, cookies[i], upAt, RECOVERY_BOUND_MS)),
        );
        const line = instances.map((instance, i) => {
          const reconnected = instance.reconnections - reconnectionsBefore[i];
          const time = `${instance.name} ${times[i] ?? `>${RECOVERY_BOUND_MS}`} ms`;
          return reconnected ? `${time} (client reconnected ${reconnected}x)` : time;
        });
        process.stdout.write(
          `outage-cycles: cycle ${cycle}: ${signal} (exit took ${exitedAt - stoppingAt} ms), ` +
            `down ${upAt - exitedAt} ms ` +
            `(restart took ${upAt - restartingAt} ms); serving again after: ${line.join(', ')}\n`,
        );
        for (const [i, instance] of instances.entries()) {
          const ms = times[i];
          if (ms !== undefined) {
            if (ms > slowest.ms) slowest = { ms, cycle, instance: instance.name };
            continue;
          }
          const state = driverState(instance);
          const late = await recovery(instance, cookies[i], upAt, RECOVERY_BOUND_MS + STUCK_WAIT_MS);
          const verdict =
            late === undefined
              ? `still 503 after ${RECOVERY_BOUND_MS + STUCK_WAIT_MS} ms`
              : `back only after ${late} ms`;
          failures.push(`cycle ${cycle}: ${instance.name} ${verdict}; driver: ${state}`);
        }
      }
      await heavy.stop();
      await lightLoad.stop();

      process.stdout.write(
        `outage-cycles: slowest recovery ${slowest.ms} ms (cycle ${slowest.cycle}, ${slowest.instance}); ` +
          `bound ${RECOVERY_BOUND_MS} ms; ${heavy.ok} + ${lightLoad.ok} requests served, ` +
          `${heavy.failed} + ${lightLoad.failed} refused; wall time ${Math.round((Date.now() - started) / 1000)} s\n`,
      );
      const reconnections = instances.map((instance) => `${instance.name} ${instance.reconnections}`);
      process.stdout.write(`outage-cycles: client reconnections: ${reconnections.join(', ')}\n`);
      for (const failure of failures) process.stdout.write(`outage-cycles: FAILED ${failure}\n`);
      expect(failures).toEqual([]);
    },
    60_000 + CYCLES * (RECOVERY_BOUND_MS + 12_000) + STUCK_WAIT_MS,
  );
});
