import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { mongoUri, TestDatabase } from './support/database.js';
import { curlSteps, installSteps, readmeExamples, type CurlStep, type ExampleFile } from './support/readme-examples.js';
import {
  installDependencies,
  packLibrary,
  REPO,
  run,
  startApp,
  userEnvironment,
  writeFiles,
  type RunningApp,
} from './support/readme-consumer.js';
import { StepTimings } from './support/timings.js';

// Issue 12, "a README that cannot rot": the Quick start's marked blocks (`<!-- example: quick-start/… -->`)
// become a fresh project in a temporary directory, with the library from `npm pack` as a user gets it and
// the packages of the README's install line; it must compile (strict, skipLibCheck: false), its curl
// lines must answer as their comments say, against the server of the test run, and its test file (the
// "Testing your app" section, `nestjs-typed-session/testing`) must pass under Node's own runner.

const LIBRARY = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { name: string }).name;
const readme = readFileSync(join(REPO, 'README.md'), 'utf8');

/** The Quick start's files, by path. */
function quickStart(): Map<string, ExampleFile> {
  const files = readmeExamples(readme).get('quick-start');
  if (!files) throw new Error('README.md marks no block as <!-- example: quick-start/… -->');
  return files;
}

function required(files: Map<string, ExampleFile>, path: string): ExampleFile {
  const file = files.get(path);
  if (!file) throw new Error(`README.md marks no block as <!-- example: quick-start/${path} -->`);
  return file;
}

/**
 * The server's URI with the database `name` (the app reads its database from the URI). Credentials keep
 * authenticating where they did: against the URI's former database, or admin.
 */
function uriWithDatabase(uri: string, name: string): string {
  const [base, query = ''] = uri.split('?');
  const slash = base.indexOf('/', base.indexOf('://') + 3);
  const authority = slash === -1 ? base : base.slice(0, slash);
  const params = new URLSearchParams(query);
  if (authority.includes('@') && !params.has('authSource'))
    params.set('authSource', (slash === -1 ? '' : base.slice(slash + 1)) || 'admin');
  return `${authority}/${name}${params.size > 0 ? `?${params.toString()}` : ''}`;
}

const timings = new StepTimings();
const timed = <T>(label: string, work: () => Promise<T>) => timings.timed(label, work);

