// Instructions per request of each setup's process, counted by valgrind's callgrind: a figure that does not
// depend on how busy the machine is, unlike CPU time. The process runs under callgrind with instrumentation
// off (valgrind then runs it only a few times slower), is seeded and warmed up, and collects its garbage (a
// full collection, bench/setups/gc-on-signal.ts); instrumentation is switched on (`callgrind_control -i on`)
// for a fixed number of requests of one route, the counters are dumped
// (`callgrind_control --dump`) and instrumentation switched off again; the dump's total, divided by the
// requests, is the figure. The load generator runs in this process, outside valgrind.
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { promisify } from 'node:util';
import type { MongoClient } from 'mongodb';
import { loadRun, ROUTE_NAMES, routeText, type RouteName } from './load.js';
import type { NodeBinary } from './nodes.js';
import { SetupProcess, type SetupSpec } from './processes.js';
import { seedSessions } from './seed.js';

const run = promisify(execFile);

/** How the instruction counts are taken. */
export interface InstructionSettings {
  /** Processes per setup and Node (each a separate run, the setups interleaved). */
  runs: number;
  /** Uncounted requests of a route before its counted ones (instrumentation off). */
  warmup: number;
  /** Counted requests of each route. */
  requests: number;
  /** Concurrent connections of the load generator. */
  connections: number;
  /** Logged-in sessions seeded in each process's database. */
  sessions: number;
}

/** Where the instructions of one setup's counted requests went, by part of the process, per request. */
export type InstructionBreakdown = Record<string, number>;

/** One process's count of one route. */
export interface InstructionCount {
  /** Instructions per counted request (all threads of the process: the main thread, GC and compiler threads). */
  perRequest: number;
  /** Of those, the main thread's (JavaScript, and the collector's and compilers' work done there). */
  mainThread: number;
  requests: number;
  /** The main thread's callgrind dump (the other threads' are beside it, `-02`, `-03`, …). */
  dump: string;
}

/** One setup's counts on one route, a run per process. */
export interface SetupInstructions {
  name: string;
  skipped?: string;
  runs: InstructionCount[];
  /** Of the last run, by part of the process (when callgrind_annotate could read its dump). */
  breakdown?: InstructionBreakdown;
}

export interface RouteInstructions {
  route: RouteName;
  setups: SetupInstructions[];
}

export interface NodeInstructions {
  node: NodeBinary;
  routes: RouteInstructions[];
  settings: InstructionSettings;
  /** 1-minute load average at the start and the end of this Node's counts (Linux). */
  loadAverage: [number, number];
  seconds: number;
}

/** Where the callgrind dumps go (`<setup>-node-<version>-run<n>.<pid>.<part>`). */
export const CALLGRIND_DIR = 'dist/bench/callgrind';

/** How long a setup may take to answer its first request under valgrind (Nest starts in 10–40 s here). */
const READY_TIMEOUT_MS = 240_000;
/** How long to wait for the work a response may leave behind, before and after the counted requests. */
const SETTLE_MS = 300;
/** How long a request may take under valgrind, on a loaded machine (a compilation or a collection in it). */
const REQUEST_TIMEOUT_S = 120;
/** Idle time after the warm-up, for the compilations it queued. */
const DRAIN_MS = 3000;
/** How long a full collection under valgrind may take. */
const GC_TIMEOUT_MS = 60_000;

/**
 * Throws, saying how to install it, when valgrind (with callgrind and callgrind_control) is not on PATH.
 */
export function checkValgrind(): string {
  const version = spawnSync('valgrind', ['--version'], { encoding: 'utf8' });
  const control = spawnSync('callgrind_control', ['--version'], { encoding: 'utf8' });
  if (version.status !== 0 || control.error) {
    throw new Error(
      'valgrind (with callgrind_control) is not installed: the benchmark counts instructions per request ' +
        'with `valgrind --tool=callgrind`. Install it (Debian/Ubuntu: `apt-get install -y valgrind`; ' +
        'Fedora: `dnf install valgrind`; Alpine: `apk add valgrind`), or set BENCH_INSTRUCTIONS=0 to run ' +
        'the benchmark without instruction counts (its targets are then not judged).',
    );
  }
  return version.stdout.trim();
}

/** 1-minute load average (Linux `/proc/loadavg`), or NaN. */
export function loadAverage(): number {
  try {
    return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
  } catch {
    return Number.NaN;
  }
}

/** `callgrind_control <args> <pid>`; rejects unless callgrind acknowledged the command. */
async function control(pid: number, args: string[]): Promise<void> {
  const { stdout } = await run('callgrind_control', [...args, String(pid)], { timeout: 120_000 });
  if (!stdout.includes('OK.')) throw new Error(`callgrind_control ${args.join(' ')} ${pid}: ${stdout.trim()}`);
}

