// `npm run bench`: what the session layer costs per request, against the setups users would pick instead, on
// each Node of BENCH_NODE (by default this machine's and the current LTS). Prints a markdown report and
// writes it to bench/results.md. See README.md, "Benchmark".
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { MongoClient, type Document } from 'mongodb';
import { startMongo } from '#scripts/mongo-server.mjs';
import { loadRun, median, ROUTE_NAMES, routeText, type LoadResult, type RouteName } from './load.js';
import { benchNodes, type NodeBinary } from './nodes.js';
import { checkValgrind, countInstructions, type InstructionSettings, type NodeInstructions } from './instructions.js';
import { countOperations, type OperationFigures } from './operations.js';
import { timePerUserOperations, type PerUserTimes } from './per-user.js';
import { summarizeProfile } from './profile-summary.js';
import { monotonicUs, recordProfile, type ProfileRecord, type Window } from './profiles.js';
import { SetupProcess, type SetupSpec } from './processes.js';
import {
  renderInstructionsReport,
  renderReport,
  type NodeFigures,
  type RouteFigures,
  type SetupFigures,
} from './report.js';
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

// Without the instruction counts (BENCH_INSTRUCTIONS=0), the defaults keep `npm run bench` (build included)
// around 10 minutes on a 2-core machine with two Nodes: under 30 s to build, 1–2 minutes of counting, about
// 2.5–4 minutes of load per Node (2 routes × 4 setups × (2 s + 4 × (1 + 3) s) plus start-up), 2.5–5 minutes
// for the per-user phase at 100 000 sessions. The instruction counts add 6–12 minutes per Node (3 setups × 2
// processes under callgrind): 1616 s in all on FerretDB's PostgreSQL backend, the machine loaded by others
// (load average 5–13). 4 rounds: each of the 4 setups runs once in each position.
const config = {
  sessions: setting('BENCH_SESSIONS', 1000, 3),
  connections: setting('BENCH_CONNECTIONS', 32),
  warmup: setting('BENCH_WARMUP', 2),
  duration: setting('BENCH_DURATION', 3),
  rounds: setting('BENCH_ROUNDS', 4),
  countedRequests: setting('BENCH_COUNTED_REQUESTS', 300),
  operationRepeats: setting('BENCH_OPERATION_REPEATS', 20),
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

/**
 * `npm run bench -- --instructions` (or BENCH_ONLY=instructions): only the instruction counts, on every Node,
 * reported to dist/bench/instructions.md (bench/results.md is left as it is). BENCH_INSTRUCTIONS=0: the
 * whole benchmark without them.
 */
const instructionsOnly = process.argv.includes('--instructions') || process.env.BENCH_ONLY === 'instructions';
const withInstructions = instructionsOnly || process.env.BENCH_INSTRUCTIONS !== '0';
// Callgrind runs a process 20–50 times slower (instrumentation off: a few times): on this 2-core machine, busy,
// one process of one setup (start, seeding, both routes) takes 1.5–4 minutes with these defaults.
const instructionSettings: InstructionSettings = {
  runs: setting('BENCH_INSTRUCTION_RUNS', 2),
  warmup: setting('BENCH_INSTRUCTION_WARMUP', 600, 0),
  requests: setting('BENCH_INSTRUCTION_REQUESTS', 250, 10),
  connections: setting('BENCH_INSTRUCTION_CONNECTIONS', 4),
  sessions: config.sessions,
};
/** Unmeasured load right before each measured run: a setup that has waited pays for it in its next requests. */
const PRELOAD_SECONDS = 1;
const PROFILE_DIR = 'dist/bench/profiles';
/** Logged-in sessions the counted reads and writes are spread over. */
const OPERATION_SESSIONS = 100;

/** Node options of a setup process: with BENCH_CPU_PROF=1, a CPU profile named by setup and Node. */
function profileArgs(setup: string, node: NodeBinary): string[] {
  if (!config.cpuProfile) return [];
  return [
    '--import',
    './dist/bench/setups/exit-on-signal.js',
    '--cpu-prof',
    `--cpu-prof-dir=${PROFILE_DIR}`,
    `--cpu-prof-name=${profileName(setup, node)}.cpuprofile`,
  ];
}
const profileName = (setup: string, node: NodeBinary) => `${setup}-node-${node.version}`;

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

/** CPU model (from /proc/cpuinfo on Linux), cores and memory of this machine. */
function describeMachine(): { cpu: string; cores: number; memoryGiB: number } {
  let cpu = cpus()[0]?.model ?? 'unknown CPU';
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? cpu;
  } catch {
    // Not Linux: the model Node reports.
  }
  return { cpu, cores: cpus().length, memoryGiB: totalmem() / 2 ** 30 };
}

