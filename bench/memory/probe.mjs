// Preloaded (`node --import ./bench/memory/probe.mjs …`) into a setup by bench/memory/run.ts. On SIGURG it
// writes `$MEM_PROBE_DIR/<pid>-<n>.json`: RSS and its parts (/proc), `process.memoryUsage()` and V8's heap
// spaces, before and after a full GC (forced through `--expose-gc`, set here at run time), and, with
// MEM_PROBE_SNAPSHOT=1, a heap snapshot next to it. The report is written before the process answers the
// next signal, so the caller waits for the file. SIGURG and SIGWINCH because Nest's enableShutdownHooks()
// (the example app's main.ts) closes the app on SIGHUP, SIGUSR2 and the other usual ones.
import { readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { GCProfiler, getHeapSpaceStatistics, getHeapStatistics, setFlagsFromString, writeHeapSnapshot } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
/** @type {() => void} */
const gc = runInNewContext('gc');
const dir = process.env.MEM_PROBE_DIR ?? '.';
const MiB = 1024 * 1024;
let count = 0;

/** The `kB` fields of a /proc file, in MiB. */
function procFields(file) {
  const fields = {};
  try {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const match = /^(\w+):\s+(\d+) kB/.exec(line);
      if (match) fields[match[1]] = Number(match[2]) / 1024;
    }
  } catch {
    // Not Linux: no /proc figures.
  }
  return fields;
}

/**
 * Resident MiB by kind of mapping (smaps): `brkHeap` glibc's main arena (`[heap]`); `threadArenas` glibc's
 * per-thread arenas (anonymous rw-p mappings starting on a 64 MiB boundary); `codeRange` V8's executable
 * reservation (rwx); `otherAnonymous` the rest of the anonymous memory: V8's heap pages (256 KiB), large
 * objects, stacks, mmap'ed malloc blocks; `file` mapped files (the node binary, libraries).
 */
function mappings() {
  const totals = { brkHeap: 0, threadArenas: 0, codeRange: 0, otherAnonymous: 0, file: 0, largestAnonymous: [] };
  let kind = 'file';
  let range = '';
  try {
    for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
      const header = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \d+\s*(.*)$/.exec(line);
      if (header) {
        const [, from, to, mode, path] = header;
        const start = BigInt(`0x${from}`);
        const size = Number(BigInt(`0x${to}`) - start) / MiB;
        if (path === '[heap]') kind = 'brkHeap';
        else if (path !== '' && !path.startsWith('[')) kind = 'file';
        else if (mode.includes('x')) kind = 'codeRange';
        else if (start % (64n * 1024n * 1024n) === 0n && mode === 'rw-p' && size <= 64) kind = 'threadArenas';
        else kind = 'otherAnonymous';
        range = `${from} ${mode} ${size.toFixed(1)} MiB ${path}`;
      }
      const rss = /^Rss:\s+(\d+) kB/.exec(line);
      if (rss) {
        totals[kind] += Number(rss[1]) / 1024;
        if (kind !== 'file') totals.largestAnonymous.push([range, Number(rss[1]) / 1024]);
      }
    }
  } catch {
    // Not Linux.
  }
  totals.largestAnonymous = totals.largestAnonymous.sort((a, b) => b[1] - a[1]).slice(0, 10);
  return totals;
}

function sample() {
  const usage = process.memoryUsage();
  const status = procFields('/proc/self/status');
  const rollup = procFields('/proc/self/smaps_rollup');
  return {
    rss: status.VmRSS,
    rssAnon: status.RssAnon,
    rssFile: status.RssFile,
    privateDirty: rollup.Private_Dirty,
    ...mappings(),
    heapTotal: usage.heapTotal / MiB,
    heapUsed: usage.heapUsed / MiB,
    external: usage.external / MiB,
    v8Malloced: getHeapStatistics().malloced_memory / MiB,
    v8PeakMalloced: getHeapStatistics().peak_malloced_memory / MiB,
    arrayBuffers: usage.arrayBuffers / MiB,
    spaces: Object.fromEntries(
      getHeapSpaceStatistics().map((space) => [
        space.space_name,
        { size: space.space_size / MiB, used: space.space_used_size / MiB },
      ]),
    ),
  };
}

