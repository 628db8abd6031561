// Preloaded (`--import`) into a setup to profile a window of its life rather than all of it: SIGWINCH starts
// V8's CPU profiler (or, with BENCH_PROFILE_KIND=heap, its sampling heap profiler: bytes allocated by
// function), the next SIGWINCH stops it and writes `<BENCH_PROFILE_FILE>` (then `.done` beside it).
// Start-up and shutdown stay out of the profile, so that its time divided by the requests served in the
// window is a cost per request.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';

const file = process.env.BENCH_PROFILE_FILE ?? `profile-${process.pid}.cpuprofile`;
/** Sampling interval, µs: fine enough for functions of a few µs per request. */
const INTERVAL_US = Number(process.env.BENCH_PROFILE_INTERVAL_US ?? 200);
const heap = process.env.BENCH_PROFILE_KIND === 'heap';
const session = new Session();
session.connect();
let running = false;

process.on('SIGWINCH', () => {
  void (async () => {
    if (!running) {
      running = true;
      if (heap) {
        // Every allocation is sampled with a probability of its size / interval; collected objects stay in.
        await session.post('HeapProfiler.startSampling', {
          samplingInterval: 512,
          includeObjectsCollectedByMajorGC: true,
          includeObjectsCollectedByMinorGC: true,
        });
        return;
      }
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval: INTERVAL_US });
      await session.post('Profiler.start');
      return;
    }
    running = false;
    const { profile } = heap ? await session.post('HeapProfiler.stopSampling') : await session.post('Profiler.stop');
    writeFileSync(file, JSON.stringify(profile));
    writeFileSync(`${file}.done`, '');
  })();
});
