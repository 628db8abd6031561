import { median, ROUTES, routeText, type LoadResult, type RouteName } from './load.js';
import type { NodeInstructions, SetupInstructions } from './instructions.js';
import type { NodeBinary } from './nodes.js';
import type { ProfileRecord } from './profiles.js';
import { describeCount, OPERATIONS, type OperationCount, type OperationFigures } from './operations.js';
import { REPEATS, type PerUserTimes } from './per-user.js';

/** What was measured for one setup on one Node. */
export interface SetupFigures {
  name: string;
  /** Why the setup could not be measured. */
  skipped?: string;
  rounds: LoadResult[];
  rssMiB?: number;
}

/** The load figures of every setup on one route. */
export interface RouteFigures {
  route: RouteName;
  setups: SetupFigures[];
}

/** The load figures of every setup on one Node, route by route. */
export interface NodeFigures {
  node: NodeBinary;
  routes: RouteFigures[];
  /** With BENCH_CPU_PROF=1: each setup's profile, summarised over the measured rounds when possible. */
  profiles?: ProfileRecord[];
  /** Instructions per request under callgrind (unless BENCH_INSTRUCTIONS=0). */
  instructions?: NodeInstructions;
}

export interface BenchReport {
  date: string;
  machine: { cpu: string; cores: number; memoryGiB: number };
  /** Server and version, e.g. `FerretDB v1.24.0 (PostgreSQL backend)`. */
  database: string;
  /** The server is FerretDB (whose queries use no index); its backend when known. */
  ferretdb?: { backend?: string };
  config: {
    sessions: number;
    connections: number;
    warmup: number;
    duration: number;
    rounds: number;
    countedRequests: number;
    operationRepeats: number;
    perUserSizes: number[];
  };
  nodes: NodeFigures[];
  /** The Node the counted processes ran on (the first of the list). */
  countedOn: string;
  operations: OperationFigures[];
  perUser: PerUserTimes[];
  /** The Node of the benchmark's own process, where the per-user phase runs. */
  perUserNode: string;
  wallSeconds: number;
  /** The whole `npm run bench`, build included, when known. */
  scriptSeconds?: number;
  /** The setup under test had a CPU of its own. */
  pinned: boolean;
  /** `valgrind --version`, when instructions were counted. */
  valgrind?: string;
}

const TARGET_RATIO = 0.95;
const TARGET_CPU_RATIO = 1.05;
/** From this Node major on (the current LTS), the CPU ratio is a target; before it, it is reported. */
const CPU_TARGET_FROM_MAJOR = 24;
const TARGET_GROWTH = 2;

const fixed = (value: number | undefined, digits: number) =>
  value === undefined || Number.isNaN(value) ? '–' : value.toFixed(digits);
const verdict = (met: boolean | undefined) => (met === undefined ? 'not measured' : met ? '**met**' : '**missed**');
const cell = (text: string) => text.replaceAll('|', '\\|');

/** CPU time of the setup's process per request in each round, in µs. */
const cpuOf = (round: LoadResult) => round.cpuPerRequestUs;
const rpsOf = (round: LoadResult) => round.requestsPerSecond;

/** The median over the rounds of `pick`, where it was measured. */
function medianOf(setup: SetupFigures | undefined, pick: (round: LoadResult) => number | undefined) {
  const values = setup?.rounds.flatMap((round) => {
    const value = pick(round);
    return value === undefined ? [] : [value];
  });
  return values?.length ? median(values) : undefined;
}

/** The median, over the interleaved rounds, of `a`'s figure divided by `b`'s in the same round. */
function roundRatio(
  a: SetupFigures | undefined,
  b: SetupFigures | undefined,
  pick: (round: LoadResult) => number | undefined,
): { median?: number; perRound: number[] } {
  if (!a?.rounds.length || !b?.rounds.length) return { perRound: [] };
  const perRound = a.rounds.flatMap((round, index) => {
    const [mine, theirs] = [pick(round), b.rounds[index] && pick(b.rounds[index])];
    return mine === undefined || !theirs ? [] : [mine / theirs];
  });
  return { median: perRound.length ? median(perRound) : undefined, perRound };
}

