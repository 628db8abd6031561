// Preloaded (`--import`) into the setups when the benchmark profiles them (BENCH_CPU_PROF=1): a process
// killed by a signal writes no `--cpu-prof` profile, one that exits does.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(0));
