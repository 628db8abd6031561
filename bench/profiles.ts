// CPU profiles of the setups (BENCH_CPU_PROF=1): named by setup and Node, with the requests served while
// profiled, and a copy restricted to the measured rounds so that its time divided by their requests is a
// cost per request (start-up, seeding and warm-up left out), summarised by bench/profile-summary.ts.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

/** The parts of a V8 CPU profile (`.cpuprofile`) read and written here. */
interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number; [key: string]: unknown };
    hitCount?: number;
    children?: number[];
  }[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** A span of the monotonic clock, in µs (`process.hrtime`, which V8's profile timestamps also use). */
export type Window = [from: number, to: number];

/** Now on the monotonic clock, in µs. */
export const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

/** Self time per request of a profile, µs: in all (idle left out) and by package. */
export interface ProfileCost {
  total: number;
  packages: Record<string, number>;
}

type Summarizer = (profile: CpuProfile, requests: number) => { total: number; packages: Map<string, number> };

/** What the benchmark knows of one profiled process: where its profile is, and the requests it served. */
export interface ProfileRecord {
  setup: string;
  node: string;
  /** The whole process's profile (start-up included). */
  profile: string;
  /** Every request the process answered while profiled. */
  requests: number;
  /** The same profile, time outside the measured rounds marked `(idle)`. */
  measuredProfile?: string;
  /** The requests of the measured rounds. */
  measuredRequests: number;
  /** The measured rounds, µs of the monotonic clock. */
  windows: Window[];
  /** The measured profile summarised per measured request (when a summariser is at hand). */
  cost?: ProfileCost;
}

/**
 * Writes `<name>.json` (the record) and `<name>.measured.cpuprofile` beside `<name>.cpuprofile` in `dir`.
 * Returns the record, or `undefined` when the process wrote no profile.
 */
export function recordProfile(
  dir: string,
  name: string,
  entry: Pick<ProfileRecord, 'setup' | 'node' | 'requests' | 'measuredRequests' | 'windows'>,
  summarize?: Summarizer,
): ProfileRecord | undefined {
  const file = `${dir}/${name}.cpuprofile`;
  if (!existsSync(file)) return undefined;
  const record: ProfileRecord = { ...entry, profile: `${name}.cpuprofile` };
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  if (entry.windows.length) {
    const measured = onlyWithin(profile, entry.windows);
    record.measuredProfile = `${name}.measured.cpuprofile`;
    writeFileSync(`${dir}/${record.measuredProfile}`, JSON.stringify(measured));
    if (summarize && entry.measuredRequests > 0) {
      const { total, packages } = summarize(measured, entry.measuredRequests);
      record.cost = { total, packages: Object.fromEntries(packages) };
    }
  }
  writeFileSync(`${dir}/${name}.json`, `${JSON.stringify(record, null, 2)}\n`);
  return record;
}

/**
 * `profile` with every sample taken outside `windows` charged to `(idle)` instead: the time structure is
 * kept (Chrome DevTools opens it as it is), and a summary that leaves idle time out counts only the windows.
 */
export function onlyWithin(profile: CpuProfile, windows: Window[]): CpuProfile {
  let idle = profile.nodes.find((node) => node.callFrame.functionName === '(idle)' && !node.callFrame.url);
  const nodes = [...profile.nodes];
  if (!idle) {
    const root = nodes[0];
    idle = {
      id: Math.max(...nodes.map((node) => node.id)) + 1,
      callFrame: { functionName: '(idle)', url: '', scriptId: '0', lineNumber: -1, columnNumber: -1 },
      hitCount: 0,
    };
    // The root is the first node; the new one hangs under it, as V8 puts its own (idle) node.
    nodes[0] = { ...root, children: [...(root.children ?? []), idle.id] };
    nodes.push(idle);
  }
  let time = profile.startTime;
  const samples = profile.samples.map((sample, index) => {
    time += profile.timeDeltas[index];
    return windows.some(([from, to]) => time >= from && time <= to) ? sample : idle.id;
  });
  return { ...profile, nodes, samples };
}