/** The `totals:` (or `summary:`) line of a callgrind dump: instructions executed (Ir). */
export function dumpTotal(file: string): number {
  const text = readFileSync(file, 'utf8');
  const match = /^(?:totals|summary): (\d+)/m.exec(text);
  if (!match) throw new Error(`${file}: no totals line`);
  return Number(match[1]);
}

/**
 * The files of the newest dump of process `pid` with prefix `name` in `dir`, one per thread
 * (`--separate-threads=yes`: `<name>.<pid>.<part>-<thread>`), the main thread's (`-01`) first.
 */
function newestDump(dir: string, name: string, pid: number): string[] {
  const prefix = `${name}.${pid}.`;
  const files = readdirSync(dir)
    .filter((file) => file.startsWith(prefix))
    .map((file) => /^(\d+)-(\d+)$/.exec(file.slice(prefix.length)))
    .filter((match) => match !== null);
  if (!files.length) throw new Error(`callgrind wrote no dump ${dir}/${prefix}*`);
  const part = Math.max(...files.map((match) => Number(match[1])));
  return files
    .filter((match) => Number(match[1]) === part)
    .sort((a, b) => Number(a[2]) - Number(b[2]))
    .map((match) => `${dir}/${prefix}${match[0]}`);
}

/** The parts of the process the breakdown tells apart, matched on callgrind_annotate's `file:function [object]`. */
const PARTS: [part: string, test: RegExp][] = [
  [
    'garbage collector',
    /v8::internal::(?:Heap|Scaveng|MarkCompact|Marking|MarkingVisitor|MinorM|Sweeper|Evacuat|RememberedSet|SlotSet|GCTracer|ConcurrentMarking|MemoryAllocator|PagedSpace|NewSpace|SemiSpace|LargeObjectSpace|MainMarkingVisitor|Mark|IncrementalMarking|ArrayBufferSweeper|PretenuringHandler|YoungGeneration|EphemeronHashTable|WeakObjects|LocalHeap|Safepoint|PageMetadata|MemoryChunk)|heap::base::|cppgc::/,
  ],
  [
    'V8 compilers (Sparkplug, Maglev, TurboFan)',
    /v8::internal::(?:compiler::|maglev::|baseline::|Maglev|Turbofan|OptimizingCompile|Pipeline|Assembler|MacroAssembler|RegExpCompiler|Zone|CodeGenerator|interpreter::BytecodeGenerator|interpreter::BytecodeArrayBuilder|Parser|Scanner|AstValueFactory|DeclarationScope|Scope|Compiler)|v8::internal::wasm/,
  ],
  ['V8 builtins and interpreter (bytecode handlers, ICs)', /:Builtins_/],
  ['V8 runtime (C++)', /v8::|Runtime_|v8_inspector|icu_/],
  ['JIT-compiled JavaScript (no symbol)', /^\?\?\?:0x[0-9a-f]+\s*$|\[\?\?\?\]$/],
  [
    'OpenSSL (hashing, HMAC, random)',
    /:(?:EVP_|SHA\d|sha\d|HMAC|ossl_|OPENSSL_|CRYPTO_|BN_|RAND_|KECCAK|md5_|aesni_|bn_)|libcrypto/,
  ],
  ['Node and libuv (C++)', /node::|uv_|uv__|llhttp|nghttp|cares|ares_|simdutf|ada::|nbytes::/],
  ['libc, libstdc++ and the dynamic loader', /libc\.so|libc-|libm\.so|libstdc\+\+|ld-linux|libpthread|vgpreload/],
];

/**
 * Self instructions per request by part of the process, from `callgrind_annotate` of `dump` (functions of
 * JavaScript compiled at run time have no symbol there: the V8 CPU profile of BENCH_CPU_PROF=1 splits them
 * by package).
 */
export async function breakdown(dumps: string[], requests: number): Promise<InstructionBreakdown | undefined> {
  const parts: InstructionBreakdown = {};
  for (const dump of dumps) {
    let stdout: string;
    try {
      ({ stdout } = await run('callgrind_annotate', ['--threshold=100', '--inclusive=no', '--auto=no', dump], {
        maxBuffer: 256 * 2 ** 20,
        timeout: 300_000,
      }));
    } catch {
      return undefined;
    }
    for (const line of stdout.split('\n')) {
      const match = /^\s*([\d,]+)\s+\([\s\d.]+%\)\s+(.+)$/.exec(line);
      if (!match || match[2].includes('PROGRAM TOTALS')) continue;
      const cost = Number(match[1].replaceAll(',', ''));
      const part = PARTS.find(([, test]) => test.test(match[2]))?.[0] ?? 'other native code';
      parts[part] = (parts[part] ?? 0) + cost / requests;
    }
  }
  return parts;
}

/**
 * Counts the instructions per request of every setup on `node`, `settings.runs` processes each (the setups
 * interleaved, the order rotated each run), on both routes: unchanged reads first, then writes.
 */
