// `npm run bench`: what the session layer costs per request, against the setups users would pick instead.
// Prints a markdown table and writes it to bench/results.md. See README.md, "Benchmark".
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { MongoClient, type Document } from 'mongodb';
import { startMongo } from '#scripts/mongo-server.mjs';
import { loadRun, type LoadResult } from './load.js';
import { timePerUserOperations, type PerUserTimes } from './per-user.js';
import { SetupProcess, type SetupSpec } from './processes.js';
import { renderReport, type SetupFigures } from './report.js';
import { seedSessions } from './seed.js';
import { BENCH_SETTINGS } from './setups/settings.js';
import { WireCounter } from './wire-counter.js';

/** A whole number ≥ `min` from the environment variable `name`, or `fallback`; a bad value stops the run. */
function setting(name: string, fallback: number, min = 1): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min)
    throw new Error(`${name} must be a whole number >= ${min}, got ${JSON.stringify(raw)}`);
  return value;
}

const config = {
  sessions: setting('BENCH_SESSIONS', 1000, 3),
  connections: setting('BENCH_CONNECTIONS', 32),
  warmup: setting('BENCH_WARMUP', 5),
  duration: setting('BENCH_DURATION', 5),
  rounds: setting('BENCH_ROUNDS', 8),
  countedRequests: setting('BENCH_COUNTED_REQUESTS', 300),
  perUserSizes: (process.env.BENCH_PER_USER_SIZES ?? '1000,100000')
    .split(',')
    .map((size) => {
      const value = Number(size);
      if (!Number.isInteger(value) || value < 10)
        throw new Error(`BENCH_PER_USER_SIZES must list whole numbers >= 10, got ${JSON.stringify(size)}`);
      return value;
    })
    .sort((a, b) => a - b),
  /** Write a V8 CPU profile of each setup's load phase to dist/bench/profiles (open in Chrome DevTools). */
  cpuProfile: process.env.BENCH_CPU_PROF === '1',
};
const profileArgs = config.cpuProfile
  ? ['--import', './dist/bench/setups/exit-on-signal.js', '--cpu-prof', '--cpu-prof-dir=dist/bench/profiles']
  : [];

/**
 * CPU pinning (Linux `taskset`, 2 CPUs or more, unless BENCH_PIN=0): the setup under test runs on the last
 * CPU, this process (autocannon) and the FerretDB it starts on the others, so that the load generator does
 * not compete with the server it measures.
 */
function pinCpus(): { setupCpu?: number } {
  const count = cpus().length;
  if (process.env.BENCH_PIN === '0' || count < 2) return {};
  const pinned = spawnSync('taskset', ['-a', '-p', '-c', `0-${count - 2}`, String(process.pid)], { stdio: 'ignore' });
  return pinned.status === 0 ? { setupCpu: count - 1 } : {};
}

const ALL_SETUPS: SetupSpec[] = [
  { name: 'raw', script: 'dist/bench/setups/raw.js', login: { path: '/login' } },
  { name: 'nest-docs', script: 'dist/bench/setups/nest-docs.js', login: { path: '/login' } },
  { name: 'nestjs-session', script: 'dist/bench/setups/nestjs-session.js', login: { path: '/login' } },
  {
    name: 'ours',
    script: 'dist/main.js',
    login: { path: '/auth/login', body: { username: 'alice', password: 'alice-password' } },
    // The example app as shipped, given the benchmark's shared cookie and store settings.
    env: {
      SESSION_SECRET: BENCH_SETTINGS.secret,
      SESSION_IDLE_TIMEOUT: String(BENCH_SETTINGS.idleTimeout),
      SESSION_TOUCH_AFTER: String(BENCH_SETTINGS.touchAfter),
    },
  },
];

/** `BENCH_SETUPS=ours,nest-docs` measures only those (the report is then partial). */
const SETUPS = process.env.BENCH_SETUPS
  ? ALL_SETUPS.filter((spec) => process.env.BENCH_SETUPS!.split(',').includes(spec.name))
  : ALL_SETUPS;

const log = (message: string) => process.stderr.write(`[bench] ${message}\n`);

