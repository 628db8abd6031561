import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { storedIdOf } from './support/cookies.js';
import { mongoUri, TestDatabase } from './support/database.js';
import { curlSteps, installSteps, type ExampleFile } from './support/readme-examples.js';
import { startApp, writeFiles, type RunningApp } from './support/readme-consumer.js';
import {
  compileStrict,
  exampleFiles,
  ExampleWorkspace,
  LIBRARY,
  playCurlSteps,
  requiredFile,
  uriWithDatabase,
} from './support/readme-project.js';

// The README's Passport example (`<!-- example: passport/… -->`) is the Quick start's project (its install
// line and tsconfig.json) with Passport's packages and its own src/: a PassportSerializer, passport.session()
// applied in the module's configure(), logins through SessionService.login() into `passport.user`. Built
// from the packed library, compiled strictly, and run on the test server: req.user comes from
// deserializeUser, the per-user methods find the sessions by `session.passport.user`, a logout removes it.

const quickStart = exampleFiles('quick-start');
const passport = exampleFiles('passport');
const fromQuickStart = (path: string) => requiredFile(quickStart, 'quick-start', path);
const fromPassport = (path: string) => requiredFile(passport, 'passport', path);

/** The user the example logs in, as its UsersService holds it; only the id goes into the session. */
const USER = { id: 'u1', name: 'Ada' };

/** The project's files: the Quick start's tsconfig.json, the Passport example's own. */
const files = new Map<string, ExampleFile>([['tsconfig.json', fromQuickStart('tsconfig.json')], ...passport]);

describe('README "Passport", built and run as a user would', () => {
  const workspace = new ExampleWorkspace('passport-example');
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

  it('marks a complete application: its install line, the serializer, the module, src/main.ts, curl lines', () => {
    expect([...passport.keys()]).toEqual(
      expect.arrayContaining([
        'install.sh',
        'src/session.serializer.ts',
        'src/app.module.ts',
        'src/auth.controller.ts',
        'src/main.ts',
        'try.sh',
      ]),
    );
    // Its own session shape and module, not the Quick start's.
    expect(passport.has('src/session-data.ts')).toBe(true);
    expect(fromPassport('src/app.module.ts').code).toContain("userIdField: 'passport.user'");
  });

  it("installs the packed library, the Quick start's install line and Passport's", async () => {
    const steps = [...installSteps(fromQuickStart('install.sh')), ...installSteps(fromPassport('install.sh'))];
    const pkg = await workspace.install(steps);
    expect(pkg.type).toBe('module');
    expect(pkg.dependencies[LIBRARY]).toMatch(/^file:.*\.tgz$/);
    expect(Object.keys(pkg.dependencies)).toEqual(expect.arrayContaining(['@nestjs/passport', 'passport']));
    installed = true;
  }, 300_000);

  it("compiles with the project's tsc: strict, skipLibCheck false", async () => {
    if (!installed) throw new Error('not run: the install failed');
    await timed('tsc', () => compileStrict(project, files));
    compiled = true;
  }, 150_000);

  it('runs on the test server: req.user from deserializeUser, sessions by passport.user, none after logout', async () => {
    if (!compiled) throw new Error('not run: the compilation failed');
    const tsconfig = JSON.parse(fromQuickStart('tsconfig.json').code) as { compilerOptions: { outDir?: string } };
    const steps = curlSteps(fromPassport('try.sh'));
    const at = (method: string, path: string) => {
      const index = steps.findIndex((step) => step.method === method && step.path === path);
      if (index === -1) throw new Error(`passport/try.sh has no curl line for ${method} ${path}`);
      return index;
    };
    // The curl lines show the whole flow: two logins, the user from deserializeUser (its name is not in the
    // session), the user's sessions, the others ended, a logout.
    const firstLogin = at('POST', '/auth/login');
    const secondLogin = steps.findIndex((step, index) => index > firstLogin && step.path === '/auth/login');
    const me = at('GET', '/auth/me');
    const logoutOthers = at('POST', '/auth/logout-others');
    const logout = at('POST', '/auth/logout');
    expect(secondLogin).toBeGreaterThan(firstLogin);
    expect(steps[me].expect).toEqual({ status: 200, body: USER });
    expect(logoutOthers).toBeGreaterThan(me);
    expect(logout).toBeGreaterThan(logoutOthers);
    expect(steps.at(-1)).toMatchObject({ method: 'GET', path: '/auth/me', expect: { status: 401 } });

    app = await timed('start', () =>
      startApp(project, join(tsconfig.compilerOptions.outDir ?? '.', 'main.js'), {
        MONGODB_URI: uriWithDatabase(mongoUri(), db.name),
        SESSION_SECRET: 'readme-test-secret',
        NO_COLOR: '1', // plain log lines in a failure message
      }),
    );
    const documents = () => db.sessions().find().toArray();
    const byUser: number[] = [];
    let laptop = '';
    await timed('curl lines', () =>
      playCurlSteps(app!, steps, async (index, jars) => {
        const stored = await documents();
        // Passport's shape, the id only: what the serializer gave and deserializeUser reads.
        for (const document of stored) expect(document.session.passport).toEqual({ user: USER.id });
        byUser.push(await db.sessions().countDocuments({ 'session.passport.user': USER.id }));
        if (index === firstLogin) laptop = [...jars.get(steps[index].writeJar!)!].map((pair) => pair.join('='))[0];
        if (index === logoutOthers) expect(stored.map((document) => document._id)).toEqual([storedIdOf(laptop)]);
      }),
    );
    expect(byUser[firstLogin]).toBe(1);
    expect(byUser[secondLogin]).toBe(2);
    expect(byUser[logoutOthers - 1]).toBe(2);
    expect(byUser[logoutOthers]).toBe(1);
    // The logout removed the last one, and nothing wrote it back.
    expect(byUser.slice(logout)).toEqual(byUser.slice(logout).map(() => 0));
  }, 90_000);
});
