/** Step timings of a slow test (pack, install, compile…), printed together at its end. */
export class StepTimings {
  private readonly steps: string[] = [];

  /** Runs `work` and records how long it took under `label`, failed or not. */
  async timed<T>(label: string, work: () => Promise<T>): Promise<T> {
    const start = performance.now();
    try {
      return await work();
    } finally {
      this.steps.push(`${label} ${((performance.now() - start) / 1000).toFixed(1)} s`);
    }
  }

  /** The steps so far, as `label 1.2 s, label 0.4 s`. */
  toString(): string {
    return this.steps.join(', ');
  }
}