const ratioText = (ratio: { median?: number; perRound: number[] }, digits: number) =>
  `${fixed(ratio.median, digits)} (rounds: ${ratio.perRound.map((r) => r.toFixed(digits)).join(', ') || '–'})`;

const isCount = (value: OperationCount | { failed: string } | undefined): value is OperationCount =>
  value !== undefined && !('failed' in value);

/** The benchmark's results as markdown. */
export function renderReport(report: BenchReport): string {
  const { config } = report;
  const setupNames = [
    ...new Set(report.nodes.flatMap((run) => run.routes.flatMap((route) => route.setups.map((setup) => setup.name)))),
  ];
  const counted = new Map(report.operations.map((figures) => [figures.setup, figures]));
  /** The commands per request of `name` on `route`, counted on the wire. */
  const countOf = (name: string, route: RouteName) => {
    const count = counted.get(name)?.counts[route];
    return isCount(count) ? count : undefined;
  };
  const lines: string[] = [
    '# Benchmark results',
    '',
    `${report.date} · ${report.machine.cpu}, ${report.machine.cores} cores, ${fixed(report.machine.memoryGiB, 0)} GiB · ` +
      `Node ${report.nodes.map((run) => run.node.version).join(' and ')} · ${report.database} · ` +
      `whole run ${report.wallSeconds.toFixed(0)} s` +
      (report.scriptSeconds === undefined
        ? ''
        : ` (${report.scriptSeconds.toFixed(0)} s with the build, as \`npm run bench\`)`),
    '',
    `Settings: ${config.sessions} logged-in sessions per setup · ${config.connections} connections · on each Node, ` +
      `a ${config.warmup} s warm-up per setup, then ${config.rounds} interleaved round${config.rounds === 1 ? '' : 's'} of ${config.duration} s ` +
      '(order rotated each round), each measured run preceded by 1 s of unmeasured load · ' +
      `${report.pinned ? 'setup under test pinned to its own CPU' : 'no CPU pinning'} · ` +
      (report.valgrind
        ? `instructions counted with ${report.valgrind} (settings in each Node's section) · `
        : 'instructions not counted (BENCH_INSTRUCTIONS=0) · ') +
      'commands counted over ' +
      `${config.countedRequests} requests of each route and ${config.operationRepeats} of each other operation · per-user sizes ` +
      `${config.perUserSizes.join(', ')}.`,
    '',
    'Each setup is a separate process on 127.0.0.1 serving a guarded `GET /me` that reads the session and ' +
      'does not modify it, and a guarded `POST /me/visits` that increments one key of it (every request ' +
      'writes); each route is loaded in turn, reads first, on the same processes; same database server, cookie, secret, idle timeout and touch throttling. The load ' +
      'generator (autocannon) and the database are the same for every Node; only the setup processes run on ' +
      'the Node of each section, and every ratio is taken between setups of one Node, round by round. RSS ' +
      "differs between Node versions by their heap defaults (Node 24's new space is larger): compare it " +
      'within one Node only.',
    '',
    '**Which figure the targets are judged on.** The ratio ours/nest-docs of instructions per request, counted ' +
      "by valgrind's callgrind in each setup's process (the last section of each Node): the instructions a " +
      'request executes do not change when other work takes the CPU, where CPU time per request does (the cache ' +
      'and the frequency are shared; on this 2-core machine the same command gave a CPU ratio of 1.03 on a ' +
      'quiet machine and 1.17 on a busy one). The CPU and req/s columns are kept and reported; instructions are ' +
      'not time (a cache miss costs more than an add), so a figure in both is the one to trust.',
  ];

  for (const run of report.nodes) {
    lines.push('', `## Node ${run.node.version}`);
    for (const { route, setups } of run.routes) lines.push(...routeSection(run, route, setups, countOf, report));
    lines.push(...profileSection(run));
    if (run.instructions) lines.push(...instructionsSection(run.instructions, '###'));
  }

  lines.push(...operationsSection(report, setupNames), ...perUserSection(report));
  return `${lines.join('\n')}\n`;
}

