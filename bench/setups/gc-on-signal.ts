// Preloaded (`--import`, with `--expose-gc`) into the setups whose instructions the benchmark counts: SIGUSR2
// runs a full garbage collection and then writes `bench-gc-done` to stderr. Each counted window starts right
// after one and ends with one, so that every window pays for exactly one full collection instead of zero or
// one by chance (see bench/instructions.ts).
const collect = (globalThis as { gc?: () => void }).gc;
if (!collect) throw new Error('gc-on-signal needs --expose-gc');
process.on('SIGUSR2', () => {
  collect();
  process.stderr.write('bench-gc-done\n');
});
