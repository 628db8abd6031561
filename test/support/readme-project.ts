// What every README example test does with its project: read its marked files, install them in a temporary
// directory with the packed library, compile them strictly with the project's own tsc (errors pointed back
// at README lines), reach the test server's database, and play the `curl` lines against the running app,
// each answering as its comment says.
import { expect } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { readmeExamples, type CurlStep, type ExampleFile, type InstallStep } from './readme-examples.js';
import { installDependencies, packLibrary, REPO, run, type RunningApp } from './readme-consumer.js';
import { StepTimings } from './timings.js';

/** The library's package name, as the consumer installs it. */
export const LIBRARY = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { name: string }).name;

/** The files of the README's example `name`, by path; throws, naming the marker, when it has none. */
export function exampleFiles(name: string): Map<string, ExampleFile> {
  const files = readmeExamples(readFileSync(join(REPO, 'README.md'), 'utf8')).get(name);
  if (!files) throw new Error(`README.md marks no block as <!-- example: ${name}/… -->`);
  return files;
}

/** The file `path` of the example `name`; throws, naming the missing marker, when it is not marked. */
export function requiredFile(files: Map<string, ExampleFile>, name: string, path: string): ExampleFile {
  const file = files.get(path);
  if (!file) throw new Error(`README.md marks no block as <!-- example: ${name}/${path} -->`);
  return file;
}

/** The package.json of an installed consumer project, as far as the tests read it. */
export interface ConsumerPackage {
  type?: string;
  dependencies: Record<string, string>;
  devDependencies?: Record<string, string>;
}

/**
 * The temporary directory of one example's project (`<work>/<name>`), the timings of its steps, and a
 * summary of them when it is done.
 */
export class ExampleWorkspace {
  readonly work = mkdtempSync(join(tmpdir(), 'nts-readme-'));
  readonly project: string;
  private readonly timings = new StepTimings();
  private readonly started = performance.now();

  constructor(readonly name: string) {
    this.project = join(this.work, name);
  }

  /** Runs `work`, recording how long it took under `label`. */
  timed<T>(label: string, work: () => Promise<T>): Promise<T> {
    return this.timings.timed(label, work);
  }

  /** Packs the library into the workspace and runs `steps` in the project with it; returns its package.json. */
  async install(steps: InstallStep[]): Promise<ConsumerPackage> {
    const tarball = await this.timed('npm pack', () => packLibrary(this.work));
    await this.timed('install', () => installDependencies(this.project, steps, { name: LIBRARY, tarball }));
    return JSON.parse(readFileSync(join(this.project, 'package.json'), 'utf8')) as ConsumerPackage;
  }

  /** Removes the directory (kept with KEEP_README_PROJECT) and prints the timings. */
  finish(): void {
    const keep = Boolean(process.env.KEEP_README_PROJECT);
    if (!keep) rmSync(this.work, { recursive: true, force: true });
    const total = ((performance.now() - this.started) / 1000).toFixed(1);
    process.stdout.write(
      `readme ${this.name}: ${this.timings.toString()}; total ${total} s${keep ? ` (kept in ${this.project})` : ''}\n`,
    );
  }
}

/**
 * The server's URI with the database `name` (the app reads its database from the URI). Credentials keep
 * authenticating where they did: against the URI's former database, or admin.
 */
export function uriWithDatabase(uri: string, name: string): string {
  const [base, query = ''] = uri.split('?');
  const slash = base.indexOf('/', base.indexOf('://') + 3);
  const authority = slash === -1 ? base : base.slice(0, slash);
  const params = new URLSearchParams(query);
  if (authority.includes('@') && !params.has('authSource'))
    params.set('authSource', (slash === -1 ? '' : base.slice(slash + 1)) || 'admin');
  return `${authority}/${name}${params.size > 0 ? `?${params.toString()}` : ''}`;
}

/**
 * Compiles `project` with its own tsc. The CLI flags hold the check to strict with skipLibCheck off,
 * whatever the README's tsconfig.json says; an error's location also names the README line of `files`.
 */
export async function compileStrict(project: string, files: Map<string, ExampleFile>): Promise<void> {
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
  await run(process.execPath, tsc, { cwd: project, timeoutMs: 120_000 }).catch((error: Error) => {
    // src/app.module.ts(21,17): … → also README.md:<line>, where the fix goes.
    error.message = error.message.replace(/^(\S+)\((\d+),\d+\)/gm, (location, path: string, line: string) => {
      const file = files.get(path);
      return file ? `${location} [README.md:${file.line + Number(line) - 1}]` : location;
    });
    throw error;
  });
}

/**
 * Sends the `curl` lines to `app` in order, with their cookie files, and expects each answer to be what its
 * comment says (printing the app's output on the first that is not). `afterStep` runs after each, with the
 * step's index and the cookies of every cookie file so far (name=value pairs by cookie file).
 */
export async function playCurlSteps(
  app: RunningApp,
  steps: CurlStep[],
  afterStep?: (index: number, jars: ReadonlyMap<string, ReadonlyMap<string, string>>) => Promise<void>,
): Promise<void> {
  const jars = new Map<string, Map<string, string>>();
  for (const [index, step] of steps.entries()) {
    const response = await send(app.url, step, jars);
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
    if (!isDeepStrictEqual(seen, wanted)) process.stderr.write(`readme: the app's output so far:\n${app.output()}\n`);
    expect(seen).toEqual(wanted);
    await afterStep?.(index, jars);
  }
}

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