/** What each route's requests are expected to cost on the wire, for ours. */
const EXPECTED: Record<RouteName, { reads: number; writes: number }> = {
  read: { reads: 1, writes: 0 },
  write: { reads: 1, writes: 1 },
};

/** One route's table on one Node, and its targets. */
function routeSection(
  run: NodeFigures,
  route: RouteName,
  setups: SetupFigures[],
  countOf: (name: string, route: RouteName) => OperationCount | undefined,
  report: BenchReport,
): string[] {
  const find = (name: string) => setups.find((setup) => setup.name === name && !setup.skipped);
  const ours = find('ours');
  const docs = find('nest-docs');
  const lines = [
    '',
    `### \`${routeText(route)}\`: ${ROUTES[route].label}`,
    '',
    '| Setup | req/s (median) | p50 (ms) | p99 (ms) | req/s per round | app CPU / request (µs) | reads / request | writes / request | RSS after rounds, median (MiB) |',
    '| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |',
  ];
  for (const setup of setups) {
    if (setup.skipped) {
      lines.push(`| ${setup.name} | skipped: ${cell(setup.skipped)} | | | | | | | |`);
      continue;
    }
    const count = countOf(setup.name, route);
    lines.push(
      `| ${setup.name} | ${fixed(medianOf(setup, rpsOf), 0)} | ${fixed(
        medianOf(setup, (r) => r.p50),
        1,
      )} | ` +
        `${fixed(
          medianOf(setup, (r) => r.p99),
          1,
        )} | ${setup.rounds.map((r) => r.requestsPerSecond.toFixed(0)).join(', ')} | ` +
        `${fixed(medianOf(setup, cpuOf), 0)} | ${fixed(count?.reads, 2)} | ${fixed(count?.writes, 2)} | ${fixed(setup.rssMiB, 0)} |`,
    );
  }
  const toDocs = roundRatio(ours, docs, rpsOf);
  const toRaw = roundRatio(ours, find('raw'), rpsOf);
  const cpuRatio = roundRatio(ours, docs, cpuOf);
  const cpuRawRatio = roundRatio(ours, find('raw'), cpuOf);
  const judged = run.node.major >= CPU_TARGET_FROM_MAJOR;
  const count = countOf('ours', route);
  const expected = EXPECTED[route];
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  const instructions = run.instructions?.routes.find((entry) => entry.route === route)?.setups;
  const counted = (name: string) => instructions?.find((setup) => setup.name === name && setup.runs.length);
  const instructionRatioToDocs = instructionRatio(counted('ours'), counted('nest-docs'));
  const wireMet =
    count === undefined
      ? undefined
      : count.reads <= expected.reads &&
        count.writes === expected.writes &&
        (expected.writes === 0 || count.byCommand.update === expected.writes);
  const rssDelta = ours?.rssMiB !== undefined && docs?.rssMiB !== undefined ? ours.rssMiB - docs.rssMiB : undefined;
  lines.push(
    '',
    '| Target | Figure | |',
    '| --- | --- | --- |',
    `| ours/nest-docs req/s ≥ ${TARGET_RATIO} | ${ratioText(toDocs, 3)} | ${verdict(toDocs.median === undefined ? undefined : toDocs.median >= TARGET_RATIO)} |`,
    `| ours/raw req/s (no target: raw is the floor) | ${ratioText(toRaw, 3)} | |`,
    judged
      ? `| ours/nest-docs instructions per request ≤ ${TARGET_INSTRUCTION_RATIO} (callgrind, below) | ${instructionRatioText(instructionRatioToDocs)} | ${verdict(instructionRatioToDocs && instructionRatioToDocs.median <= TARGET_INSTRUCTION_RATIO)} |`
      : `| ours/nest-docs instructions per request (callgrind, below; no target on Node ${run.node.major}, reported; the target is on Node ${CPU_TARGET_FROM_MAJOR}+) | ${instructionRatioText(instructionRatioToDocs)} | |`,
    `| ours/nest-docs app CPU per request (reported: the ${TARGET_CPU_RATIO} target is judged on instructions, which a busy machine does not move) | ${ratioText(cpuRatio, 2)} | |`,
    `| ours/raw app CPU per request (reported) | ${ratioText(cpuRawRatio, 2)} | |`,
    `| ours: ${plural(expected.reads, 'read')} and ${expected.writes ? `exactly ${plural(expected.writes, 'update')}` : '0 writes'} per request (counted on Node ${report.countedOn}) | ${fixed(count?.reads, 2)} reads, ${fixed(count?.writes, 2)} writes (${fixed(count?.byCommand.update ?? 0, 2)} updates) | ${verdict(wireMet)} |`,
    `| RSS after rounds (median), ours − nest-docs (reported; this Node only) | ${rssDelta === undefined ? '–' : `${rssDelta >= 0 ? '+' : ''}${rssDelta.toFixed(0)} MiB`} | |`,
  );
  return lines;
}

