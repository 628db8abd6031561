import { median, type LoadResult } from './load.js';
import { REPEATS, type PerUserTimes } from './per-user.js';

/** What was measured for one setup. */
export interface SetupFigures {
  name: string;
  /** Why the setup could not be measured. */
  skipped?: string;
  rounds: LoadResult[];
  readsPerRequest?: number;
  writesPerRequest?: number;
  otherCommands?: Record<string, number>;
  rssMiB?: number;
}

export interface BenchReport {
  date: string;
  database: string;
  node: string;
  cpus: number;
  config: {
    sessions: number;
    connections: number;
    warmup: number;
    duration: number;
    rounds: number;
    countedRequests: number;
  };
  setups: SetupFigures[];
  perUser: PerUserTimes[];
  /** The FerretDB backend, when the server is FerretDB (whose queries use no index). */
  ferretdbBackend?: string;
  wallSeconds: number;
  /** The setup under test had a CPU of its own. */
  pinned: boolean;
}

const TARGET_RATIO = 0.95;
const TARGET_GROWTH = 2;

const fixed = (value: number | undefined, digits: number) =>
  value === undefined || Number.isNaN(value) ? '–' : value.toFixed(digits);
const verdict = (met: boolean | undefined) => (met === undefined ? 'not measured' : met ? '**met**' : '**missed**');

/** Median CPU time of the setup's process per request over the rounds, in µs. */
function cpuPerRequest(setup: SetupFigures | undefined): number | undefined {
  const values =
    setup?.rounds.flatMap((round) => (round.cpuPerRequestUs === undefined ? [] : [round.cpuPerRequestUs])) ?? [];
  return values.length ? median(values) : undefined;
}

/** The median, over the interleaved rounds, of `a`'s req/s divided by `b`'s in the same round. */
function roundRatio(a: SetupFigures | undefined, b: SetupFigures | undefined): { median?: number; perRound: number[] } {
  if (!a?.rounds.length || !b?.rounds.length) return { perRound: [] };
  const perRound = a.rounds.map((round, index) => round.requestsPerSecond / b.rounds[index].requestsPerSecond);
  return { median: median(perRound), perRound };
}