/**
 * Seconds since `npm run bench` started, build included, when this process is that script's last command
 * (its parent is the `sh -c` npm runs the script in; Linux `/proc`); otherwise `undefined`.
 */
function scriptSeconds(): number | undefined {
  try {
    const parent = readFileSync(`/proc/${process.ppid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    if (!parent.includes('npm run build') || !parent.includes('dist/bench/run.js')) return undefined;
    const stat = readFileSync(`/proc/${process.ppid}/stat`, 'utf8');
    const startTicks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    const bootSeconds = Number(/^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1]);
    const seconds = Date.now() / 1000 - (bootSeconds + startTicks / 100);
    return Number.isFinite(seconds) && seconds > 0 ? seconds : undefined;
  } catch {
    return undefined;
  }
}

const HAND_WRITTEN = { login: { path: '/login' }, logout: '/logout' };
const ALL_SETUPS: SetupSpec[] = [
  { name: 'raw', script: 'dist/bench/setups/raw.js', ...HAND_WRITTEN },
  { name: 'nest-docs', script: 'dist/bench/setups/nest-docs.js', ...HAND_WRITTEN },
  { name: 'nestjs-session', script: 'dist/bench/setups/nestjs-session.js', ...HAND_WRITTEN },
  {
    name: 'ours',
    script: 'dist/bench/setups/ours.js',
    login: { path: '/auth/login', body: { username: 'alice', password: 'alice-password' } },
    logout: '/auth/logout',
    logoutEverywhere: '/auth/logout-everywhere',
    passwordChange: {
      path: '/auth/password',
      password: 'alice-password',
      body: (currentPassword, newPassword) => ({ currentPassword, newPassword }),
    },
    // The example app's defaults: SESSION_MAX_PER_USER 5, `exclude: ['health']`.
    sessionLimit: 5,
    excluded: '/health',
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

const startedAt = Date.now();
/** Progress on stderr, with the seconds since the start. */
const log = (message: string) =>
  process.stderr.write(`[bench ${((Date.now() - startedAt) / 1000).toFixed(0).padStart(3)} s] ${message}\n`);
const firstLine = (error: unknown) => (error as Error).message.split('\n')[0];

/** What every setup process gets: the server, where it runs, how expired sessions go. */
interface Launch {
  uri: string;
  env: Record<string, string>;
  prefix: string[];
}

/**
 * Commands per operation, each setup in a process on `node` behind the counting relay, on its own database
 * (`bench-ops-<setup>`): the load's collections keep their size. Also returns each setup's login template.
 */
async function countAll(
  client: MongoClient,
  launch: Launch,
  node: NodeBinary,
): Promise<{ operations: OperationFigures[]; templates: Map<string, Document> }> {
  const operations: OperationFigures[] = [];
  const templates = new Map<string, Document>();
  const counter = await WireCounter.start(launch.uri);
  try {
    for (const spec of SETUPS) {
      const db = client.db(`bench-ops-${spec.name}`);
      await db.dropDatabase();
      let counted: SetupProcess | undefined;
      try {
        counted = await SetupProcess.start(spec, counter.relayUri(launch.uri), db.databaseName, launch.env, {
          node: node.path,
          prefix: launch.prefix,
        });
        // Enough sessions to spread the counted requests; the count per request does not depend on how many.
        const seeded = await seedSessions(counted, db, Math.min(config.sessions, OPERATION_SESSIONS));
        templates.set(spec.name, seeded.template);
        log(`${spec.name}: counting commands, on Node ${node.version}, port ${counted.port}`);
        operations.push(
          await countOperations(
            counted,
            counter,
            db,
            seeded.template,
            seeded.cookies,
            { repeats: config.operationRepeats, countedRequests: config.countedRequests },
            log,
          ),
        );
      } catch (error) {
        operations.push({ setup: spec.name, skipped: firstLine(error), counts: {}, other: {} });
        log(`${spec.name}: commands not counted: ${(error as Error).message}`);
      } finally {
        await counted?.stop();
      }
    }
  } finally {
    await counter.stop();
  }
  return { operations, templates };
}

/**
 * The load phase on one Node: each setup started on it and seeded afresh; then, route after route (the
 * unchanged reads first: the writes change the sessions), a warm-up and interleaved rounds.
 */
async function measureNode(client: MongoClient, launch: Launch, node: NodeBinary): Promise<NodeFigures> {
  const running: SetupProcess[] = [];
  const skipped = new Map<string, string>();
  const cookies = new Map<string, string[]>();
  /** Requests each process answered, and when the measured ones were (for its CPU profile). */
  const served = new Map<string, { requests: number; measuredRequests: number; windows: Window[] }>();
  const load = async (setup: SetupProcess, route: RouteName, duration: number, measured = false) => {
    const from = monotonicUs();
    const result = await loadRun(setup.url, cookies.get(setup.spec.name)!, {
      connections: config.connections,
      duration,
      route,
    });
    const count = served.get(setup.spec.name)!;
    count.requests += result.requests;
    if (measured) {
      count.measuredRequests += result.requests;
      count.windows.push([from, monotonicUs()]);
    }
    return result;
  };
  const routes: RouteFigures[] = [];
  try {
    for (const spec of SETUPS) {
      const db = client.db(`bench-${spec.name}`);
      await db.dropDatabase();
      try {
        const setup = await SetupProcess.start(spec, launch.uri, db.databaseName, launch.env, {
          node: node.path,
          prefix: launch.prefix,
          nodeArgs: profileArgs(spec.name, node),
        });
        running.push(setup);
        const seeded = await seedSessions(setup, db, config.sessions);
        cookies.set(spec.name, seeded.cookies);
        // The readiness check, the login and the seeding's four checks.
        served.set(spec.name, { requests: 6, measuredRequests: 0, windows: [] });
        log(`Node ${node.version}: ${spec.name}: ${config.sessions} sessions seeded on port ${setup.port}`);
      } catch (error) {
        skipped.set(spec.name, firstLine(error));
        log(`Node ${node.version}: ${spec.name}: skipped: ${(error as Error).message}`);
      }
    }
    const active = running.filter((setup) => cookies.has(setup.spec.name));
    for (const route of ROUTE_NAMES) routes.push(await measureRoute(route, active, skipped, node, load));
  } finally {
    // Stopped (SIGINT) before the profiles are read: a process writes its profile as it exits.
    await Promise.all(running.map((setup) => setup.stop()));
  }
  const profiles = config.cpuProfile ? writeProfileCounts(node, served) : [];
  return { node, routes, profiles };
}

/** One route's warm-up and interleaved rounds on the `active` setups, with each round's CPU and RSS. */
async function measureRoute(
  route: RouteName,
  active: SetupProcess[],
  skipped: Map<string, string>,
  node: NodeBinary,
  load: (setup: SetupProcess, route: RouteName, duration: number, measured?: boolean) => Promise<LoadResult>,
): Promise<RouteFigures> {
  const figures = new Map<string, SetupFigures>(
    SETUPS.map((spec) => [spec.name, { name: spec.name, rounds: [], skipped: skipped.get(spec.name) }]),
  );
  const label = `Node ${node.version} ${routeText(route)}`;
  for (const setup of active) await load(setup, route, config.warmup);
  for (let round = 1; round <= config.rounds; round += 1) {
    // Each round starts one setup later (raw, nest-docs, … then nest-docs, …, raw): no setup always runs
    // right after the same neighbour or always last.
    const shift = (round - 1) % active.length;
    for (const setup of [...active.slice(shift), ...active.slice(0, shift)]) {
      await load(setup, route, PRELOAD_SECONDS);
      const cpuBefore = setup.cpuMs();
      const result = await load(setup, route, config.duration, true);
      const cpuAfter = setup.cpuMs();
      result.rssMiB = setup.rssMiB();
      if (cpuBefore !== undefined && cpuAfter !== undefined)
        result.cpuPerRequestUs = ((cpuAfter - cpuBefore) * 1000) / result.requests;
      figures.get(setup.spec.name)!.rounds.push(result);
      log(
        `${label} round ${round} ${setup.spec.name}: ${result.requestsPerSecond.toFixed(0)} req/s, ` +
          `p50 ${result.p50} ms, p99 ${result.p99} ms, CPU ${result.cpuPerRequestUs?.toFixed(0) ?? '?'} µs/request`,
      );
    }
  }
  // RSS at the end of each measured round, the median: one reading lands anywhere in the collector's cycle.
  for (const setup of active) {
    const readings = figures
      .get(setup.spec.name)!
      .rounds.flatMap((round) => (round.rssMiB === undefined ? [] : [round.rssMiB]));
    figures.get(setup.spec.name)!.rssMiB = readings.length ? median(readings) : undefined;
  }
  return { route, setups: SETUPS.map((spec) => figures.get(spec.name)!) };
}

/**
 * Next to each CPU profile, `<setup>-node-<version>.json`: the requests the process answered while profiled
 * (all of them: the profile covers the whole process, start-up included) and those of the measured rounds,
 * with the rounds' times; and `<setup>-node-<version>.measured.cpuprofile`, the profile of those rounds only.
 */
function writeProfileCounts(
  node: NodeBinary,
  served: Map<string, { requests: number; measuredRequests: number; windows: Window[] }>,
): ProfileRecord[] {
  const records: ProfileRecord[] = [];
  for (const [setup, entry] of served) {
    const name = profileName(setup, node);
    const record = recordProfile(PROFILE_DIR, name, { setup, node: node.version, ...entry }, summarizeProfile);
    if (record) records.push(record);
    log(
      record
        ? `profile ${PROFILE_DIR}/${record.profile}: ${record.requests} requests; ` +
            `${record.measuredProfile ?? 'no measured rounds'}: ${record.measuredRequests} requests` +
            (record.cost ? `, ${record.cost.total.toFixed(0)} µs per request (self time, not idle)` : '')
        : `${setup} on Node ${node.version} wrote no CPU profile`,
    );
  }
  return records;
}

/**
 * The setups whose instructions are counted (`BENCH_INSTRUCTION_SETUPS`; by default those the targets and the
 * floor need, `raw,nest-docs,ours`, of BENCH_SETUPS).
 */
const INSTRUCTION_SETUPS = SETUPS.filter((spec) =>
  (process.env.BENCH_INSTRUCTION_SETUPS ?? 'raw,nest-docs,ours').split(',').includes(spec.name),
);

/** The setups of this repository that could not be counted on some Node: a failure of the benchmark. */
function uncounted(counts: NodeInstructions[]): string[] {
  return counts.flatMap((count) =>
    count.routes.flatMap((route) =>
      route.setups
        .filter((setup) => setup.name !== 'nestjs-session' && setup.skipped)
        .map((setup) => `${setup.name}'s instructions (${routeText(route.route)}) on Node ${count.node.version}`),
    ),
  );
}

