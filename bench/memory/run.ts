// Memory study driver (bench/memory/README.md). Starts each setup in turn (one process at a time) with the
// probe preloaded, seeds logged-in sessions, reads RSS once seeded, puts GET /me under load (RSS sampled
// every 250 ms, GCs recorded), then reads RSS and its parts, the V8 heap before and after a full GC.
//
//   node dist/bench/memory/run.js                              Node 20 (`node` on PATH)
//   "$(scripts/node-lts.sh)" dist/bench/memory/run.js          Node 24
//
// Settings (environment):
//   MONGODB_URI      a running server (else one is started as the benchmark does)
//   MEM_SETUPS       setups to measure, comma separated (default: all, see ALL below)
//   MEM_REPEAT       processes per setup, interleaved; the table shows medians (default 1)
//   MEM_AMOUNT       requests of load (default 8000), or MEM_DURATION seconds instead
//   MEM_SESSIONS     seeded sessions (default 1000);  MEM_CONNECTIONS  (default 32)
//   MEM_NODE_ARGS    extra Node options for the setups, space separated (`--max-semi-space-size=16`)
//   MEM_ENV          extra environment for the setups (`MALLOC_MMAP_THRESHOLD_=131072 MALLOC_ARENA_MAX=2`)
//   MEM_START_ONLY=1 probe once seeded and stop there (start-up figures, no load)
//   MEM_SNAPSHOT=1   a heap snapshot at the probe (bench/memory/heap-summary.mjs compares them)
//   MEM_SAMPLING=1   a sampling heap profile of the load, promoted objects only (heap-profile-summary.mjs)
//   MEM_OUT          where the probe's reports go (default dist/bench/memory/out)
import { mkdirSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';
import { startMongo } from '#scripts/mongo-server.mjs';
import { loadRun } from '../load.js';
import { SetupProcess, type SetupSpec } from '../processes.js';
import { seedSessions } from '../seed.js';
import { BENCH_SETTINGS } from '../setups/settings.js';

const number = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const config = {
  repeat: number('MEM_REPEAT', 1),
  duration: number('MEM_DURATION', 15),
  amount: process.env.MEM_DURATION ? undefined : number('MEM_AMOUNT', 8000),
  sessions: number('MEM_SESSIONS', 1000),
  connections: number('MEM_CONNECTIONS', 32),
  nodeArgs: (process.env.MEM_NODE_ARGS ?? '').split(' ').filter(Boolean),
  env: Object.fromEntries(
    (process.env.MEM_ENV ?? '')
      .split(' ')
      .filter(Boolean)
      .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
  ),
  snapshot: process.env.MEM_SNAPSHOT === '1',
  /** Probe once seeded and stop there: the start-up figures, without load. */
  startOnly: process.env.MEM_START_ONLY === '1',
  out: process.env.MEM_OUT ?? fileURLToPath(new URL('./out', import.meta.url)),
};
const probe = fileURLToPath(new URL('../../../bench/memory/probe.mjs', import.meta.url));
const variant = (name: string, extras: string): SetupSpec => ({
  name,
  script: 'dist/bench/memory/variant.js',
  login: { path: '/auth/login', body: { username: 'alice', password: 'alice-password' } },
  env: { MEM_EXTRAS: extras },
});
const ALL: SetupSpec[] = [
  { name: 'raw', script: 'dist/bench/setups/raw.js', login: { path: '/login' } },
  { name: 'nest-docs', script: 'dist/bench/setups/nest-docs.js', login: { path: '/login' } },
  variant('lib', ''),
  variant('lib+schema', 'schema'),
  variant('lib+schema+config', 'schema,config'),
  variant('lib+schema+config+events', 'schema,config,events'),
  variant('lib+all-app-parts', 'schema,config,events,users'),
  {
    name: 'ours',
    script: 'dist/main.js',
    login: { path: '/auth/login', body: { username: 'alice', password: 'alice-password' } },
    env: {
      SESSION_SECRET: BENCH_SETTINGS.secret,
      SESSION_IDLE_TIMEOUT: String(BENCH_SETTINGS.idleTimeout),
      SESSION_TOUCH_AFTER: String(BENCH_SETTINGS.touchAfter),
    },
  },
];
const SETUPS = process.env.MEM_SETUPS
  ? process.env.MEM_SETUPS.split(',').map((name) => {
      const spec = ALL.find((setup) => setup.name === name);
      if (!spec) throw new Error(`MEM_SETUPS: no setup ${name} (${ALL.map((setup) => setup.name).join(', ')})`);
      return spec;
    })
  : ALL;

interface Sample {
  rss: number;
  rssAnon: number;
  brkHeap: number;
  threadArenas: number;
  otherAnonymous: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  spaces: Record<string, { size: number; used: number }>;
}
interface ProbeReport {
  modules: Record<string, number>;
  gcs?: {
    scavenges: number;
    promoted: number;
    markCompacts: number;
    oldBeforeMajor: number[];
    oldAfterMajor: number[];
    gcMs: number;
  };
  before: Sample;
  afterGc: Sample;
  snapshot?: string;
}

/** RSS of `pid` from /proc, MiB (NaN once it has exited). */
function rss(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return Number(match?.[1]) / 1024;
  } catch {
    return NaN;
  }
}