/** Packages shown in a profile table: those costing most in any setup. */
const PROFILE_ROWS = 12;

/** With BENCH_CPU_PROF=1: self time per measured request by package, a column per setup. */
function profileSection(run: NodeFigures): string[] {
  const costs = (run.profiles ?? []).filter((record) => record.cost);
  const lines: string[] = [];
  if (run.profiles?.length) {
    lines.push(
      '',
      `CPU profiles in \`dist/bench/profiles/\` (\`<setup>-node-${run.node.version}.cpuprofile\`, the ` +
        '`.measured.cpuprofile` of the measured rounds only, and the `.json` of the requests served); the ' +
        "profiler's own cost is in every figure of this run.",
    );
  }
  if (!costs.length) return lines;
  const packages = [...new Set(costs.flatMap((record) => Object.keys(record.cost!.packages)))];
  const most = (name: string) => Math.max(...costs.map((record) => record.cost!.packages[name] ?? 0));
  packages.sort((a, b) => most(b) - most(a));
  lines.push(
    '',
    `| Self time per measured request (µs), by package | ${costs.map((record) => record.setup).join(' | ')} |`,
    `| --- | ${costs.map(() => '---:').join(' | ')} |`,
    `| all (idle left out) | ${costs.map((record) => record.cost!.total.toFixed(0)).join(' | ')} |`,
    ...packages
      .slice(0, PROFILE_ROWS)
      .map(
        (name) =>
          `| ${cell(name)} | ${costs.map((record) => (record.cost!.packages[name] ?? 0).toFixed(0)).join(' | ')} |`,
      ),
  );
  return lines;
}

function operationsSection(report: BenchReport, setupNames: string[]): string[] {
  const lines = [
    '',
    '## Database commands per operation',
    '',
    `Counted on the wire (a relay that reads each command's name and collection) on Node ${report.countedOn} only: ` +
      'the commands a setup sends do not depend on the Node it runs on. Each operation is done ' +
      `${report.config.operationRepeats} times on fresh sessions, after one uncounted run, and the counts divided; ` +
      `the two routes under load over ${report.config.countedRequests} requests each. R: reads (find, aggregate…), W: writes ` +
      '(insert, update, delete…); `(lock)`: the per-user lock documents (collection `sessions_locks`). ' +
      'Each run starts from a sessions collection holding only the sessions it prepared: the login user has no ' +
      'other session, except in the session-limit row (5). "—": the setup has no such route.',
    '',
    `| Operation | expected | ${setupNames.join(' | ')} |`,
    `| --- | --- | ${setupNames.map(() => '---').join(' | ')} |`,
  ];
  const figures = new Map(report.operations.map((entry) => [entry.setup, entry]));
  for (const operation of OPERATIONS) {
    const cells = setupNames.map((name) => {
      const entry = figures.get(name);
      if (!entry) return 'not counted';
      if (entry.skipped) return `skipped: ${cell(entry.skipped)}`;
      return cell(describeCount(entry.counts[operation.name]));
    });
    lines.push(`| ${operation.label} | ${operation.expected ?? ''} | ${cells.join(' | ')} |`);
  }
  const others = report.operations.filter((entry) => Object.keys(entry.other).length);
  lines.push(
    '',
    'The example app registers no `CsrfGuard`, so its unsafe routes are sent without a CSRF token (the guard ' +
      'sends no command).',
  );
  if (others.length) {
    lines.push(
      '',
      'Driver monitoring and handshake commands seen while counting (not per operation): ' +
        others.map((entry) => `${entry.setup} ${JSON.stringify(entry.other)}`).join('; ') +
        '.',
    );
  }
  return lines;
}