/** The benchmark's results as markdown. */
export function renderReport(report: BenchReport): string {
  const { config } = report;
  const find = (name: string) => report.setups.find((setup) => setup.name === name && !setup.skipped);
  const ours = find('ours');
  const toDocs = roundRatio(ours, find('nest-docs'));
  const toRaw = roundRatio(ours, find('raw'));
  const docsCpu = cpuPerRequest(find('nest-docs'));
  const oursCpu = cpuPerRequest(ours);
  const cpuRatio = oursCpu !== undefined && docsCpu ? oursCpu / docsCpu : undefined;
  const lines: string[] = [
    '# Benchmark results',
    '',
    `${report.date} · ${report.database} · Node ${report.node} · ${report.cpus} CPUs · ` +
      `${config.sessions} logged-in sessions per setup · ${config.connections} connections · ` +
      `${config.rounds} interleaved rounds of ${config.duration} s (order rotated each round) after a ${config.warmup} s warm-up · ` +
      `${report.pinned ? 'setup under test pinned to its own CPU' : 'no CPU pinning'} · whole run ${report.wallSeconds.toFixed(0)} s`,
    '',
    'Each setup is a separate process on 127.0.0.1 serving a guarded `GET /me` that reads the session and ' +
      'does not modify it; same database server, cookie, secret, idle timeout and touch throttling. ' +
      `Commands are counted on the wire over ${config.countedRequests} requests.`,
    '',
    '| Setup | req/s (median) | p50 (ms) | p99 (ms) | req/s per round | app CPU / request (µs) | reads / request | writes / request | RSS after load (MiB) |',
    '| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |',
  ];
  for (const setup of report.setups) {
    if (setup.skipped) {
      lines.push(`| ${setup.name} | skipped: ${setup.skipped.replaceAll('|', '\\|')} | | | | | | | |`);
      continue;
    }
    const rounds = setup.rounds;
    lines.push(
      `| ${setup.name} | ${fixed(median(rounds.map((r) => r.requestsPerSecond)), 0)} | ${fixed(median(rounds.map((r) => r.p50)), 1)} | ` +
        `${fixed(median(rounds.map((r) => r.p99)), 1)} | ${rounds.map((r) => r.requestsPerSecond.toFixed(0)).join(', ')} | ` +
        `${fixed(cpuPerRequest(setup), 0)} | ` +
        `${fixed(setup.readsPerRequest, 2)} | ${fixed(setup.writesPerRequest, 2)} | ${fixed(setup.rssMiB, 0)} |`,
    );
  }

  const [small, large] = [report.perUser[0], report.perUser.at(-1)];
  const growth = (pick: (times: PerUserTimes) => number) =>
    small && large && large !== small ? pick(large) / pick(small) : undefined;
  const listGrowth = growth((times) => times.listForUser);
  const destroyGrowth = growth((times) => times.destroyAllForUser);
  const sizes = small && large ? `${large.sessions}/${small.sessions} sessions` : 'per-user';
  lines.push(
    '',
    '| Target | Figure | |',
    '| --- | --- | --- |',
    `| ours/nest-docs req/s ≥ ${TARGET_RATIO} | ${fixed(toDocs.median, 3)} (rounds: ${toDocs.perRound.map((r) => r.toFixed(3)).join(', ') || '–'}) | ${verdict(toDocs.median === undefined ? undefined : toDocs.median >= TARGET_RATIO)} |`,
    `| ours/raw req/s (no target: raw is the floor) | ${fixed(toRaw.median, 3)} (rounds: ${toRaw.perRound.map((r) => r.toFixed(3)).join(', ') || '–'}) | |`,
    `| ours/nest-docs app CPU per request (no target; lower is cheaper) | ${fixed(cpuRatio, 2)} | |`,
    `| ours: 1 read and 0 writes per unchanged authenticated request | ${fixed(ours?.readsPerRequest, 2)} reads, ${fixed(ours?.writesPerRequest, 2)} writes | ${verdict(ours?.readsPerRequest === undefined ? undefined : ours.readsPerRequest <= 1 && ours.writesPerRequest === 0)} |`,
    `| listForUser, ${sizes}, time ratio ≤ ${TARGET_GROWTH} | ${fixed(listGrowth, 2)} | ${verdict(listGrowth === undefined ? undefined : listGrowth <= TARGET_GROWTH)} |`,
    `| destroyAllForUser, ${sizes}, time ratio ≤ ${TARGET_GROWTH} | ${fixed(destroyGrowth, 2)} | ${verdict(destroyGrowth === undefined ? undefined : destroyGrowth <= TARGET_GROWTH)} |`,
    '',
    `| Sessions in the collection (one user has 5) | listForUser (ms, median of ${REPEATS}) | destroyAllForUser (ms, median of ${REPEATS}) |`,
    '| ---: | ---: | ---: |',
    ...report.perUser.map(
      (times) => `| ${times.sessions} | ${times.listForUser.toFixed(1)} | ${times.destroyAllForUser.toFixed(1)} |`,
    ),
  );
  const others = report.setups.filter((setup) => setup.otherCommands && Object.keys(setup.otherCommands).length);
  if (others.length) {
    lines.push(
      '',
      'Other commands seen while counting (driver monitoring, not per request): ' +
        others.map((setup) => `${setup.name} ${JSON.stringify(setup.otherCommands)}`).join('; ') +
        '.',
    );
  }
  if (report.ferretdbBackend) {
    lines.push(
      '',
      `On FerretDB 1.x (${report.ferretdbBackend} backend) no query uses an index (see README, "FerretDB compared with ` +
        'MongoDB"): every read by `_id` and every per-user query scans the collection, so per-request and ' +
        'per-user times grow with its size, and the per-user target cannot be met on it. With `MONGODB_URI` ' +
        'set to a MongoDB server, the `_id` and user-id indexes are used.',
    );
    if (report.ferretdbBackend === 'SQLite') {
      lines.push(
        '',
        "On the SQLite backend, connect-mongo's read (`_id` plus an `$or` on `expires`) is filtered by FerretDB " +
          'itself rather than by SQLite, several times slower than a read by `_id` alone, which is what ours ' +
          'sends (expiry is checked on the document read): the database, not the session layer, sets the ' +
          'req/s here. The app CPU per request column is the cost of the layer itself.',
      );
    }
  }
  return `${lines.join('\n')}\n`;
}
