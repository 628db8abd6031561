// Database commands per session operation, counted on the wire (bench/wire-counter.ts): each operation is
// done a number of times on fresh sessions, after one uncounted run, and the counts are divided.
import type { Db, Document } from 'mongodb';
import { loadRun, ROUTE_NAMES, routeText } from './load.js';
import type { SetupProcess } from './processes.js';
import { benchUser, cloneSession, cookieFor, newSessionId } from './seed.js';
import { BENCH_SETTINGS } from './setups/settings.js';
import type { WireCounter } from './wire-counter.js';

/** The operations counted, in the order they are done (a password change last: it changes the password). */
export const OPERATIONS = [
  { name: 'read', label: 'unchanged authenticated read (`GET /me`)', expected: '1 R, 0 W' },
  { name: 'write', label: 'authenticated write of one key (`POST /me/visits`)', expected: '1 R, 1 W' },
  { name: 'touch', label: 'read of a session due for a touch (`GET /me`)', expected: '1 R, 1 W' },
  { name: 'login', label: 'login without a session', expected: undefined },
  { name: 'loginRotation', label: 'login with a logged-in cookie (rotation)', expected: undefined },
  { name: 'loginAtLimit', label: 'login of a user at the session limit (5), one evicted', expected: undefined },
  { name: 'logout', label: 'logout', expected: undefined },
  { name: 'logoutEverywhere', label: 'logout everywhere (the user has 3 sessions)', expected: undefined },
  { name: 'excluded', label: 'excluded route with a cookie (`GET /health`)', expected: '0' },
  { name: 'passwordChange', label: 'password change (other sessions ended, id rotated)', expected: undefined },
] as const;

export type OperationName = (typeof OPERATIONS)[number]['name'];

/** Commands per operation (averaged over `repeats`). */
export interface OperationCount {
  repeats: number;
  reads: number;
  writes: number;
  /** Per operation, by command name (`insert sessions_locks` for the lock documents). */
  byCommand: Record<string, number>;
}

/** What one setup's operations gave: a count, a failure, or nothing where the setup has no such route. */
export interface OperationFigures {
  setup: string;
  skipped?: string;
  counts: Partial<Record<OperationName, OperationCount | { failed: string }>>;
  /** Monitoring and handshake commands seen while counting, in all (never per request). */
  other: Record<string, number>;
}

const SESSIONS = 'sessions';
/** How long to wait for the commands a response may leave behind before counts are read. */
const SETTLE_MS = 150;

/**
 * Counts the commands of each operation against `setup`, a process of the setup that reaches the database
 * through `counter`. `db` is its database (reached directly: what is prepared there is not counted),
 * `template` a session document its login wrote, `cookies` logged-in sessions already stored for the
 * load's routes (done first: the other operations empty the collection).
 */