function perUserSection(report: BenchReport): string[] {
  const [small, large] = [report.perUser[0], report.perUser.at(-1)];
  const growth = (pick: (times: PerUserTimes) => number) =>
    small && large && large !== small ? pick(large) / pick(small) : undefined;
  const listGrowth = growth((times) => times.listForUser);
  const destroyGrowth = growth((times) => times.destroyAllForUser);
  const sizes = small && large ? `${large.sessions}/${small.sessions} sessions` : 'per-user';
  const lines = [
    '',
    '## Per-user operations',
    '',
    `Run once, on Node ${report.perUserNode}, in the benchmark's own process: these times are the database's ` +
      "(one query each), not the Node version's.",
    '',
    '| Target | Figure | |',
    '| --- | --- | --- |',
    `| listForUser, ${sizes}, time ratio ≤ ${TARGET_GROWTH} | ${fixed(listGrowth, 2)} | ${verdict(listGrowth === undefined ? undefined : listGrowth <= TARGET_GROWTH)} |`,
    `| destroyAllForUser, ${sizes}, time ratio ≤ ${TARGET_GROWTH} | ${fixed(destroyGrowth, 2)} | ${verdict(destroyGrowth === undefined ? undefined : destroyGrowth <= TARGET_GROWTH)} |`,
    '',
    `| Sessions in the collection (one user has 5) | listForUser (ms, median of ${REPEATS}) | destroyAllForUser (ms, median of ${REPEATS}) |`,
    '| ---: | ---: | ---: |',
    ...report.perUser.map(
      (times) => `| ${times.sessions} | ${times.listForUser.toFixed(1)} | ${times.destroyAllForUser.toFixed(1)} |`,
    ),
  ];
  const plans = report.perUser.filter((times) => times.plan);
  if (plans.length) {
    lines.push(
      '',
      "`explain('executionStats')` of listForUser's query (the filter the library sent, seen through the " +
        "driver's command monitoring), at each size:",
      '',
      '| Sessions | Winning plan (top first) | keys examined | documents examined | returned | ms |',
      '| ---: | --- | ---: | ---: | ---: | ---: |',
      ...plans.map(
        ({ sessions, plan }) =>
          `| ${sessions} | ${cell(plan!.stages)} | ${plan!.keysExamined ?? '–'} | ${plan!.docsExamined ?? '–'} | ` +
          `${plan!.returned ?? '–'} | ${plan!.millis ?? '–'} |`,
      ),
      '',
      `Query: \`${cell(JSON.stringify(plans[0].plan!.query))}\``,
    );
  }
  if (report.ferretdb) {
    const backend = report.ferretdb.backend ? ` (${report.ferretdb.backend} backend)` : '';
    lines.push(
      '',
      `On FerretDB 1.x${backend} no query uses an index (see README, "FerretDB compared with MongoDB"): every ` +
        'read by `_id` and every per-user query scans the collection, so per-request and per-user times grow ' +
        'with its size, and the per-user target cannot be met on it. For the same reason the per-user ' +
        "query is not explained here: FerretDB 1.x's explain describes its SQL, not an index scan. With " +
        '`MONGODB_URI` set to a MongoDB server, the `_id` and user-id indexes are used, and the winning plan ' +
        'of the per-user query is printed (keys and documents examined).',
    );
    if (report.ferretdb.backend === 'SQLite') {
      lines.push(
        '',
        "On the SQLite backend, connect-mongo's read (`_id` plus an `$or` on `expires`) is filtered by FerretDB " +
          'itself rather than by SQLite, several times slower than a read by `_id` alone, which is what ours ' +
          'sends (expiry is checked on the document read): the database, not the session layer, sets the ' +
          'req/s here. The app CPU per request column is the cost of the layer itself.',
      );
    }
  }
  return lines;
}

