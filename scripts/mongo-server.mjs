#!/usr/bin/env node
// Finds a real MongoDB wire-protocol server for the tests, the example app and the benchmark, in this order:
//   1. MONGODB_URI, when set;
//   2. mongodb-memory-server (a real mongod, downloaded on first use; needs internet);
//   3. FerretDB 1.x with its SQLite backend (PostgreSQL when FERRETDB_POSTGRESQL_URL is set), built from
//      the Go module proxy with `go install` (the build is reused) and started on a free loopback port,
//      telemetry off.
// Otherwise it fails with a message saying how to provide one.
//
// As a module: `const db = await startMongo(); …; await db.stop()`.
// As a command: `node scripts/mongo-server.mjs <command> [args…]` runs the command with MONGODB_URI set
// (and SESSION_AUTO_REMOVE=interval when the server has no TTL indexes), then stops the server.
import { spawn, spawnSync } from 'node:child_process';
import {
  cpSync,
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MongoClient } from 'mongodb';

export const FERRETDB_MODULE = 'github.com/FerretDB/FerretDB';
export const FERRETDB_VERSION = process.env.FERRETDB_VERSION ?? 'v1.24.0';
const log = (message) => process.stderr.write(`[mongo-server] ${message}\n`);

/**
 * Starts (or finds) a server. `MONGODB_SERVER=memory|ferretdb` skips the other fallbacks.
 * @returns {Promise<{ uri: string, kind: string, version: string, ttlIndexes: boolean, stop: () => Promise<void> }>}
 */
export async function startMongo() {
  const forced = process.env.MONGODB_SERVER;
  const failures = [];
  if (process.env.MONGODB_URI) {
    return describeServer({ uri: process.env.MONGODB_URI, kind: 'MONGODB_URI', stop: async () => {} });
  }
  if (!forced || forced === 'memory') {
    try {
      return await describeServer(await startMemoryServer());
    } catch (error) {
      failures.push(`mongodb-memory-server: ${firstLine(error)}`);
      log(`mongodb-memory-server could not start a mongod (${firstLine(error)}); trying FerretDB.`);
    }
  }
  if (!forced || forced === 'ferretdb') {
    try {
      return await describeServer(await startFerretDB());
    } catch (error) {
      failures.push(`FerretDB: ${firstLine(error)}`);
    }
  }
  throw new Error(
    `No MongoDB server could be found or started:\n  - ${failures.join('\n  - ')}\n` +
      'Set MONGODB_URI to a running MongoDB (mongodb://host:port), or give this machine internet access for ' +
      'mongodb-memory-server, or install Go (https://go.dev/dl) so FerretDB can be built.',
  );
}

async function describeServer(server) {
  const client = new MongoClient(server.uri, { serverSelectionTimeoutMS: 10_000 });
  try {
    const info = await client.db('admin').command({ buildInfo: 1 });
    const ferret = typeof info.ferretdbVersion === 'string';
    const version = ferret
      ? `FerretDB ${info.ferretdbVersion}${server.backend ? ` (${server.backend} backend)` : ''}`
      : `MongoDB ${info.version}`;
    return { ...server, version, ttlIndexes: !ferret };
  } catch (error) {
    await server.stop();
    throw new Error(`${server.kind} at ${redact(server.uri)} does not answer: ${firstLine(error)}`);
  } finally {
    await client.close();
  }
}

async function startMemoryServer() {
  const { MongoMemoryServer } = await import('mongodb-memory-server-core');
  // Its own failure report is a page long; ours is one line.
  const warn = console.warn;
  console.warn = () => {};
  try {
    const server = await MongoMemoryServer.create({ instance: { ip: '127.0.0.1' } });
    return { uri: server.getUri(), kind: 'mongodb-memory-server', stop: async () => void (await server.stop()) };
  } finally {
    console.warn = warn;
  }
}

/**
 * Builds FerretDB once (reused from the cache directory), then starts it. With `port` and `dataDir` a test
 * can stop a server and start it again where it was, data included; a given `dataDir` is not deleted.
 */