async function main(): Promise<void> {
  const started = Date.now();
  const { setupCpu } = pinCpus();
  const prefix = setupCpu === undefined ? [] : ['taskset', '-c', String(setupCpu)];
  log(
    setupCpu === undefined
      ? 'CPU pinning off'
      : `setups pinned to CPU ${setupCpu}, load generator and database to the others`,
  );
  const server = await startMongo();
  const autoRemove = server.ttlIndexes ? 'native' : 'interval';
  const env = { SESSION_AUTO_REMOVE: autoRemove };
  const client = new MongoClient(server.uri);
  const running: SetupProcess[] = [];
  const figures = new Map<string, SetupFigures>(SETUPS.map((spec) => [spec.name, { name: spec.name, rounds: [] }]));
  let perUser: PerUserTimes[] = [];
  try {
    log(`database: ${server.version} (${server.kind})`);
    const cookies = new Map<string, string[]>();
    const templates = new Map<string, Document>();

    // 1. Each setup on its own database, seeded with logged-in sessions cloned from its own login.
    for (const spec of SETUPS) {
      const db = client.db(`bench-${spec.name}`);
      await db.dropDatabase();
      try {
        const setup = await SetupProcess.start(spec, server.uri, db.databaseName, env, {
          prefix,
          nodeArgs: profileArgs,
        });
        running.push(setup);
        const seeded = await seedSessions(setup, db, config.sessions);
        cookies.set(spec.name, seeded.cookies);
        templates.set(spec.name, seeded.template);
        log(`${spec.name}: ${config.sessions} sessions seeded on port ${setup.port}`);
      } catch (error) {
        figures.get(spec.name)!.skipped = (error as Error).message.split('\n')[0];
        log(`${spec.name}: skipped: ${(error as Error).message}`);
      }
    }
    const active = running.filter((setup) => cookies.has(setup.spec.name));

    // 2. Commands per request, counted on the wire by a relay, each setup in a second process behind it.
    const counter = await WireCounter.start(server.uri);
    try {
      for (const setup of active) {
        const counted = await SetupProcess.start(
          setup.spec,
          counter.relayUri(server.uri),
          `bench-${setup.spec.name}`,
          env,
          { prefix },
        );
        try {
          const sessionCookies = cookies.get(setup.spec.name)!;
          await loadRun(counted.url, sessionCookies, { connections: 8, amount: 50 });
          counter.reset();
          const { requests } = await loadRun(counted.url, sessionCookies, {
            connections: 8,
            amount: config.countedRequests,
          });
          const { reads, writes, other } = counter.totals();
          Object.assign(figures.get(setup.spec.name)!, {
            readsPerRequest: reads / requests,
            writesPerRequest: writes / requests,
            otherCommands: other,
          });
          log(
            `${setup.spec.name}: ${reads} reads, ${writes} writes for ${requests} requests (other: ${JSON.stringify(other)})`,
          );
        } finally {
          await counted.stop();
        }
      }
    } finally {
      await counter.stop();
    }

    // 3. Load: warm-up, then interleaved rounds.
    for (const setup of active)
      await loadRun(setup.url, cookies.get(setup.spec.name)!, {
        connections: config.connections,
        duration: config.warmup,
      });
    for (let round = 1; round <= config.rounds; round += 1) {
      // Each round starts one setup later (raw, nest-docs, … then nest-docs, …, raw): no setup always runs
      // right after the same neighbour or always last.
      const shift = (round - 1) % active.length;
      for (const setup of [...active.slice(shift), ...active.slice(0, shift)]) {
        const cpuBefore = setup.cpuMs();
        const result: LoadResult = await loadRun(setup.url, cookies.get(setup.spec.name)!, {
          connections: config.connections,
          duration: config.duration,
        });
        const cpuAfter = setup.cpuMs();
        if (cpuBefore !== undefined && cpuAfter !== undefined)
          result.cpuPerRequestUs = ((cpuAfter - cpuBefore) * 1000) / result.requests;
        figures.get(setup.spec.name)!.rounds.push(result);
        log(
          `round ${round} ${setup.spec.name}: ${result.requestsPerSecond.toFixed(0)} req/s, p50 ${result.p50} ms, p99 ${result.p99} ms, ` +
            `CPU ${result.cpuPerRequestUs?.toFixed(0) ?? '?'} µs/request`,
        );
      }
    }
    for (const setup of active) figures.get(setup.spec.name)!.rssMiB = setup.rssMiB();
    await Promise.all(running.splice(0).map((setup) => setup.stop()));

    // 4. Per-user operations as the collection grows, on sessions in the library's own layout.
    const template = templates.get('ours');
    if (template) {
      const db = client.db('bench-per-user');
      await db.dropDatabase();
      perUser = await timePerUserOperations(server.uri, db, template, config.perUserSizes, autoRemove, log);
    }

    const report = renderReport({
      date: new Date().toISOString().slice(0, 10),
      database: server.version,
      node: process.version,
      cpus: cpus().length,
      config,
      setups: SETUPS.map((spec) => figures.get(spec.name)!),
      perUser,
      ferretdbBackend: server.backend,
      wallSeconds: (Date.now() - started) / 1000,
      pinned: setupCpu !== undefined,
    });
    writeFileSync(new URL('../../bench/results.md', import.meta.url), report);
    process.stdout.write(`${report}\n`);
    log(`written to bench/results.md in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    // Only the third-party package may be missing (the issue asks to skip it if it cannot run); a setup of
    // this repository that did not run is a failure of the benchmark.
    const failed = SETUPS.filter((spec) => spec.name !== 'nestjs-session' && figures.get(spec.name)!.skipped);
    if (failed.length) {
      log(`failed: ${failed.map((spec) => spec.name).join(', ')} could not be measured`);
      process.exitCode = 1;
    }
  } finally {
    await Promise.all(running.map((setup) => setup.stop()));
    // The benchmark's databases are its own: nothing is left behind (FerretDB on PostgreSQL keeps data).
    for (const name of [...SETUPS.map((spec) => `bench-${spec.name}`), 'bench-per-user'])
      await client
        .db(name)
        .dropDatabase()
        .catch(() => {
          // Best effort: a database that cannot be dropped is no reason to fail a finished run.
        });
    await client.close();
    await server.stop();
  }
}

main().catch((error: unknown) => {
  log(`failed: ${(error as Error).stack ?? String(error)}`);
  process.exitCode = 1;
});