export interface InstructionsReport {
  date: string;
  machine: BenchReport['machine'];
  database: string;
  valgrind: string;
  instructions: NodeInstructions[];
  wallSeconds: number;
  scriptSeconds?: number;
}

/** From this Node major on (the current LTS), the instruction ratio is a target; before it, it is reported. */
const INSTRUCTION_TARGET_FROM_MAJOR = CPU_TARGET_FROM_MAJOR;
const TARGET_INSTRUCTION_RATIO = 1.05;

/** Millions of instructions, 3 decimals. */
const mega = (value: number | undefined) => fixed(value === undefined ? undefined : value / 1e6, 3);
const perRun = (setup: SetupInstructions | undefined) => setup?.runs.map((run) => run.perRequest) ?? [];

/** The ratio of two setups' instructions per request: of the medians, each run's (paired by run), the bounds. */
function instructionRatio(a: SetupInstructions | undefined, b: SetupInstructions | undefined) {
  const [mine, theirs] = [perRun(a), perRun(b)];
  if (!mine.length || !theirs.length) return undefined;
  const paired = mine.flatMap((value, index) => (theirs[index] === undefined ? [] : [value / theirs[index]]));
  return {
    median: median(mine) / median(theirs),
    paired,
    low: Math.min(...mine) / Math.max(...theirs),
    high: Math.max(...mine) / Math.min(...theirs),
  };
}

const instructionRatioText = (ratio: ReturnType<typeof instructionRatio>) =>
  ratio === undefined
    ? 'not measured'
    : `${ratio.median.toFixed(3)} (runs: ${ratio.paired.map((r) => r.toFixed(3)).join(', ')}; bounds ` +
      `${ratio.low.toFixed(3)}–${ratio.high.toFixed(3)})`;

/** (max − min) / median of a setup's runs, in %. */
function spread(values: number[]): number | undefined {
  return values.length < 2 ? undefined : ((Math.max(...values) - Math.min(...values)) / median(values)) * 100;
}