export async function countOperations(
  setup: SetupProcess,
  counter: WireCounter,
  db: Db,
  template: Document,
  cookies: string[],
  options: { repeats: number; countedRequests: number },
  log: (message: string) => void,
): Promise<OperationFigures> {
  const { spec } = setup;
  const sessions = db.collection(SESSIONS);
  const figures: OperationFigures = { setup: spec.name, counts: {}, other: {} };

  /** `count` new logged-in sessions, stored directly; their cookies. `user` {} keeps the login's own user. */
  const fresh = async (count: number, user: (index: number) => object, now?: Date) => {
    const ids = Array.from({ length: count }, newSessionId);
    await sessions.insertMany(ids.map((id, index) => cloneSession(template, id, user(index), now)));
    return ids.map(cookieFor);
  };
  let serial = 0;
  const someUser = () => benchUser(1_000_000 + serial++);
  const request = async (method: string, path: string, cookie?: string, body?: object) => {
    const response = await fetch(`${setup.url}${path}`, {
      method,
      headers: {
        ...(cookie ? { cookie } : {}),
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await response.text();
    if (response.status < 200 || response.status > 299)
      throw new Error(`${method} ${path} answered ${response.status}: ${text.slice(0, 200)}`);
    return response;
  };
  const login = async (cookie?: string) => {
    const response = await request('POST', spec.login.path, cookie, spec.login.body ?? {});
    if (!response.headers.getSetCookie().some((line) => line.startsWith(`${BENCH_SETTINGS.cookieName}=`)))
      throw new Error(`${spec.login.path} set no session cookie`);
  };
  const addCounts = (other: Record<string, number>) => {
    for (const [name, count] of Object.entries(other)) figures.other[name] = (figures.other[name] ?? 0) + count;
  };

  /**
   * Runs `prepare` (uncounted) and `perform` once uncounted, then `repeats` times counted. Each run starts
   * from an empty sessions collection (emptied directly, uncounted): the commands do not depend on its size,
   * but on FerretDB the time of each per-user query does.
   */
  const measure = async <T>(
    name: OperationName,
    prepare: () => Promise<T>,
    perform: (prepared: T) => Promise<unknown>,
  ): Promise<void> => {
    try {
      for (let run = 0; run <= options.repeats; run += 1) {
        await sessions.deleteMany({});
        const prepared = await prepare();
        if (run === 1) {
          await settle();
          counter.reset();
        }
        await perform(prepared);
      }
      await settle();
      const totals = counter.totals();
      addCounts(totals.other);
      figures.counts[name] = perOperation(totals, options.repeats);
      log(`${spec.name}: ${name}: ${describeCount(figures.counts[name])}`);
    } catch (error) {
      figures.counts[name] = { failed: (error as Error).message.split('\n')[0] };
      log(`${spec.name}: ${name} failed: ${(error as Error).message}`);
    }
  };

  // (a) The load's routes, under load: 50 uncounted requests, then the counted ones; the unchanged reads
  // first (the writes change the sessions).
  for (const route of ROUTE_NAMES) {
    try {
      await loadRun(setup.url, cookies, { connections: 8, amount: 50, route });
      await settle();
      counter.reset();
      const { requests } = await loadRun(setup.url, cookies, {
        connections: 8,
        amount: options.countedRequests,
        route,
      });
      await settle();
      const totals = counter.totals();
      addCounts(totals.other);
      figures.counts[route] = perOperation(totals, requests);
      log(`${spec.name}: ${routeText(route)}: ${describeCount(figures.counts[route])} (over ${requests} requests)`);
    } catch (error) {
      figures.counts[route] = { failed: (error as Error).message.split('\n')[0] };
      log(`${spec.name}: ${routeText(route)} failed: ${(error as Error).message}`);
    }
  }

  // (b) A read whose session was last written longer ago than touchAfter (connect-mongo: `lastModified`;
  // ours: `lastSeenAt`), but well within the idle timeout: the session is touched.
  const due = new Date(Date.now() - (BENCH_SETTINGS.touchAfter + 60) * 1000);
  await measure(
    'touch',
    async () => (await fresh(1, someUser, due))[0],
    (cookie) => request('GET', '/me', cookie),
  );

  // (c) Logins, the user having no other session; then with as many as the limit allows.
  await measure(
    'login',
    () => Promise.resolve(),
    () => login(),
  );
  await measure(
    'loginRotation',
    async () => (await fresh(1, someUser))[0],
    (cookie) => login(cookie),
  );
  const limit = spec.sessionLimit;
  if (limit !== undefined) {
    await measure(
      'loginAtLimit',
      () => fresh(limit, () => ({})),
      () => login(),
    );
  }

  // (d) Logout of a logged-in session.
  const { logout } = spec;
  if (logout !== undefined) {
    await measure(
      'logout',
      async () => (await fresh(1, someUser))[0],
      (cookie) => request('POST', logout, cookie),
    );
  }

  // (f) Logout everywhere, from one of the three sessions of one user (the login's).
  const everywhere = spec.logoutEverywhere;
  if (everywhere !== undefined) {
    await measure(
      'logoutEverywhere',
      async () => (await fresh(3, () => ({})))[0],
      (cookie) => request('POST', everywhere, cookie),
    );
  }

  // (g) A route left out of session loading, with a logged-in cookie.
  const { excluded } = spec;
  if (excluded !== undefined) {
    await measure(
      'excluded',
      async () => (await fresh(1, someUser))[0],
      (cookie) => request('GET', excluded, cookie),
    );
  }

  // (e) Password change of the login's user, from one of their sessions, their only one. Last: the password
  // changes each time, which the logins above need unchanged.
  const change = spec.passwordChange;
  if (change !== undefined) {
    let password = change.password;
    await measure(
      'passwordChange',
      async () => (await fresh(1, () => ({})))[0],
      async (cookie) => {
        const next = `${change.password}-${serial++}`;
        await request('POST', change.path, cookie, change.body(password, next));
        password = next;
      },
    );
  }
  return figures;
}

function perOperation(totals: ReturnType<WireCounter['totals']>, divisor: number): OperationCount {
  return {
    repeats: divisor,
    reads: totals.reads / divisor,
    writes: totals.writes / divisor,
    byCommand: Object.fromEntries(Object.entries(totals.byCommand).map(([name, count]) => [name, count / divisor])),
  };
}

/** A figure per operation without trailing zeros: 1, 0.5, 1.05. */
export function perOperationNumber(value: number): string {
  return String(Number(value.toFixed(2)));
}

/** The order commands are listed in: reads, then writes, each with the lock documents' last. */
const ORDER = ['find', 'aggregate', 'count', 'getMore', 'insert', 'update', 'findAndModify', 'delete'];

/** `1 R, 1 W: find 1, update 1` — per operation, by command; the lock documents' marked `(lock)`. */
export function describeCount(count: OperationCount | { failed: string } | undefined): string {
  if (count === undefined) return '—';
  if ('failed' in count) return `failed: ${count.failed}`;
  const rank = (key: string) => {
    const [name, collection] = key.split(' ');
    const index = ORDER.indexOf(name);
    return (collection === undefined ? 0 : 100) + (index === -1 ? 50 : index);
  };
  const commands = Object.entries(count.byCommand)
    .filter(([, value]) => value > 0)
    .sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b))
    .map(([key, value]) => {
      const [name, collection] = key.split(' ');
      const where = collection === undefined ? '' : collection === `${SESSIONS}_locks` ? ' (lock)' : ` (${collection})`;
      return `${name}${where} ${perOperationNumber(value)}`;
    });
  const total = `${perOperationNumber(count.reads)} R, ${perOperationNumber(count.writes)} W`;
  return commands.length ? `${total}: ${commands.join(', ')}` : '0';
}

function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
}
