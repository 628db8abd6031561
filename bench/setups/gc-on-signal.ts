// Preloaded (`--import`, with `--expose-gc`) into the setups whose instructions the benchmark counts: SIGWINCH
// runs a full garbage collection and then writes `bench-gc-done` to stderr. Each counted window starts right
// after one: every window starts from the same heap, and whether it holds a full collection is not left to
// chance (see bench/instructions.ts). SIGWINCH, not SIGUSR2: Nest's `enableShutdownHooks()`, which the
// example app calls, closes the app on SIGUSR2.
const collect = (globalThis as { gc?: () => void }).gc;
if (!collect) throw new Error('gc-on-signal needs --expose-gc');
process.on('SIGWINCH', () => {
  collect();
  process.stderr.write('bench-gc-done\n');
});