async function main(): Promise<void> {
  // Before anything else: without valgrind, the run would fail only after the other phases.
  const valgrind = withInstructions ? checkValgrind() : undefined;
  const nodes = benchNodes();
  log(`setups run on Node ${nodes.map((node) => `${node.version} (${node.path})`).join(', ')}`);
  const { setupCpu } = pinCpus();
  const prefix = setupCpu === undefined ? [] : ['taskset', '-c', String(setupCpu)];
  log(
    setupCpu === undefined
      ? 'CPU pinning off'
      : `setups pinned to CPU ${setupCpu}, load generator and database to the others`,
  );
  const server = await startMongo();
  const ferretdb = server.version.startsWith('FerretDB');
  const autoRemove = server.ttlIndexes ? 'native' : 'interval';
  const launch: Launch = { uri: server.uri, env: { SESSION_AUTO_REMOVE: autoRemove }, prefix };
  const client = new MongoClient(server.uri);
  try {
    log(`database: ${server.version} (${server.kind})`);
    const count = (node: NodeBinary) =>
      countInstructions(client, launch, node, INSTRUCTION_SETUPS, instructionSettings, log);

    if (instructionsOnly) {
      const counts: NodeInstructions[] = [];
      for (const node of nodes) counts.push(await count(node));
      const wallSeconds = (Date.now() - startedAt) / 1000;
      const scriptWall = scriptSeconds();
      const report = renderInstructionsReport({
        date: new Date().toISOString().slice(0, 10),
        machine: describeMachine(),
        database: server.version,
        valgrind: valgrind!,
        instructions: counts,
        wallSeconds,
        ...(scriptWall === undefined ? {} : { scriptSeconds: scriptWall }),
      });
      mkdirSync('dist/bench', { recursive: true });
      writeFileSync('dist/bench/instructions.md', report);
      process.stdout.write(`${report}\n`);
      log(
        `written to dist/bench/instructions.md in ${wallSeconds.toFixed(0)} s` +
          (scriptWall === undefined ? '' : ` (${scriptWall.toFixed(0)} s since \`npm run bench\` started)`),
      );
      const failed = uncounted(counts);
      if (failed.length) {
        log(`failed: ${failed.join(', ')} could not be measured`);
        process.exitCode = 1;
      }
      return;
    }

    // 1. Commands per operation, counted on the wire, on the first Node only.
    const { operations, templates } = await countAll(client, launch, nodes[0]);

    // 2. Load, then instructions per request, Node after Node.
    const runs: NodeFigures[] = [];
    for (const node of nodes) {
      const figures = await measureNode(client, launch, node);
      if (withInstructions) figures.instructions = await count(node);
      runs.push(figures);
    }

    // 3. Per-user operations as the collection grows, on sessions in the library's own layout: database-bound,
    // run once, here.
    let perUser: PerUserTimes[] = [];
    const template = templates.get('ours');
    if (template) {
      const db = client.db('bench-per-user');
      await db.dropDatabase();
      if (ferretdb) log("per-user query not explained: FerretDB 1.x's explain says nothing of indexes");
      perUser = await timePerUserOperations(server.uri, db, template, config.perUserSizes, autoRemove, log, !ferretdb);
    }

    const wallSeconds = (Date.now() - startedAt) / 1000;
    const scriptWall = scriptSeconds();
    const report = renderReport({
      date: new Date().toISOString().slice(0, 10),
      machine: describeMachine(),
      database: server.version,
      ...(ferretdb ? { ferretdb: { backend: server.backend } } : {}),
      config,
      nodes: runs,
      countedOn: nodes[0].version,
      perUserNode: process.version,
      operations,
      perUser,
      wallSeconds,
      ...(scriptWall === undefined ? {} : { scriptSeconds: scriptWall }),
      pinned: setupCpu !== undefined,
      ...(valgrind === undefined ? {} : { valgrind }),
    });
    writeFileSync(new URL('../../bench/results.md', import.meta.url), report);
    process.stdout.write(`${report}\n`);
    log(
      `written to bench/results.md in ${wallSeconds.toFixed(0)} s` +
        (scriptWall === undefined
          ? ''
          : ` (${scriptWall.toFixed(0)} s since \`npm run bench\` started, build included)`),
    );
    // Only the third-party package may be missing (the issue asks to skip it if it cannot run); a setup of
    // this repository that did not run, or an operation of one that failed, is a failure of the benchmark.
    const ownSetup = (name: string) => name !== 'nestjs-session';
    const failed = [
      ...runs.flatMap((run) =>
        run.routes[0].setups
          .filter((setup) => ownSetup(setup.name) && setup.skipped)
          .map((setup) => `${setup.name} on Node ${run.node.version}`),
      ),
      ...operations
        .filter((entry) => ownSetup(entry.setup))
        .flatMap((entry) =>
          entry.skipped
            ? [`${entry.setup}'s commands`]
            : Object.entries(entry.counts)
                .filter(([, count]) => 'failed' in count)
                .map(([operation]) => `${entry.setup}'s ${operation}`),
        ),
    ];
    failed.push(...uncounted(runs.flatMap((run) => (run.instructions ? [run.instructions] : []))));
    if (failed.length) {
      log(`failed: ${failed.join(', ')} could not be measured`);
      process.exitCode = 1;
    }
  } finally {
    // The benchmark's databases are its own: nothing is left behind (FerretDB on PostgreSQL keeps data).
    const names = [
      ...SETUPS.flatMap((spec) => [`bench-${spec.name}`, `bench-ops-${spec.name}`, `bench-cg-${spec.name}`]),
      'bench-per-user',
    ];
    for (const name of names)
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
