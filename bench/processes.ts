import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { stripVTControlCharacters } from 'node:util';
import { freePort } from '#scripts/mongo-server.mjs';

/** How a setup is started, logged in and logged out. */
export interface SetupSpec {
  name: string;
  /** Node script (built JavaScript) that serves the setup on `PORT`. */
  script: string;
  /** Login route and body; its session document is the template of the benchmark's sessions. */
  login: { path: string; body?: object };
  /** The route that ends the current session (POST). */
  logout?: string;
  /**
   * A route that changes the logged-in user's password (POST): the login's password, and the body that
   * changes it from `current` to `next`.
   */
  passwordChange?: { path: string; password: string; body: (current: string, next: string) => object };
  /** A route that ends every session of the logged-in user (POST). */
  logoutEverywhere?: string;
  /** The most sessions a user may have; a login beyond it ends the oldest. */
  sessionLimit?: number;
  /** A route left out of session loading, whose requests should reach no database even with a cookie. */
  excluded?: string;
  env?: Record<string, string>;
}

/** A setup running in its own Node process on 127.0.0.1. */
export class SetupProcess {
  private output = '';
  /** How often each marker awaited by `signalAndWait` has appeared in the output. */
  private readonly markers = new Map<string, number>();

  private constructor(
    readonly spec: SetupSpec,
    readonly port: number,
    private readonly child: ChildProcess,
  ) {
    const keep = (chunk: Buffer) => {
      const text = chunk.toString();
      for (const [marker, count] of this.markers) this.markers.set(marker, count + text.split(marker).length - 1);
      this.output = (this.output + text).slice(-4000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
  }

  /** The process id of the setup's process. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /**
   * Starts the setup against `uri` and database `dbName`; resolves once it answers HTTP. `launch.node` is
   * the Node binary (default: this process's), `launch.prefix` a command the process is started through
   * (CPU pinning, valgrind), `launch.nodeArgs` options for Node, `launch.readyTimeoutMs` how long it may take to
   * answer (30 s; longer under valgrind).
   */
  static async start(
    spec: SetupSpec,
    uri: string,
    dbName: string,
    env: Record<string, string>,
    launch: { node?: string; prefix?: string[]; nodeArgs?: string[]; readyTimeoutMs?: number } = {},
  ): Promise<SetupProcess> {
    const port = await freePort();
    const node = launch.node ?? process.execPath;
    const [command, ...args] = [...(launch.prefix ?? []), node, ...(launch.nodeArgs ?? []), spec.script];
    const child = spawn(command, args, {
      env: {
        ...process.env,
        ...env,
        ...spec.env,
        MONGODB_URI: uri,
        SESSION_DB_NAME: dbName,
        PORT: String(port),
        NODE_ENV: 'production',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const setup = new SetupProcess(spec, port, child);
    await setup.ready(launch.readyTimeoutMs ?? 30_000);
    return setup;
  }

  /**
   * Sends `signal` to the process and resolves when its output shows `marker` once more than before (the
   * output kept is the last 4000 characters: markers are counted as they arrive).
   */
  async signalAndWait(signal: NodeJS.Signals, marker: string, timeoutMs: number): Promise<void> {
    const seen = this.markers.get(marker) ?? 0;
    this.markers.set(marker, seen);
    this.child.kill(signal);
    const deadline = Date.now() + timeoutMs;
    while ((this.markers.get(marker) ?? 0) <= seen) {
      if (this.child.exitCode !== null || this.child.signalCode !== null)
        throw new Error(`${this.spec.name} exited before writing ${marker}: ${this.cause()}`);
      if (Date.now() > deadline)
        throw new Error(`${this.spec.name} did not write ${marker} within ${timeoutMs / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Resident memory of the process, in MiB (Linux `/proc`). */
  rssMiB(): number | undefined {
    try {
      const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.child.pid}/status`, 'utf8'));
      return match ? Number(match[1]) / 1024 : undefined;
    } catch {
      return undefined;
    }
  }

  /** CPU time the process has used so far (user + system), in ms (Linux `/proc`, 100 ticks a second). */
  cpuMs(): number | undefined {
    try {
      const stat = readFileSync(`/proc/${this.child.pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(fields[11]) + Number(fields[12])) * 10;
    } catch {
      return undefined;
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGINT');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  /** The line of the process's output that most likely says why it stopped. */
  private cause(): string {
    // Without the colour codes of Nest's logger.
    const lines = stripVTControlCharacters(this.output)
      .split('\n')
      .map((line) => line.trim())
      .filter(Boolean);
    return lines.find((line) => /error/i.test(line)) ?? lines.at(-1) ?? 'no output';
  }

  private async ready(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const exited = new Promise<never>((_, reject) =>
      this.child.once('exit', (code, signal) =>
        reject(
          new Error(
            `${this.spec.name} exited (${signal ?? code}) before answering: ${this.cause()}\n${this.output.trim()}`,
          ),
        ),
      ),
    );
    exited.catch(() => {
      // Raced below; a rejection nobody awaits must not crash the run.
    });
    while (Date.now() < deadline) {
      const answered = await Promise.race([
        fetch(`${this.url}/me`).then(
          () => true,
          () => false,
        ),
        exited,
      ]);
      if (answered) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await this.stop();
    throw new Error(`${this.spec.name} did not answer within ${timeoutMs / 1000} s:\n${this.output.trim()}`);
  }
}
