// A consumer project made from a README example, as a user makes it: the library packed by `npm pack`
// (which runs `prepack`, the build), installed from that tarball with the packages of the README's install
// line, compiled with the consumer's own `tsc`, and started as a plain Node process.
import { spawn, type ChildProcess } from 'node:child_process';
import {
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { InstallStep } from './readme-examples.js';

/** The repository this test runs in. */
export const REPO = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The environment of a user's shell: none of the variables `npm test` sets for itself (npm's lifecycle
 * variables, which point at this repository; Jest's NODE_OPTIONS), none of the app settings other tests set.
 */
export function userEnvironment(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    const own = /^(npm_(?!config_)|npm_config_local_prefix$|INIT_CWD$|NODE_OPTIONS$|SESSION_|MONGODB_|PORT$)/.test(key);
    if (!own) env[key] = value;
  }
  return { ...env, ...extra };
}

/** The end of a long output, for error messages. */
function tail(text: string, lines = 40): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/**
 * Runs a command to completion within `timeoutMs` (then kills its process group). Resolves to its standard
 * output; rejects with the command, the exit status and the end of both outputs when it fails.
 */
export function run(
  command: string,
  args: string[],
  options: { cwd: string; timeoutMs: number; env?: NodeJS.ProcessEnv },
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? userEnvironment(),
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child, 'SIGKILL');
    }, options.timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve(stdout);
      const why = timedOut
        ? `did not finish within ${options.timeoutMs / 1000} s`
        : `failed (${signal ?? `exit ${code}`})`;
      reject(new Error(`\`${[command, ...args].join(' ')}\` in ${options.cwd} ${why}:\n${tail(output)}`));
    });
  });
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // already gone
  }
}

/**
 * Packs the working tree with `npm pack` into `destination` and returns the tarball's path. `prepack`
 * builds dist/ first; it runs in a copy of the tree (without node_modules, .git, dist), so the build
 * never removes the dist/ that other work in this repository is using. The copy's node_modules is a link
 * to the repository's: only the build tools are taken from it, nothing goes into the tarball.
 */
export async function packLibrary(destination: string): Promise<string> {
  const stage = mkdtempSync(join(tmpdir(), 'nts-pack-'));
  try {
    const skip = new Set(['node_modules', '.git', 'dist', 'coverage', '.cache']);
    for (const entry of readdirSync(REPO)) {
      if (skip.has(entry) || entry.endsWith('.tgz')) continue;
      cpSync(join(REPO, entry), join(stage, entry), { recursive: true, verbatimSymlinks: true });
    }
    symlinkSync(join(REPO, 'node_modules'), join(stage, 'node_modules'), 'dir');
    const output = await run('npm', ['pack', '--json', '--pack-destination', destination], {
      cwd: stage,
      timeoutMs: 120_000,
    });
    const packed = JSON.parse(output) as { filename: string }[];
    return join(destination, packed[0].filename);
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

/** The version of `name` in this repository's package-lock.json; the consumer gets exactly that one. */
function lockedVersion(name: string): string {
  const lock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { version?: string }>;
  };
  const version = lock.packages[`node_modules/${name}`]?.version;
  if (!version) {
    throw new Error(
      `${name} is in the README's install line but not in this repository's package-lock.json: add it to ` +
        'devDependencies, so the README is tested with the version the repository is tested with.',
    );
  }
  return version;
}

/** npm flags of every install: the local npm cache first, no network chatter, and no automatic peers. */
const NPM_INSTALL_FLAGS = [
  '--prefer-offline',
  '--no-audit',
  '--no-fund',
  '--no-update-notifier',
  // Peer dependencies are installed only when the install line names them, as pnpm (strict) and Yarn do:
  // so a package the application needs but the line forgets fails the test instead of being added by npm.
  '--legacy-peer-deps',
];

/**
 * Runs the install script's steps in `dir`: `npm init`/`npm pkg` as written, `npm install` with the library
 * replaced by `tarball` and every other package pinned to this repository's locked version. (Packages come
 * from npm's own cache when it has them; keeping the installed node_modules between runs was measured to
 * save nothing over that.)
 */
export async function installDependencies(
  dir: string,
  steps: InstallStep[],
  library: { name: string; tarball: string },
): Promise<void> {
  for (const step of steps) {
    const args =
      step.kind === 'npm'
        ? step.args
        : [
            'install',
            ...(step.dev ? ['--save-dev'] : []),
            ...step.packages.map((name) =>
              name === library.name ? library.tarball : `${name}@${lockedVersion(name)}`,
            ),
            ...NPM_INSTALL_FLAGS,
          ];
    await run('npm', args, { cwd: dir, timeoutMs: 240_000 });
  }
  const installed = join(dir, 'node_modules', library.name);
  if (!existsSync(join(installed, 'package.json')) || lstatSync(installed).isSymbolicLink()) {
    throw new Error(`${library.name} was not installed from its tarball into ${installed}`);
  }
}

/** Writes the example's files into `dir`. */
export function writeFiles(dir: string, files: Iterable<{ path: string; code: string }>): void {
  for (const file of files) {
    mkdirSync(dirname(join(dir, file.path)), { recursive: true });
    writeFileSync(join(dir, file.path), file.code);
  }
}

/** A free TCP port on loopback (the app is started on it at once). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A started Node application, its output so far, and a bounded stop. */
export interface RunningApp {
  url: string;
  output: () => string;
  stop: () => Promise<void>;
}

/**
 * Starts `node <entry>` in `dir` on a free port and resolves once it answers HTTP (any status), within
 * `timeoutMs`; rejects with its output if it exits or does not answer in time.
 */
export async function startApp(
  dir: string,
  entry: string,
  env: Record<string, string>,
  timeoutMs = 30_000,
): Promise<RunningApp> {
  const port = await freePort();
  const child = spawn(process.execPath, [entry], {
    cwd: dir,
    env: userEnvironment({ ...env, PORT: String(port) }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  while (true) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `node ${entry} exited (${child.signalCode ?? `exit ${child.exitCode}`}) before answering:\n${tail(output)}`,
      );
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`node ${entry} did not answer on ${url} within ${timeoutMs / 1000} s:\n${tail(output)}`);
    }
    const answered = await fetch(url, { signal: AbortSignal.timeout(1_000) }).then(
      () => true,
      () => false,
    );
    if (answered) return { url, output: () => output, stop };
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 100))]);
  }
}