// SIGWINCH (sent by the driver as the load starts): GCs are recorded from now on, and summarised in the report.
let profiler;
process.on('SIGWINCH', () => {
  profiler?.stop();
  profiler = new GCProfiler();
  profiler.start();
  if (process.env.MEM_PROBE_SAMPLING === '1') startSampling();
});

// MEM_PROBE_SAMPLING=1: V8's sampling heap profiler from SIGWINCH to SIGURG, keeping the samples of objects
// that a scavenge did not collect (those promoted, then collected by a mark-compact, and those still live),
// written as `<pid>-<n>.heapprofile` (Chrome DevTools; summarised by bench/memory/heap-profile-summary.mjs).
let inspector;
function startSampling() {
  inspector = new Session();
  inspector.connect();
  inspector.post('HeapProfiler.enable');
  inspector.post('HeapProfiler.startSampling', {
    samplingInterval: 4096,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: false,
  });
}
function stopSampling(file) {
  if (!inspector) return undefined;
  let written;
  // The in-process inspector session answers synchronously.
  inspector.post('HeapProfiler.stopSampling', (error, result) => {
    if (!error) {
      writeFileSync(file, JSON.stringify(result.profile));
      written = file;
    }
  });
  inspector.disconnect();
  inspector = undefined;
  return written;
}

/** Scavenges and mark-compacts since SIGWINCH: how many, MiB promoted into old space, old space before/after. */
function gcSummary() {
  const result = profiler?.stop();
  profiler = undefined;
  if (!result) return undefined;
  const oldUsed = (statistics) =>
    statistics.heapSpaceStatistics.find((space) => space.spaceName === 'old_space').spaceUsedSize / MiB;
  const summary = { scavenges: 0, promoted: 0, markCompacts: 0, oldBeforeMajor: [], oldAfterMajor: [], gcMs: 0 };
  for (const gc of result.statistics) {
    summary.gcMs += gc.cost / 1000;
    if (gc.gcType === 'Scavenge' || gc.gcType === 'MinorMarkSweep' || gc.gcType === 'MinorMarkCompact') {
      summary.scavenges += 1;
      summary.promoted += oldUsed(gc.afterGC) - oldUsed(gc.beforeGC);
    } else if (gc.gcType === 'MarkSweepCompact') {
      summary.markCompacts += 1;
      summary.oldBeforeMajor.push(oldUsed(gc.beforeGC));
      summary.oldAfterMajor.push(oldUsed(gc.afterGC));
    }
  }
  return summary;
}

process.on('SIGURG', () => {
  count += 1;
  const base = join(dir, `${process.pid}-${count}`);
  const gcs = gcSummary();
  const sampling = stopSampling(`${base}.heapprofile`);
  const before = sample();
  gc();
  gc();
  const afterGc = sample();
  let snapshot;
  if (process.env.MEM_PROBE_SNAPSHOT === '1') snapshot = writeHeapSnapshot(`${base}.heapsnapshot`);
  writeFileSync(
    `${base}.json`,
    JSON.stringify(
      { node: process.version, modules: loadedModules(), gcs, sampling, before, afterGc, snapshot },
      null,
      1,
    ),
  );
});

/** CommonJS files loaded, counted by package (ESM files, i.e. this repository's, are not in the cache). */
function loadedModules() {
  const byPackage = {};
  for (const file of Object.keys(createRequire(import.meta.url).cache)) {
    const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file.slice(file.lastIndexOf('node_modules/')));
    const name = match ? match[1] : '(other)';
    byPackage[name] = (byPackage[name] ?? 0) + 1;
  }
  return byPackage;
}