/** The memory columns of a row, from the probe's samples before and after a full GC. */
function memoryColumns(b: Sample, a: Sample) {
  return {
    rss: b.rss,
    brkHeap: b.brkHeap,
    threadArenas: b.threadArenas,
    otherAnonymous: b.otherAnonymous,
    anonymous: b.rssAnon,
    heapTotal: b.heapTotal,
    newSpace: b.spaces.new_space?.size,
    oldSpace: b.spaces.old_space?.size,
    heapUsed: b.heapUsed,
    external: b.external,
    gcHeapUsed: a.heapUsed,
    gcRss: a.rss,
  };
}

async function probeReport(pid: number, count: number): Promise<ProbeReport> {
  const file = `${config.out}/${pid}-${count}.json`;
  process.kill(pid, 'SIGURG');
  for (let waited = 0; waited < 120_000; waited += 200) {
    await sleep(200);
    if (existsSync(file)) {
      try {
        return JSON.parse(readFileSync(file, 'utf8')) as ProbeReport;
      } catch {
        // Still being written.
      }
    }
  }
  throw new Error(`no probe report ${file}`);
}

const log = (message: string) => process.stderr.write(`[memory] ${message}\n`);
const f = (value: number | undefined) => (value === undefined || Number.isNaN(value) ? '?' : value.toFixed(1));
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

/** The figures of one process, MiB (and req/s). */
interface Row {
  setup: string;
  /** The process, whose probe files are `<pid>-1.*` in MEM_OUT. */
  pid: number;
  /** RSS once seeded, before the load. */
  startRss: number;
  /** RSS sampled every 250 ms during the load: mean and maximum. */
  loadRssMean: number;
  loadRssMax: number;
  /** RSS 1 s after the load (what `npm run bench` reports), and its parts. */
  rss: number;
  brkHeap: number;
  threadArenas: number;
  otherAnonymous: number;
  anonymous: number;
  heapTotal: number;
  newSpace: number;
  oldSpace: number;
  heapUsed: number;
  external: number;
  /** After a full GC: live heap, and RSS once V8 has shrunk its spaces. */
  gcHeapUsed: number;
  gcRss: number;
  reqPerSecond: number;
  /** During the load: MiB promoted into old space per 1000 requests, mark-compacts, old space used before
   * the last mark-compact and after it. */
  promotedPer1000: number;
  markCompacts: number;
  oldBeforeLastMajor: number;
  oldAfterLastMajor: number;
}
const COLUMNS: [keyof Row, string][] = [
  ['startRss', 'RSS start'],
  ['loadRssMean', 'RSS during load (mean)'],
  ['loadRssMax', '(max)'],
  ['rss', 'RSS after load'],
  ['brkHeap', 'malloc [heap]'],
  ['threadArenas', 'malloc thread arenas'],
  ['otherAnonymous', 'other anon. (V8 pages…)'],
  ['heapTotal', 'V8 heap total'],
  ['newSpace', 'new space'],
  ['oldSpace', 'old space'],
  ['heapUsed', 'heap used'],
  ['gcHeapUsed', 'heap used after GC'],
  ['gcRss', 'RSS after GC'],
  ['reqPerSecond', 'req/s'],
  ['promotedPer1000', 'promoted / 1000 req'],
  ['markCompacts', 'mark-compacts'],
  ['oldBeforeLastMajor', 'old used before last MC'],
  ['oldAfterLastMajor', 'after'],
];
const line = (name: string, row: (key: keyof Row) => number) =>
  `| ${name} | ${COLUMNS.map(([key]) => f(row(key))).join(' | ')} |`;