/** The instruction figures of one Node: how they were taken, a table and targets per route, the breakdown. */
function instructionsSection(counts: NodeInstructions, heading: string): string[] {
  const { settings } = counts;
  const judged = counts.node.major >= INSTRUCTION_TARGET_FROM_MAJOR;
  const lines = [
    '',
    `${heading} Instructions per request (callgrind)`,
    '',
    `Each setup's process under \`valgrind --tool=callgrind --instr-atstart=no\`, ${settings.runs} process` +
      `${settings.runs === 1 ? '' : 'es'} per setup (setups interleaved, order rotated each run); in each, per route: ` +
      `${settings.warmup} uncounted requests, 3 s idle (the compilations they queued), a full garbage collection, ` +
      `instrumentation on, ${settings.requests} counted requests (${settings.connections} connections, load generator ` +
      'outside valgrind), the counters dumped. The figure counts every thread of the process (JavaScript; the ' +
      "collector's and the compilers' helper threads); the main thread's share is shown beside it. " +
      `Load average (1 min) ${fixed(counts.loadAverage[0], 2)} at the start, ${fixed(counts.loadAverage[1], 2)} at the end; ` +
      `${counts.seconds.toFixed(0)} s.`,
  ];
  for (const { route, setups } of counts.routes) {
    const find = (name: string) => setups.find((setup) => setup.name === name && setup.runs.length);
    const [ours, docs, raw] = [find('ours'), find('nest-docs'), find('raw')];
    lines.push(
      '',
      `| \`${routeText(route)}\` | M instructions / request (median) | each run | spread (max − min) / median | main thread only (median) |`,
      '| --- | ---: | --- | ---: | ---: |',
      ...setups.map((setup) =>
        setup.runs.length
          ? `| ${setup.name} | ${mega(median(perRun(setup)))} | ${perRun(setup)
              .map((value) => mega(value))
              .join(
                ', ',
              )} | ${fixed(spread(perRun(setup)), 1)} % | ${mega(median(setup.runs.map((r) => r.mainThread)))} |`
          : `| ${setup.name} | skipped: ${cell(setup.skipped ?? 'not run')} | | | |`,
      ),
    );
    const toDocs = instructionRatio(ours, docs);
    lines.push(
      '',
      '| Target | Figure | |',
      '| --- | --- | --- |',
      judged
        ? `| ours/nest-docs instructions per request ≤ ${TARGET_INSTRUCTION_RATIO} (\`${routeText(route)}\`) | ${instructionRatioText(toDocs)} | ${verdict(toDocs && toDocs.median <= TARGET_INSTRUCTION_RATIO)} |`
        : `| ours/nest-docs instructions per request (\`${routeText(route)}\`; no target on Node ${counts.node.major}, reported; the target is on Node ${INSTRUCTION_TARGET_FROM_MAJOR}+) | ${instructionRatioText(toDocs)} | |`,
      `| ours/raw instructions per request (no target: raw is the floor) | ${instructionRatioText(instructionRatio(ours, raw))} | |`,
    );
    lines.push(...breakdownTable(setups));
  }
  return lines;
}

/** Where the last run's instructions went, by part of the process, a column per setup. */
function breakdownTable(setups: SetupInstructions[]): string[] {
  const shown = setups.filter((setup) => setup.breakdown);
  if (!shown.length) return [];
  const parts = [...new Set(shown.flatMap((setup) => Object.keys(setup.breakdown!)))];
  const most = (part: string) => Math.max(...shown.map((setup) => setup.breakdown![part] ?? 0));
  parts.sort((a, b) => most(b) - most(a));
  const ours = shown.find((setup) => setup.name === 'ours');
  const docs = shown.find((setup) => setup.name === 'nest-docs');
  const delta = ours && docs;
  const k = (value: number | undefined) => fixed(value === undefined ? undefined : value / 1e3, 0);
  return [
    '',
    `| Self instructions per request (thousands), last run, by part | ${shown.map((setup) => setup.name).join(' | ')}${delta ? ' | ours − nest-docs' : ''} |`,
    `| --- | ${shown.map(() => '---:').join(' | ')}${delta ? ' | ---:' : ''} |`,
    ...parts.map(
      (part) =>
        `| ${cell(part)} | ${shown.map((setup) => k(setup.breakdown![part] ?? 0)).join(' | ')}` +
        `${delta ? ` | ${k((ours.breakdown![part] ?? 0) - (docs.breakdown![part] ?? 0))}` : ''} |`,
    ),
  ];
}

/** `--instructions`: the instruction counts alone. */
export function renderInstructionsReport(report: InstructionsReport): string {
  const lines = [
    '# Instructions per request',
    '',
    `${report.date} · ${report.machine.cpu}, ${report.machine.cores} cores, ${fixed(report.machine.memoryGiB, 0)} GiB · ` +
      `Node ${report.instructions.map((run) => run.node.version).join(' and ')} · ${report.database} · ${report.valgrind} · ` +
      `${report.wallSeconds.toFixed(0)} s` +
      (report.scriptSeconds === undefined ? '' : ` (${report.scriptSeconds.toFixed(0)} s with the build)`),
    '',
    'Only the instruction counts (`npm run bench -- --instructions`); the whole benchmark writes bench/results.md.',
  ];
  for (const counts of report.instructions) {
    lines.push('', `## Node ${counts.node.version}`, ...instructionsSection(counts, '###'));
  }
  return `${lines.join('\n')}\n`;
}