export async function startFerretDB({
  port: wantedPort,
  dataDir: givenDir,
  postgresqlUrl = process.env.FERRETDB_POSTGRESQL_URL,
} = {}) {
  const binary = buildFerretDB();
  const port = wantedPort ?? (await freePort());
  const dataDir = givenDir ?? mkdtempSync(join(tmpdir(), 'ferretdb-'));
  const backend = postgresqlUrl ? 'PostgreSQL' : 'SQLite';
  const child = spawn(
    binary,
    [
      ...(postgresqlUrl
        ? ['--handler=postgresql', `--postgresql-url=${postgresqlUrl}`]
        : ['--handler=sqlite', `--sqlite-url=file:${dataDir}/`]),
      `--state-dir=${dataDir}`,
      `--listen-addr=127.0.0.1:${port}`,
      '--debug-addr=127.0.0.1:0',
      '--telemetry=disable',
      '--log-level=error',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr = (stderr + chunk).slice(-4000)));
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  const stop = async () => {
    process.removeListener('exit', killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGCONT'); // a paused server would not act on SIGTERM
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    if (!givenDir) rmSync(dataDir, { recursive: true, force: true });
  };

  const uri = `mongodb://127.0.0.1:${port}/`;
  const ready = await Promise.race([waitUntilAnswering(uri, 30_000), exited.then(() => 'exited')]);
  if (ready !== true) {
    await stop();
    throw new Error(
      `FerretDB ${ready === 'exited' ? 'exited at start' : 'did not answer within 30 s'}: ${stderr.trim() || 'no output'}`,
    );
  }
  log(`FerretDB ${FERRETDB_VERSION} (${backend} backend, telemetry off) listening on 127.0.0.1:${port}`);
  // pause/resume: a hung server (connections accepted, nothing answered); kill: a crash (no clean shutdown).
  const signal = (name) => () => void child.kill(name);
  return {
    uri,
    kind: 'FerretDB',
    backend,
    stop,
    port,
    binary,
    dataDir,
    pause: signal('SIGSTOP'),
    resume: signal('SIGCONT'),
    kill: signal('SIGKILL'),
  };
}

async function waitUntilAnswering(uri, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const client = new MongoClient(uri, { serverSelectionTimeoutMS: 500, connectTimeoutMS: 500 });
    try {
      await client.db('admin').command({ ping: 1 });
      return true;
    } catch {
      // not listening yet: the driver already waited up to 500 ms
    } finally {
      await client.close();
    }
  }
  return false;
}

function cacheDir() {
  return (
    process.env.FERRETDB_CACHE_DIR ??
    join(
      process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'),
      'nestjs-typed-session',
      `ferretdb-${FERRETDB_VERSION}`,
    )
  );
}

/** Returns the path of the FerretDB binary, building it with `go install` when it is not cached. */
export function buildFerretDB() {
  const dir = cacheDir();
  const binary = join(dir, 'bin', 'ferretdb');
  if (existsSync(binary)) return binary;

  const go = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (go.status !== 0) throw new Error('Go is not installed (needed to build FerretDB)');
  log(`building FerretDB ${FERRETDB_VERSION} with ${go.stdout.trim()} (once; cached in ${dir})`);

  // `go install module@version` cannot be used as is: FerretDB reads its version from a file its own build
  // tooling generates, which the module zip lacks. So: fetch the module, add that file, install from it.
  const download = run('go', ['mod', 'download', '-json', `${FERRETDB_MODULE}@${FERRETDB_VERSION}`]);
  const moduleDir = JSON.parse(download).Dir;
  mkdirSync(dir, { recursive: true });
  const work = mkdtempSync(join(dir, 'build-'));
  try {
    const src = join(work, 'src');
    cpSync(moduleDir, src, { recursive: true });
    makeWritable(src);
    writeFileSync(join(src, 'build', 'version', 'version.txt'), `${FERRETDB_VERSION}\n`);
    const env = { ...process.env, GOBIN: join(work, 'bin'), GOFLAGS: '-buildvcs=false', CGO_ENABLED: '0' };
    try {
      run('go', ['install', './cmd/ferretdb'], { cwd: src, env });
    } catch (error) {
      // Old dependencies that reach into the runtime with go:linkname need this on newer Go releases.
      log(`go install failed (${firstLine(error)}); retrying with -ldflags=-checklinkname=0`);
      run('go', ['install', '-ldflags=-checklinkname=0', './cmd/ferretdb'], { cwd: src, env });
    }
    mkdirSync(join(dir, 'bin'), { recursive: true });
    renameSync(join(work, 'bin', 'ferretdb'), binary);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return binary;
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...options });
  if (result.status !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} failed: ${(result.stderr || result.stdout || String(result.error)).trim()}`,
    );
  }
  return result.stdout;
}

function makeWritable(path) {
  chmodSync(path, statSync(path).isDirectory() ? 0o755 : 0o644);
  if (statSync(path).isDirectory()) for (const entry of readdirSync(path)) makeWritable(join(path, entry));
}

/** A TCP port nothing listens on right now, on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function firstLine(error) {
  const text = String(error instanceof Error ? error.message : error)
    .replace(/\s+/g, ' ')
    .trim();
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

function redact(uri) {
  return uri.replace(/\/\/[^@/]*@/, '//***@');
}

/** Command mode: run a command with a server. */
async function main(argv) {
  if (argv.length === 0) {
    log('usage: node scripts/mongo-server.mjs <command> [args…]');
    process.exit(2);
  }
  let server;
  try {
    server = await startMongo();
  } catch (error) {
    log(error instanceof Error ? error.message : String(error));
    process.exit(1);
  }
  log(`using ${server.version} from ${server.kind}: ${redact(server.uri)}`);
  const env = { ...process.env, MONGODB_URI: server.uri };
  if (!server.ttlIndexes && !env.SESSION_AUTO_REMOVE) {
    env.SESSION_AUTO_REMOVE = 'interval';
    log('this server has no TTL indexes: SESSION_AUTO_REMOVE=interval');
  }
  const child = spawn(argv[0], argv.slice(1), { stdio: 'inherit', env });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  const [code, signal] = await new Promise((resolve) => child.once('exit', (...result) => resolve(result)));
  await server.stop();
  process.exit(code ?? (signal ? 1 : 0));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await main(process.argv.slice(2));
}
