// Per-request CPU cost by function and by package, from V8 CPU profiles (`.cpuprofile`, as `--cpu-prof` or the
// benchmark's profiling window writes them). Self time only: each sample is charged to the function on top.
//
//   node dist/bench/profile-summary.js ours.cpuprofile:48000 nest-docs.cpuprofile:51000 [--top 40]
//
// prints, per profile, µs per request by package and the functions that cost most, side by side.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

/** The parts of a V8 CPU profile read here. */
interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

/** The parts of a V8 sampling heap profile (`.heapprofile`) read here. */
interface HeapProfile {
  head: HeapNode;
}
interface HeapNode {
  callFrame: CpuProfile['nodes'][number]['callFrame'];
  selfSize: number;
  children: HeapNode[];
}

/** Self time per request, in µs, by function and by package (or bytes allocated, for a heap profile). */
export interface ProfileSummary {
  /** `function (file:line)` → µs per request. */
  functions: Map<string, number>;
  /** Package or part of the process (`library`, `express-session`, `GC`, …) → µs per request. */
  packages: Map<string, number>;
  /** All sampled time except idle, µs per request. */
  total: number;
}

/** Where a function's code comes from, for grouping. */
export function packageOf(url: string, functionName: string): string {
  if (!url) {
    if (functionName === '(garbage collector)') return 'GC';
    if (functionName === '(idle)') return 'idle';
    if (functionName === '(program)') return 'V8/native (program)';
    return functionName.startsWith('(') ? functionName : 'native';
  }
  if (url.startsWith('node:')) return 'node core';
  if (/\/(dist|src)\/session\//.test(url)) return 'library';
  if (/\/(dist|src)\/app\//.test(url) || url.endsWith('/dist/main.js')) return 'example app';
  if (url.includes('/dist/bench/')) return 'bench setup';
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url.slice(url.lastIndexOf('node_modules/')));
  return match ? match[1] : url;
}

/** Adds up an amount (µs, bytes) per function and per package, then divides it by the requests served. */
class Tally {
  private readonly functions = new Map<string, number>();
  private readonly packages = new Map<string, number>();
  private total = 0;

  add(frame: CpuProfile['nodes'][number]['callFrame'], amount: number): void {
    const pkg = packageOf(frame.url, frame.functionName);
    if (pkg === 'idle' || amount === 0) return;
    const file = frame.url ? basename(frame.url) : '';
    const where = file ? ` (${pkg === file ? '' : `${pkg} `}${file}:${frame.lineNumber + 1})` : '';
    const name = `${frame.functionName || '(anonymous)'}${where}`;
    this.functions.set(name, (this.functions.get(name) ?? 0) + amount);
    this.packages.set(pkg, (this.packages.get(pkg) ?? 0) + amount);
    this.total += amount;
  }

  perRequest(requests: number): ProfileSummary {
    const divide = (map: Map<string, number>) => new Map([...map].map(([key, amount]) => [key, amount / requests]));
    return { functions: divide(this.functions), packages: divide(this.packages), total: this.total / requests };
  }
}

/** Summarises `profile`, dividing by the `requests` served while it was taken. */
export function summarizeProfile(profile: CpuProfile, requests: number): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const tally = new Tally();
  // Sample i lasts until sample i + 1 (the convention of Chrome DevTools).
  for (let i = 0; i < profile.samples.length - 1; i += 1) {
    const frame = byId.get(profile.samples[i]);
    if (frame) tally.add(frame, profile.timeDeltas[i + 1]);
  }
  return tally.perRequest(requests);
}

/** Bytes allocated per request, by function and by package, from a sampling heap profile. */
export function summarizeHeapProfile(profile: HeapProfile, requests: number): ProfileSummary {
  const tally = new Tally();
  const stack = [profile.head];
  while (stack.length > 0) {
    const { callFrame, selfSize, children } = stack.pop()!;
    stack.push(...children);
    tally.add(callFrame, selfSize);
  }
  return tally.perRequest(requests);
}

/** Markdown table: one row per key, one column per summary, sorted by the first summary's cost. */
export function comparisonTable(
  names: string[],
  maps: Map<string, number>[],
  options: { top?: number; keyHeader: string },
): string {
  const keys = [...new Set(maps.flatMap((map) => [...map.keys()]))];
  const cost = (key: string) => Math.max(...maps.map((map) => map.get(key) ?? 0));
  keys.sort((a, b) => cost(b) - cost(a));
  const shown = keys.slice(0, options.top ?? keys.length);
  const delta = maps.length === 2;
  const header = `| ${options.keyHeader} | ${names.map((name) => `${name} (µs)`).join(' | ')}${delta ? ' | Δ (µs)' : ''} |`;
  const rule = `| --- | ${names.map(() => '---:').join(' | ')}${delta ? ' | ---:' : ''} |`;
  const rows = shown.map((key) => {
    const values = maps.map((map) => map.get(key) ?? 0);
    const cells = values.map((value) => value.toFixed(1));
    if (delta) cells.push((values[0] - values[1]).toFixed(1));
    return `| ${key.replaceAll('|', '\\|')} | ${cells.join(' | ')} |`;
  });
  return [header, rule, ...rows].join('\n');
}

/** CLI: `<profile>:<requests>` arguments, `--top N`. */
function main(argv: string[]): void {
  const topIndex = argv.indexOf('--top');
  const top = topIndex >= 0 ? Number(argv[topIndex + 1]) : 40;
  const inputs = argv.filter((arg, index) => arg !== '--top' && index !== topIndex + 1);
  const names: string[] = [];
  const summaries: ProfileSummary[] = [];
  for (const input of inputs) {
    const separator = input.lastIndexOf(':');
    const [file, requests] = [input.slice(0, separator), Number(input.slice(separator + 1))];
    if (!file || !Number.isFinite(requests) || requests <= 0)
      throw new Error(`expected <profile>:<requests>, got ${input}`);
    names.push(basename(file, '.cpuprofile'));
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile | HeapProfile;
    summaries.push('head' in profile ? summarizeHeapProfile(profile, requests) : summarizeProfile(profile, requests));
  }
  const totals = summaries.map((summary) => new Map([['total (not idle)', summary.total]]));
  process.stdout.write(
    `${comparisonTable(names, totals, { keyHeader: 'per request' })}\n\n` +
      `${comparisonTable(
        names,
        summaries.map((summary) => summary.packages),
        { keyHeader: 'package' },
      )}\n\n` +
      `${comparisonTable(
        names,
        summaries.map((summary) => summary.functions),
        { keyHeader: 'function', top },
      )}\n`,
  );
}

if (process.argv[1] && import.meta.url.endsWith(basename(process.argv[1]))) main(process.argv.slice(2));
