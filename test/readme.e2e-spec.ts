import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { mongoUri, TestDatabase } from './support/database.js';
import { curlSteps, installSteps, type ExampleFile } from './support/readme-examples.js';
import { run, startApp, userEnvironment, writeFiles, type RunningApp } from './support/readme-consumer.js';
import {
  compileStrict,
  exampleFiles,
  ExampleWorkspace,
  LIBRARY,
  playCurlSteps,
  requiredFile,
  uriWithDatabase,
} from './support/readme-project.js';

// Issue 12, "a README that cannot rot": the Quick start's marked blocks (`<!-- example: quick-start/… -->`)
// become a fresh project in a temporary directory, with the library from `npm pack` as a user gets it and
// the packages of the README's install line; it must compile (strict, skipLibCheck: false), its curl
// lines must answer as their comments say, against the server of the test run, and its test file (the
// "Testing your app" section, `nestjs-typed-session/testing`) must pass under Node's own runner.

const required = (files: Map<string, ExampleFile>, path: string) => requiredFile(files, 'quick-start', path);

describe('README "Quick start", built and run as a user would', () => {
  const files = exampleFiles('quick-start');
  const workspace = new ExampleWorkspace('quick-start');
  const { project } = workspace;
  const timed = <T>(label: string, work: () => Promise<T>) => workspace.timed(label, work);
  const db = new TestDatabase();
  let installed = false;
  let compiled = false;
  let app: RunningApp | undefined;

  beforeAll(() => writeFiles(project, files.values()));
  afterAll(async () => {
    await app?.stop();
    await db.close();
    workspace.finish();
  });

  it('marks a complete application: install line, tsconfig.json, src/main.ts, curl lines', () => {
    expect([...files.keys()]).toEqual(expect.arrayContaining(['install.sh', 'tsconfig.json', 'src/main.ts', 'try.sh']));
    const tsconfig = JSON.parse(required(files, 'tsconfig.json').code) as { compilerOptions: Record<string, unknown> };
    expect(String(tsconfig.compilerOptions.module).toLowerCase()).toBe('nodenext');
    expect(tsconfig.compilerOptions.skipLibCheck ?? false).toBe(false);
  });

  it('installs the packed library and the install line into an ES module project', async () => {
    const pkg = await workspace.install(installSteps(required(files, 'install.sh')));
    expect(pkg.type).toBe('module');
    expect(pkg.dependencies[LIBRARY]).toMatch(/^file:.*\.tgz$/);
    installed = true;
  }, 300_000);

  it("compiles with the project's tsc: strict, skipLibCheck false", async () => {
    if (!installed) throw new Error('not run: the install failed');
    await timed('tsc', () => compileStrict(project, files));
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
    const stored: number[] = [];
    await timed('curl lines', () =>
      playCurlSteps(app!, steps, async () => {
        stored.push(await db.sessions().countDocuments());
      }),
    );
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