async function measure(spec: SetupSpec, uri: string, client: MongoClient, env: Record<string, string>): Promise<Row> {
  const db = client.db(`mem-${spec.name.replace(/\W/g, '-')}`);
  await db.dropDatabase();
  const setup = await SetupProcess.start(spec, uri, db.databaseName, env, {
    nodeArgs: ['--import', probe, ...config.nodeArgs],
  });
  try {
    const pid = setup.pid;
    if (pid === undefined) throw new Error(`${spec.name} has no process id`);
    const { cookies } = await seedSessions(setup, db, config.sessions);
    await sleep(500);
    const startRss = rss(pid);
    if (config.startOnly) {
      const { before: b, afterGc: a } = await probeReport(pid, 1);
      return {
        ...(Object.fromEntries(COLUMNS.map(([key]) => [key, NaN])) as unknown as Row),
        setup: spec.name,
        pid,
        startRss,
        ...memoryColumns(b, a),
      };
    }
    process.kill(pid, 'SIGWINCH'); // the probe records GCs from here
    const samples: number[] = [];
    const sampler = setInterval(() => samples.push(rss(pid)), 250);
    const load = await loadRun(setup.url, cookies, {
      connections: config.connections,
      ...(config.amount ? { amount: config.amount } : { duration: config.duration }),
    }).finally(() => clearInterval(sampler));
    await sleep(1000);
    const { before: b, afterGc: a, gcs } = await probeReport(pid, 1);
    return {
      setup: spec.name,
      pid,
      startRss,
      promotedPer1000: gcs ? (gcs.promoted * 1000) / load.requests : NaN,
      markCompacts: gcs?.markCompacts ?? NaN,
      oldBeforeLastMajor: gcs?.oldBeforeMajor.at(-1) ?? NaN,
      oldAfterLastMajor: gcs?.oldAfterMajor.at(-1) ?? NaN,
      loadRssMean: samples.reduce((sum, value) => sum + value, 0) / samples.length,
      loadRssMax: Math.max(...samples),
      ...memoryColumns(b, a),
      reqPerSecond: load.requestsPerSecond,
    };
  } finally {
    await setup.stop();
    await db.dropDatabase();
  }
}

async function main(): Promise<void> {
  mkdirSync(config.out, { recursive: true });
  const server = await startMongo();
  const client = new MongoClient(server.uri);
  const env: Record<string, string> = {
    ...config.env,
    SESSION_AUTO_REMOVE: server.ttlIndexes ? 'native' : 'interval',
    MEM_PROBE_DIR: config.out,
  };
  if (config.snapshot) env.MEM_PROBE_SNAPSHOT = '1';
  if (process.env.MEM_SAMPLING === '1') env.MEM_PROBE_SAMPLING = '1';
  const rows: Row[] = [];
  try {
    log(
      `${process.version}, ${server.version}, node args ${JSON.stringify(config.nodeArgs)}, env ${JSON.stringify(config.env)}`,
    );
    // Setups interleaved: repeat 1 of each, then repeat 2, …
    for (let repeat = 0; repeat < config.repeat; repeat += 1)
      for (const spec of SETUPS) {
        const row = await measure(spec, server.uri, client, env);
        rows.push(row);
        log(`${line(spec.name, (key) => row[key] as number)} pid ${row.pid}`);
      }
  } finally {
    await client.close();
    await server.stop();
  }
  const load = config.amount ? `${config.amount} requests` : `${config.duration} s`;
  const header =
    `${process.version}, ${load} of GET /me, ${config.connections} connections, ${config.sessions} sessions, ` +
    `${config.repeat} process(es) per setup (median), Node options ${JSON.stringify(config.nodeArgs)}, ` +
    `env ${JSON.stringify(config.env)}; MiB\n\n` +
    `| setup | ${COLUMNS.map(([, title]) => title).join(' | ')} |\n` +
    `| --- | ${COLUMNS.map(() => '---:').join(' | ')} |`;
  const medians = SETUPS.map((spec) =>
    line(spec.name, (key) => median(rows.filter((row) => row.setup === spec.name).map((row) => row[key] as number))),
  );
  process.stdout.write(`${header}\n${medians.join('\n')}\n`);
  writeFileSync(
    `${config.out}/results-${process.version}-${Date.now()}.json`,
    JSON.stringify({ config, rows }, null, 1),
  );
}

main().catch((error: unknown) => {
  log(`failed: ${(error as Error).stack ?? String(error)}`);
  process.exitCode = 1;
});