export async function countInstructions(
  client: MongoClient,
  launch: { uri: string; env: Record<string, string>; prefix: string[] },
  node: NodeBinary,
  setups: SetupSpec[],
  settings: InstructionSettings,
  log: (message: string) => void,
): Promise<NodeInstructions> {
  const startedAt = Date.now();
  const startLoad = loadAverage();
  mkdirSync(CALLGRIND_DIR, { recursive: true });
  const figures = new Map<RouteName, Map<string, SetupInstructions>>(
    ROUTE_NAMES.map((route) => [route, new Map(setups.map((spec) => [spec.name, { name: spec.name, runs: [] }]))]),
  );
  for (let index = 1; index <= settings.runs; index += 1) {
    const shift = (index - 1) % setups.length;
    for (const spec of [...setups.slice(shift), ...setups.slice(0, shift)]) {
      const name = `${spec.name}-node-${node.version}-run${index}`;
      for (const file of readdirSync(CALLGRIND_DIR).filter((entry) => entry.startsWith(`${name}.`)))
        rmSync(`${CALLGRIND_DIR}/${file}`);
      const db = client.db(`bench-cg-${spec.name}`);
      await db.dropDatabase();
      let setup: SetupProcess | undefined;
      try {
        setup = await SetupProcess.start(spec, launch.uri, db.databaseName, launch.env, {
          node: node.path,
          prefix: [
            ...launch.prefix,
            'valgrind',
            '--tool=callgrind',
            '--instr-atstart=no',
            '--separate-threads=yes',
            `--callgrind-out-file=${CALLGRIND_DIR}/${name}.%p`,
          ],
          nodeArgs: ['--expose-gc', '--import', './dist/bench/setups/gc-on-signal.js'],
          readyTimeoutMs: READY_TIMEOUT_MS,
        });
        const started = Date.now();
        const since = () => `${((Date.now() - started) / 1000).toFixed(0)} s`;
        const collect = () => setup!.signalAndWait('SIGWINCH', 'bench-gc-done', GC_TIMEOUT_MS);

        const pid = setup.pid!;
        const { cookies } = await seedSessions(setup, db, settings.sessions);
        for (const route of ROUTE_NAMES) {
          const entry = figures.get(route)!.get(spec.name)!;
          if (settings.warmup > 0)
            await loadRun(setup.url, cookies, {
              connections: settings.connections,
              amount: settings.warmup,
              route,
              timeoutSeconds: REQUEST_TIMEOUT_S,
            });
          // Compilations the warm-up queued run on background threads, which valgrind lets run while the main
          // thread waits: left queued, they would land in the counted window.
          await new Promise((resolve) => setTimeout(resolve, DRAIN_MS));
          const warm = since();
          await collect();
          await control(pid, ['--instr=on']);
          await control(pid, ['--zero']);
          const { requests } = await loadRun(setup.url, cookies, {
            connections: settings.connections,
            amount: settings.requests,
            route,
            timeoutSeconds: REQUEST_TIMEOUT_S,
          });
          await settle();
          await control(pid, [`--dump=${route}`]);
          await control(pid, ['--instr=off']);
          const dumps = newestDump(CALLGRIND_DIR, name, pid);
          const totals = dumps.map(dumpTotal);
          const counted: InstructionCount = {
            perRequest: totals.reduce((sum, total) => sum + total, 0) / requests,
            mainThread: totals[0] / requests,
            requests,
            dump: dumps[0],
          };
          entry.runs.push(counted);
          if (index === settings.runs) entry.breakdown = await breakdown(dumps, requests);
          log(
            `Node ${node.version} ${routeText(route)} run ${index} ${spec.name}: ` +
              `${(counted.perRequest / 1e6).toFixed(3)} M instructions per request, main thread ` +
              `${(counted.mainThread / 1e6).toFixed(3)} (${requests} requests, ${dumps.length} threads; warm at ${warm}, ` +
              `counted at ${since()}; load average ${loadAverage()})`,
          );
        }
      } catch (error) {
        for (const route of ROUTE_NAMES) {
          const entry = figures.get(route)!.get(spec.name)!;
          entry.skipped ??= (error as Error).message.split('\n')[0];
        }
        log(`Node ${node.version} ${spec.name}: instructions not counted: ${(error as Error).message}`);
      } finally {
        await setup?.stop();
        await db.dropDatabase().catch(() => {
          // Best effort: dropped again by the next run.
        });
      }
    }
  }
  return {
    node,
    settings,
    routes: ROUTE_NAMES.map((route) => ({ route, setups: setups.map((spec) => figures.get(route)!.get(spec.name)!) })),
    loadAverage: [startLoad, loadAverage()],
    seconds: (Date.now() - startedAt) / 1000,
  };
}

function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
}