describe('README "Quick start", built and run as a user would', () => {
  const files = quickStart();
  const work = mkdtempSync(join(tmpdir(), 'nts-readme-'));
  const project = join(work, 'quick-start');
  const db = new TestDatabase();
  let installed = false;
  let compiled = false;
  let app: RunningApp | undefined;
  const started = performance.now();

  beforeAll(() => writeFiles(project, files.values()));
  afterAll(async () => {
    await app?.stop();
    await db.close();
    if (!process.env.KEEP_README_PROJECT) rmSync(work, { recursive: true, force: true });
    const total = ((performance.now() - started) / 1000).toFixed(1);
    process.stdout.write(
      `readme: ${timings.toString()}; total ${total} s${process.env.KEEP_README_PROJECT ? ` (kept in ${project})` : ''}\n`,
    );
  });

  it('marks a complete application: install line, tsconfig.json, src/main.ts, curl lines', () => {
    expect([...files.keys()]).toEqual(expect.arrayContaining(['install.sh', 'tsconfig.json', 'src/main.ts', 'try.sh']));
    const tsconfig = JSON.parse(required(files, 'tsconfig.json').code) as { compilerOptions: Record<string, unknown> };
    expect(String(tsconfig.compilerOptions.module).toLowerCase()).toBe('nodenext');
    expect(tsconfig.compilerOptions.skipLibCheck ?? false).toBe(false);
  });

  it('installs the packed library and the install line into an ES module project', async () => {
    const tarball = await timed('npm pack', () => packLibrary(work));
    await timed('install', () =>
      installDependencies(project, installSteps(required(files, 'install.sh')), { name: LIBRARY, tarball }),
    );
    const pkg = JSON.parse(readFileSync(join(project, 'package.json'), 'utf8')) as {
      type?: string;
      dependencies: Record<string, string>;
    };
    expect(pkg.type).toBe('module');
    expect(pkg.dependencies[LIBRARY]).toMatch(/^file:.*\.tgz$/);
    installed = true;
  }, 300_000);

  it("compiles with the project's tsc: strict, skipLibCheck false", async () => {
    if (!installed) throw new Error('not run: the install failed');
    // The CLI flags hold the check to strict with skipLibCheck off, whatever the README's tsconfig.json says.
    const tsc = [
      join('node_modules', 'typescript', 'bin', 'tsc'),
      '-p',
      '.',
      '--strict',
      '--skipLibCheck',
      'false',
      '--pretty',
      'false',
    ];
    await timed('tsc', () =>
      run(process.execPath, tsc, { cwd: project, timeoutMs: 120_000 }).catch((error: Error) => {
        // src/app.module.ts(21,17): … → also README.md:<line>, where the fix goes.
        error.message = error.message.replace(/^(\S+)\((\d+),\d+\)/gm, (location, path: string, line: string) => {
          const file = files.get(path);
          return file ? `${location} [README.md:${file.line + Number(line) - 1}]` : location;
        });
        throw error;
      }),
    );
    compiled = true;
  }, 150_000);

  it('runs on the test server: each curl line answers as its comment says, and the stored session follows', async () => {
    if (!compiled) throw new Error('not run: the compilation failed');
    const tsconfig = JSON.parse(required(files, 'tsconfig.json').code) as { compilerOptions: { outDir?: string } };
    const steps = curlSteps(required(files, 'try.sh'));

    // The curl lines show the whole flow: log in, the guarded route answers the user, log out, 401 after.
    const login = steps.findIndex((step) => step.method === 'POST' && step.path.includes('login'));
    const guarded = steps.find((step, at) => at > login && 'body' in step.expect && step.expect.status === 200);
    const logout = steps.findIndex((step) => step.method === 'POST' && step.path.includes('logout'));
    expect(login).toBeGreaterThanOrEqual(0);
    expect(guarded).toBeDefined();
    expect(logout).toBeGreaterThan(steps.indexOf(guarded!));
    expect(steps.at(-1)).toMatchObject({ method: 'GET', path: guarded!.path, expect: { status: 401 } });

    app = await timed('start', () =>
      startApp(project, join(tsconfig.compilerOptions.outDir ?? '.', 'main.js'), {
        MONGODB_URI: uriWithDatabase(mongoUri(), db.name),
        SESSION_SECRET: 'readme-test-secret',
        NO_COLOR: '1', // plain log lines in a failure message
      }),
    );
    const jars = new Map<string, Map<string, string>>();
    const stored: number[] = [];
    await timed('curl lines', async () => {
      for (const step of steps) {
        const response = await send(app!.url, step, jars);
        const text = await response.text();
        const wanted = {
          line: step.source,
          status: step.expect.status,
          body: 'body' in step.expect ? step.expect.body : undefined,
        };
        const seen = {
          line: step.source,
          status: step.expect.status === '2xx' && response.ok ? '2xx' : response.status,
          body: 'body' in step.expect ? parsed(text) : undefined,
        };
        if (!isDeepStrictEqual(seen, wanted))
          process.stderr.write(`readme: the app's output so far:\n${app!.output()}\n`);
        expect(seen).toEqual(wanted);
        stored.push(await db.sessions().countDocuments());
      }
    });
    // The login stored one document; the logout removed it (and nothing wrote it back).
    expect(stored[steps.indexOf(guarded!)]).toBe(1);
    expect(stored.slice(logout)).toEqual(stored.slice(logout).map(() => 0));
  }, 90_000);

  it("passes the README's test file (src/auth.test.ts, with nestjs-typed-session/testing) under node --test", async () => {
    if (!compiled) throw new Error('not run: the compilation failed');
    required(files, 'src/auth.test.ts');
    const tsconfig = JSON.parse(required(files, 'tsconfig.json').code) as { compilerOptions: { outDir?: string } };
    const output = await timed('node --test', () =>
      run(
        process.execPath,
        ['--test', '--test-reporter=tap', join(tsconfig.compilerOptions.outDir ?? '.', 'auth.test.js')],
        {
          cwd: project,
          timeoutMs: 60_000,
          env: userEnvironment({
            MONGODB_URI: uriWithDatabase(mongoUri(), db.name),
            SESSION_SECRET: 'readme-test-secret',
          }),
        },
      ),
    );
    expect(output).toMatch(/^# pass 1$/m);
    expect(output).toMatch(/^# fail 0$/m);
  }, 90_000);
});

function parsed(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Sends one curl line as curl would, with its cookie files kept in `jars`. */
async function send(base: string, step: CurlStep, jars: Map<string, Map<string, string>>): Promise<Response> {
  const cookies = new Map(step.readJar ? jars.get(step.readJar) : undefined);
  const headers: Record<string, string> = { ...step.headers };
  if (cookies.size > 0) headers.cookie = [...cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  const response = await fetch(base + step.path, {
    method: step.method,
    headers,
    body: step.body,
    redirect: 'manual',
    signal: AbortSignal.timeout(10_000),
  });
  if (step.writeJar) {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const name = pair.slice(0, pair.indexOf('=')).trim();
      const value = pair.slice(pair.indexOf('=') + 1).trim();
      const expired = attributes.some((attribute) => {
        const [key, raw = ''] = attribute.split('=').map((part) => part.trim());
        return (
          (/^expires$/i.test(key) && Date.parse(raw) <= Date.now()) || (/^max-age$/i.test(key) && Number(raw) <= 0)
        );
      });
      if (expired) cookies.delete(name);
      else cookies.set(name, value);
    }
    jars.set(step.writeJar, cookies);
  }
  return response;
}
