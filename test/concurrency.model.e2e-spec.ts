import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import fc, { type AsyncCommand } from 'fast-check';
import request, { type Response } from 'supertest';
import { derivedHandleOf, setCookieFor, storedIdOf } from './support/cookies.js';
import { autoRemoveMode, mongoUri, TestDatabase } from './support/database.js';
import { handlersRun, OPERATION_HEADER, startModelApp, startTabsApp, tick } from './scenarios/model.scenario.js';

// Model-based concurrency test (fast-check commands). A sequence is a few batches; a batch launches a few
// operations at once, over HTTP, from several devices (cookies) of two users. After each batch settles, every
// device must be alive or dead as the model says, in the collection and on a guarded route; where the race
// leaves the outcome open (a login racing a logout everywhere), the observed one is adopted into the model.
// A logical clock shared with the app's handlers (`tick`) tells which of two events came first, without timing.
//
// The invariant: once a per-user deletion (logout everywhere, password change, revocation by handle) has run,
// no session of that user from before it is alive, whatever rotation, save or touch was in flight; a session
// logged out, revoked or expired never comes back; and a session nothing ended is still alive.
//
// Replay: MODEL_SEED=<seed> MODEL_PATH=<path> [MODEL_REPLAY_PATH=<replayPath>], as printed on failure: the same
// operations run again, and the race they lost may take a few tries to lose again.
// MODEL_RUNS=<n> sets the number of sequences; MODEL_KINDS=rotate,logoutEverywhere,... the kinds of operations.
// A cookie is mapped to its stored `_id` in one place: `storedIdOf` in support/cookies.ts.

/**
 * Sequences run by default. Measured on the 2-core machine: 0.25 s a sequence when idle, 0.55 s under a load
 * of 10 (2000 sequences took 18 min there); so 150 take about 40 s, 90 s at worst.
 */
const DEFAULT_RUNS = 150;
/** Time allowed per sequence before the test times out: ten times the worst measured. */
const TIMEOUT_PER_SEQUENCE_MS = 5_000;
const USERS = 2;
const DEVICES_PER_USER = 3;
const DEVICES = USERS * DEVICES_PER_USER;
const MAX_BATCHES = 6;
const MIN_OPERATIONS = 2;
const MAX_OPERATIONS = 5;

const runs = Number(process.env.MODEL_RUNS ?? DEFAULT_RUNS);
const seed = process.env.MODEL_SEED ? Number(process.env.MODEL_SEED) : Math.floor(Math.random() * 2 ** 31);
const replayPath = process.env.MODEL_PATH;
const commandsReplayPath = process.env.MODEL_REPLAY_PATH;

// ---------------------------------------------------------------------------------------------------------
// Operations

/** Operations that use a device's cookie and replace or end its session: at most one per device per batch. */
type PrimaryKind = 'login' | 'rotate' | 'logout' | 'logoutEverywhere' | 'passwordChange';

/** Operations whose handler holds the loaded session for `holdMs` first (a slow handler, as hashing a password). */
type HeldKind = 'slowWrite' | 'rotate' | 'passwordChange';

/** One operation of a batch. `device` is the device whose cookie is sent (for `expire`: whose session expires). */
type Operation =
  | { kind: Exclude<PrimaryKind, HeldKind> | 'read' | 'write'; device: number }
  | { kind: HeldKind; device: number; holdMs: number }
  | { kind: 'revoke'; device: number; target: number }
  | { kind: 'expire'; device: number };

const PRIMARY_KINDS: ReadonlySet<Operation['kind']> = new Set<PrimaryKind>([
  'login',
  'rotate',
  'logout',
  'logoutEverywhere',
  'passwordChange',
]);

/** Operations whose requests may update (touch, save) or delete-if-live the document of the cookie they send. */
const USES_DOCUMENT: ReadonlySet<Operation['kind']> = new Set<Operation['kind']>([
  'read',
  'write',
  'slowWrite',
  'revoke',
  'rotate',
  'passwordChange',
]);

/** What an operation observed. */
interface Outcome {
  operation: Operation;
  /** Unique name, sent in `OPERATION_HEADER` so that the test learns whether a handler ran. */
  name: string;
  /** The (last) HTTP status; `undefined` for `expire`, which writes to the collection directly. */
  status?: number;
  /** The session cookie pair the response set, when it set one with a value. */
  setCookie?: string;
  /** The user id in a 200 answer that carries one. */
  userId?: string;
  /** `revoke`: the answer of the deletion. */
  revoked?: boolean;
  /** `revoke`: the handles the listing showed. */
  listed?: ListedSession[];
  /** `expire`: the document was live and is now expired. */
  expired?: boolean;
  /** `expire`: the logical time (`tick`) at which the expiry was done. */
  expiredAt?: number;
}

/** An entry of `GET /m/sessions` (`listForUser`), as far as the test reads it. */
interface ListedSession {
  handle: string;
  data: { userId?: string };
}

const userOf = (device: number): number => Math.floor(device / DEVICES_PER_USER);
const deviceName = (device: number): string => `${'AB'[userOf(device)]}${device % DEVICES_PER_USER}`;
const isPrimary = (operation: Operation): boolean => PRIMARY_KINDS.has(operation.kind);
/** The handle stored with each session seen live (by storage key): a dead session keeps its own here. */
const knownHandles = new Map<string, string>();
/** The handle of a cookie's session as `listForUser` shows it; the derived one for a session never seen. */
const handleOf = (cookie: string): string => knownHandles.get(storedIdOf(cookie)) ?? derivedHandleOf(cookie);
const shortId = (cookie: string | undefined): string => (cookie ? storedIdOf(cookie).slice(0, 6) : '-');

function describeOperation(operation: Operation): string {
  const device = deviceName(operation.device);
  if ('holdMs' in operation) return `${operation.kind}(${device}, ${operation.holdMs} ms)`;
  if (operation.kind === 'revoke') return `revoke(${device} -> ${deviceName(operation.target)})`;
  return `${operation.kind}(${device})`;
}

function describeOutcome(outcome: Outcome): string {
  const parts = [describeOperation(outcome.operation), '->'];
  if (outcome.operation.kind === 'expire') {
    parts.push(outcome.expired ? `expired a live session at t${outcome.expiredAt}` : 'matched nothing');
  } else parts.push(String(outcome.status));
  if (outcome.setCookie) parts.push(`set sid ${shortId(outcome.setCookie)}`);
  if (outcome.revoked !== undefined) parts.push(outcome.revoked ? 'revoked' : 'not revoked');
  const handled = handlersRun.get(outcome.name);
  if (handled !== undefined) parts.push(`(handler ran at t${handled})`);
  return parts.join(' ');
}

const deviceArbitrary = fc.integer({ min: 0, max: DEVICES - 1 });
const deviceOperation = (kind: Exclude<PrimaryKind, HeldKind> | 'read' | 'write') =>
  deviceArbitrary.map((device): Operation => ({ kind, device }));
const heldOperation = (kind: HeldKind) =>
  fc
    .tuple(deviceArbitrary, fc.integer({ min: 0, max: 20 }))
    .map(([device, holdMs]): Operation => ({ kind, device, holdMs }));

/** Each kind of operation with its weight: more of the ones that race (rotations, per-user deletions). */
const OPERATION_KINDS: Record<Operation['kind'], { weight: number; arbitrary: fc.Arbitrary<Operation> }> = {
  read: { weight: 2, arbitrary: deviceOperation('read') },
  write: { weight: 1, arbitrary: deviceOperation('write') },
  slowWrite: { weight: 2, arbitrary: heldOperation('slowWrite') },
  rotate: { weight: 3, arbitrary: heldOperation('rotate') },
  login: { weight: 2, arbitrary: deviceOperation('login') },
  logout: { weight: 1, arbitrary: deviceOperation('logout') },
  logoutEverywhere: { weight: 2, arbitrary: deviceOperation('logoutEverywhere') },
  passwordChange: { weight: 2, arbitrary: heldOperation('passwordChange') },
  revoke: {
    weight: 2,
    arbitrary: fc
      .tuple(deviceArbitrary, fc.integer({ min: 1, max: DEVICES_PER_USER - 1 }))
      .map(([device, offset]): Operation => ({
        kind: 'revoke',
        device,
        target: userOf(device) * DEVICES_PER_USER + ((device + offset) % DEVICES_PER_USER),
      })),
  },
  expire: { weight: 1, arbitrary: deviceArbitrary.map((device): Operation => ({ kind: 'expire', device })) },
};

/** The kinds `MODEL_KINDS` names (comma-separated), or all of them. */
function chosenKinds(): (keyof typeof OPERATION_KINDS)[] {
  const all = Object.keys(OPERATION_KINDS) as (keyof typeof OPERATION_KINDS)[];
  const named = process.env.MODEL_KINDS?.split(',')
    .map((kind) => kind.trim())
    .filter(Boolean);
  if (!named?.length) return all;
  const unknown = named.filter((kind) => !(kind in OPERATION_KINDS));
  if (unknown.length > 0) throw new Error(`MODEL_KINDS: unknown ${unknown.join(', ')}; known: ${all.join(', ')}`);
  return all.filter((kind) => named.includes(kind));
}

const kinds = chosenKinds();
const operationArbitrary: fc.Arbitrary<Operation> = fc.oneof(...kinds.map((kind) => OPERATION_KINDS[kind]));

/** Drops every primary operation on a device that already has one earlier in the batch. */
function onePrimaryPerDevice(operations: readonly Operation[]): Operation[] {
  const taken = new Set<number>();
  return operations.filter((operation) => {
    if (!isPrimary(operation)) return true;
    if (taken.has(operation.device)) return false;
    taken.add(operation.device);
    return true;
  });
}

// ---------------------------------------------------------------------------------------------------------
// The app, the database, and one sequence's state

let app: INestApplication;
let baseUrl: string;
let db: TestDatabase;
let serverVersion = 'MongoDB';
/**
 * `true` on FerretDB 1.x, which checks a filter, then writes, not atomically: an update (or a conditional
 * delete) racing an update of the same document may match it although the other one has just changed it
 * (an expiry overwritten by a save at the same moment: 270 of 500 such pairs here). There the test's expiry,
 * an update of `expires`, can be undone by a request of the same session using the document at that moment,
 * which the clock passing `expires` cannot: such an overlap leaves the outcome open. Plain deletes are safe.
 */
let nonAtomicUpdates = false;
const runTag = Math.random().toString(36).slice(2, 8);
const totals = { sequences: 0, batches: 0, operations: 0 };
let operationCounter = 0;

/** What must be true: which devices hold a live session. */
interface Model {
  alive: boolean[];
}

/** The system: the users of this sequence and the cookie each device holds. */
interface Real {
  users: string[];
  cookies: string[];
}

const http = () => request(baseUrl);

/** Sends the device's cookie, and names the request for `handlersRun`. */
function asDevice(test: request.Test, cookie: string, name: string): request.Test {
  return test.set('Cookie', cookie).set(OPERATION_HEADER, name);
}

/** The session cookie pair a response set, or `undefined` when it set none or cleared it. */
function sessionCookieSetBy(response: Response): string | undefined {
  const pair = setCookieFor(response)?.split(';')[0];
  return pair && pair.length > pair.indexOf('=') + 1 ? pair : undefined;
}

function outcomeOf(operation: Operation, name: string, response: Response): Outcome {
  const body = response.body as { userId?: unknown } | undefined;
  return {
    operation,
    name,
    status: response.status,
    setCookie: sessionCookieSetBy(response),
    userId: response.status === 200 && typeof body?.userId === 'string' ? body.userId : undefined,
  };
}

async function perform(operation: Operation, real: Real): Promise<Outcome> {
  const name = `op-${(operationCounter += 1)}`;
  const cookie = real.cookies[operation.device];
  const user = real.users[userOf(operation.device)];
  const send = async (test: request.Test) => outcomeOf(operation, name, await asDevice(test, cookie, name));
  switch (operation.kind) {
    case 'login':
      return send(http().post('/m/login').send({ userId: user }));
    case 'read':
      return send(http().get('/m/whoami'));
    case 'write':
      return send(http().post('/m/write'));
    case 'slowWrite':
      return send(http().post(`/m/write?hold=${operation.holdMs}`));
    case 'rotate':
      return send(http().post(`/m/rotate?hold=${operation.holdMs}`));
    case 'logout':
      return send(http().post('/m/logout'));
    case 'logoutEverywhere':
      return send(http().post('/m/logout-everywhere'));
    case 'passwordChange':
      return send(http().post(`/m/password?hold=${operation.holdMs}`));
    case 'revoke': {
      const listing = await asDevice(http().get('/m/sessions'), cookie, name);
      if (listing.status !== 200) return outcomeOf(operation, name, listing);
      const listed = listing.body as ListedSession[];
      // As a UI would: the entry of the target's session; a stale handle when it is no longer listed.
      const wanted = handleOf(real.cookies[operation.target]);
      const handle = listed.find((entry) => entry.handle === wanted)?.handle ?? wanted;
      const response = await asDevice(http().delete(`/m/sessions/${handle}`), cookie, name);
      const body = response.body as { revoked?: unknown };
      const revoked = response.status === 200 ? body.revoked === true : undefined;
      return { ...outcomeOf(operation, name, response), revoked, listed };
    }
    case 'expire': {
      const now = new Date();
      const { matchedCount } = await db
        .sessions()
        .updateOne(
          { _id: storedIdOf(cookie), expires: { $gt: now } },
          { $set: { expires: new Date(now.getTime() - 1000) } },
        );
      return { operation, name, expired: matchedCount > 0, expiredAt: tick() };
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Judging a batch

type State = 'alive' | 'dead' | 'either';

/** What the model says of a device after a batch, and why. */
interface Expectation {
  state: State;
  cookie: string;
  reason: string;
}

/** A batch's outcomes, with the questions the judge asks of them. */
class BatchRecord {
  constructor(readonly outcomes: readonly Outcome[]) {}

  /** The primary operation on `device`, if any. */
  primaryOn(device: number): Outcome | undefined {
    return this.outcomes.find((outcome) => isPrimary(outcome.operation) && outcome.operation.device === device);
  }

  /** Per-user deletions by another device of the same user whose handler ran: they end `device`'s session. */
  endersOf(device: number): Outcome[] {
    return this.outcomes.filter(
      ({ operation, name }) =>
        (operation.kind === 'logoutEverywhere' || operation.kind === 'passwordChange') &&
        operation.device !== device &&
        userOf(operation.device) === userOf(device) &&
        handlersRun.has(name),
    );
  }

  /** Revocations and expiries that found `device`'s session live and ended it. */
  hitsOn(device: number): Outcome[] {
    return this.outcomes.filter(
      ({ operation, expired, revoked }) =>
        (operation.kind === 'expire' && operation.device === device && expired === true) ||
        (operation.kind === 'revoke' && operation.target === device && revoked === true),
    );
  }

  /**
   * `true` when a request of the batch sent `device`'s cookie and its handler was about to use the session's
   * document (touch, save or rotate it) before `expiry` was done: on a server whose updates are not atomic
   * (`nonAtomicUpdates`), the two may both have matched the live document.
   */
  overlapsExpiry(device: number, expiry: Outcome): boolean {
    return this.outcomes.some(
      ({ operation, name }) =>
        operation.device === device &&
        USES_DOCUMENT.has(operation.kind) &&
        (handlersRun.get(name) ?? Number.POSITIVE_INFINITY) < expiry.expiredAt!,
    );
  }

  /** `true` when an operation of the batch other than `except` could end the session `device` started with. */
  couldEnd(device: number, except?: Outcome): boolean {
    return this.outcomes.some(({ operation }, index) => {
      if (this.outcomes[index] === except) return false;
      if (operation.kind === 'expire') return operation.device === device;
      if (operation.kind === 'revoke') return operation.target === device;
      if (isPrimary(operation) && operation.device === device) return true;
      return (
        (operation.kind === 'logoutEverywhere' || operation.kind === 'passwordChange') &&
        userOf(operation.device) === userOf(device)
      );
    });
  }

  describe(): string {
    return this.outcomes.map(describeOutcome).join('; ');
  }
}

/** The state each device must be in after the batch. */
function expectationFor(device: number, wasAlive: boolean, cookie: string, batch: BatchRecord): Expectation {
  const primary = batch.primaryOn(device);
  // An expiry that may have been overwritten (see `nonAtomicUpdates`) ends the session, or not.
  const uncertain = (hit: Outcome) =>
    nonAtomicUpdates && hit.operation.kind === 'expire' && batch.overlapsExpiry(device, hit);
  const hits = batch.hitsOn(device).filter((hit) => !uncertain(hit));
  const maybeHit = batch.hitsOn(device).some(uncertain);
  const enders = batch.endersOf(device);
  const enderNames = [...hits, ...enders].map((outcome) => describeOperation(outcome.operation)).join(', ');
  const maybeExpired = `expire(${deviceName(device)}) racing a request of the session on ${serverVersion}`;
  const kept = (reason: string): Expectation =>
    !wasAlive
      ? { state: 'dead', cookie, reason: 'it was dead before the batch' }
      : enderNames
        ? { state: 'dead', cookie, reason: `ended by ${enderNames}` }
        : maybeHit
          ? { state: 'either', cookie, reason: maybeExpired }
          : { state: 'alive', cookie, reason };
  if (!primary) return kept('nothing in the batch ended it');
  const next = primary.setCookie ?? cookie;
  switch (primary.operation.kind) {
    case 'logout':
    case 'logoutEverywhere':
      return { state: 'dead', cookie, reason: `it ran ${primary.operation.kind}` };
    case 'login':
      if (enders.length > 0) return { state: 'either', cookie: next, reason: 'a login racing a per-user deletion' };
      return { state: 'alive', cookie: next, reason: 'it logged in and no per-user deletion ran' };
    case 'rotate':
      return { ...kept('it rotated and nothing ended it'), cookie: next };
    case 'passwordChange':
      if (!handlersRun.has(primary.name)) return kept('its password change was refused with nothing ending it');
      if (hits.length > 0) return { state: 'dead', cookie: next, reason: `its rotation raced ${enderNames}` };
      if (enders.length > 0) return { state: 'either', cookie: next, reason: `a password change racing ${enderNames}` };
      if (maybeHit) return { state: 'either', cookie: next, reason: maybeExpired };
      return { state: 'alive', cookie: next, reason: 'it changed its password and nothing ended it' };
    default:
      throw new Error(`not a primary operation: ${describeOperation(primary.operation)}`);
  }
}

/** Status and cookie checks on each answer, against the state of its device when the batch started. */
function answerProblems(batch: BatchRecord, model: Model, real: Real): string[] {
  const problems: string[] = [];
  for (const outcome of batch.outcomes) {
    const { operation, status, setCookie } = outcome;
    if (operation.kind === 'expire' || status === undefined) continue;
    const label = describeOutcome(outcome);
    const device = operation.device;
    const sentId = storedIdOf(real.cookies[device]);
    const open = operation.kind === 'login' || operation.kind === 'logout';
    const expected = open
      ? 200
      : !model.alive[device]
        ? 401
        : batch.couldEnd(device, isPrimary(operation) ? outcome : undefined)
          ? undefined
          : 200;
    if (status !== 200 && status !== 401) problems.push(`${label}: answered ${status}, neither 200 nor 401`);
    else if (expected !== undefined && status !== expected) problems.push(`${label}: expected ${expected}`);
    if (outcome.userId !== undefined && outcome.userId !== real.users[userOf(device)]) {
      problems.push(`${label}: answered for user ${outcome.userId}`);
    }
    const rotates = operation.kind === 'login' || operation.kind === 'rotate' || operation.kind === 'passwordChange';
    if (rotates && status === 200 && !setCookie) problems.push(`${label}: rotated the id but set no cookie`);
    if (rotates && status !== 200 && setCookie) problems.push(`${label}: refused, yet set a session cookie`);
    if (!rotates && setCookie && storedIdOf(setCookie) !== sentId) {
      problems.push(`${label}: set a cookie for another session id (${shortId(setCookie)})`);
    }
    for (const entry of outcome.listed ?? []) {
      if (entry.data.userId !== real.users[userOf(device)]) problems.push(`${label}: listed another user's session`);
      const deadBefore = real.cookies.findIndex(
        (cookie, other) => userOf(other) === userOf(device) && !model.alive[other] && handleOf(cookie) === entry.handle,
      );
      if (deadBefore >= 0) problems.push(`${label}: listed ${deviceName(deadBefore)}'s session, dead before the batch`);
    }
  }
  return problems;
}

/** The live (not expired) sessions of each user of the sequence; and those of `otherIds` that are anyone else's. */
async function liveSessions(users: readonly string[], otherIds: readonly string[]) {
  const documents = await db
    .sessions()
    .find(
      {
        $or: [{ 'session.userId': { $in: [...users] } }, { _id: { $in: [...otherIds] } }],
        expires: { $gt: new Date() },
      },
      { projection: { _id: 1, handle: 1, 'session.userId': 1 } },
    )
    .toArray();
  for (const doc of documents) if (doc.handle !== undefined) knownHandles.set(doc._id, doc.handle);
  const idsOf = (user: unknown) => documents.filter((doc) => doc.session.userId === user).map((doc) => doc._id);
  return {
    byUser: users.map((user) => new Set(idsOf(user))),
    others: new Set(documents.filter((doc) => !users.includes(doc.session.userId as string)).map((doc) => doc._id)),
  };
}

/** Whether a guarded route serves the cookie, as its user. */
async function servedAs(cookie: string, user: string): Promise<boolean | string> {
  const response = await http().get('/m/whoami').set('Cookie', cookie);
  if (response.status === 401) return false;
  const body = response.body as { userId?: unknown };
  return response.status === 200 && body.userId === user ? true : `answered ${response.status} ${JSON.stringify(body)}`;
}

/** Compares the system with the model after a batch; adopts the observed outcome where either is allowed. */
async function judge(batch: BatchRecord, model: Model, real: Real): Promise<void> {
  const problems = answerProblems(batch, model, real);
  const expectations = real.cookies.map((cookie, device) => expectationFor(device, model.alive[device], cookie, batch));
  const issued = batch.outcomes.flatMap((outcome) => (outcome.setCookie ? [outcome] : []));
  const live = await liveSessions(
    real.users,
    issued.map((outcome) => storedIdOf(outcome.setCookie!)),
  );
  const liveIds = live.byUser;
  const alive = expectations.map((expectation, device) => liveIds[userOf(device)].has(storedIdOf(expectation.cookie)));

  expectations.forEach((expectation, device) => {
    if (expectation.state === 'either' || (expectation.state === 'alive') === alive[device]) return;
    const observed = alive[device] ? 'is live in the collection' : 'is gone from the collection';
    problems.push(
      `${deviceName(device)} must be ${expectation.state} (${expectation.reason}), ` +
        `but its session ${shortId(expectation.cookie)} ${observed}`,
    );
  });

  // (a) every device's cookie, and every cookie replaced in this batch, answers as the collection says.
  const probes = [
    ...expectations.map((expectation, device) => ({ cookie: expectation.cookie, device, live: alive[device] })),
    ...real.cookies
      .map((cookie, device) => ({ cookie, device, live: false }))
      .filter(({ cookie, device }) => cookie !== expectations[device].cookie),
  ];
  const served = await Promise.all(probes.map(({ cookie, device }) => servedAs(cookie, real.users[userOf(device)])));
  probes.forEach(({ cookie, device, live }, index) => {
    if (served[index] === live) return;
    const what = typeof served[index] === 'string' ? served[index] : served[index] ? 'served' : 'refused (401)';
    const kind = cookie === expectations[device].cookie ? 'cookie' : 'replaced cookie';
    problems.push(`${deviceName(device)}'s ${kind} ${shortId(cookie)} is ${live ? 'live' : 'dead'}, yet ${what}`);
  });

  // (b) each user's live documents are exactly the sessions of its live devices.
  real.users.forEach((user, index) => {
    const held = new Set(
      expectations.filter((_, device) => alive[device] && userOf(device) === index).map((e) => storedIdOf(e.cookie)),
    );
    const stray = [...liveIds[index]].filter((id) => !held.has(id)).map((id) => id.slice(0, 6));
    if (stray.length > 0) {
      problems.push(`user ${'AB'[index]} has live sessions that no live device holds: ${stray.join(', ')}`);
    }
  });

  // A session a response issued that belongs to nobody (no user of the sequence) must not be stored either.
  for (const outcome of issued) {
    if (live.others.has(storedIdOf(outcome.setCookie!))) {
      problems.push(`${describeOutcome(outcome)}: its session is stored and live, with no user of this sequence`);
    }
  }

  const report = `after the batch [${batch.describe()}]`;
  for (const outcome of batch.outcomes) handlersRun.delete(outcome.name);
  if (problems.length > 0) {
    const devices = real.cookies.map(
      (cookie, device) => `${deviceName(device)}=${model.alive[device] ? 'alive' : 'dead'}:${shortId(cookie)}`,
    );
    throw new Error(`${report}\nbefore it: ${devices.join(' ')}\n- ${problems.join('\n- ')}`);
  }
  expectations.forEach((expectation, device) => {
    model.alive[device] = alive[device]!;
    real.cookies[device] = expectation.cookie;
  });
}

/** A batch: its operations run at once; then the system is compared with the model. */
class Batch implements AsyncCommand<Model, Real> {
  constructor(readonly operations: readonly Operation[]) {}

  check(): boolean {
    return true;
  }

  async run(model: Model, real: Real): Promise<void> {
    const outcomes = await Promise.all(this.operations.map((operation) => perform(operation, real)));
    totals.batches += 1;
    totals.operations += outcomes.length;
    await judge(new BatchRecord(outcomes), model, real);
  }

  toString(): string {
    return `batch(${this.operations.map(describeOperation).join(', ')})`;
  }
}

const batchArbitrary = fc
  .array(operationArbitrary, { minLength: MIN_OPERATIONS, maxLength: MAX_OPERATIONS })
  .map((operations) => new Batch(onePrimaryPerDevice(operations)));

/** A new pair of users, every device logged in. */
async function startSequence(): Promise<{ model: Model; real: Real }> {
  totals.sequences += 1;
  const users = Array.from({ length: USERS }, (_, index) => `model-${runTag}-${totals.sequences}-${'ab'[index]}`);
  const responses = await Promise.all(
    Array.from({ length: DEVICES }, (_, device) =>
      http()
        .post('/m/login')
        .send({ userId: users[userOf(device)] }),
    ),
  );
  const cookies = responses.map((response) => {
    const cookie = sessionCookieSetBy(response);
    if (response.status !== 200 || !cookie) throw new Error(`setup login answered ${response.status} without a cookie`);
    return cookie;
  });
  await liveSessions(users, []); // learns their handles
  return { model: { alive: cookies.map(() => true) }, real: { users, cookies } };
}

beforeAll(async () => {
  db = new TestDatabase();
  const info = await db.sessions().db.admin().command({ buildInfo: 1 });
  nonAtomicUpdates = typeof info.ferretdbVersion === 'string';
  serverVersion = nonAtomicUpdates ? `FerretDB ${String(info.ferretdbVersion)}` : `MongoDB ${String(info.version)}`;
  // touchAfter 0: every request that loads a session writes to it at the end, the harder case.
  ({ app, url: baseUrl } = await startModelApp({
    secret: 'model-test-secret',
    uri: mongoUri(),
    dbName: db.name,
    autoRemove: autoRemoveMode(),
    touchAfter: 0,
  }));
});

afterAll(async () => {
  await app?.close();
  await db?.close();
});

it(
  `keeps the model's sessions, and only those, alive through ${runs} sequences of concurrent batches`,
  async () => {
    const started = Date.now();
    const sequences = fc.commands([batchArbitrary], { maxCommands: MAX_BATCHES, replayPath: commandsReplayPath });
    const property = fc.asyncProperty(sequences, async (batches) => {
      fc.pre([...batches].length > 0);
      let users: string[] = [];
      try {
        await fc.asyncModelRun(async () => {
          const setup = await startSequence();
          users = setup.real.users;
          return setup;
        }, batches);
      } finally {
        // Keep the collection small: FerretDB's SQLite backend scans it on per-user queries.
        // Sessions without a user are none of this test's: only a refused rotation may leave one (a finding).
        await db
          .sessions()
          .deleteMany({ $or: [{ 'session.userId': { $in: users } }, { 'session.userId': { $exists: false } }] });
      }
    });
    const details = await fc.check(property, { numRuns: runs, seed, path: replayPath });
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    process.stdout.write(
      `model: ${details.numRuns} sequences, ${totals.batches} batches, ${totals.operations} operations ` +
        `(shrinking included), seed ${details.seed}, ${seconds} s${details.failed ? ', FAILED' : ''}\n`,
    );
    if (details.failed) {
      const replay = /replayPath="([^"]*)"/.exec(fc.stringify(details.counterexample))?.[1];
      process.stdout.write(
        `model: replay with MODEL_SEED=${details.seed} MODEL_PATH=${details.counterexamplePath}` +
          `${replay ? ` MODEL_REPLAY_PATH=${replay}` : ''}\n`,
      );
      const error = details.errorInstance;
      const cause = error instanceof Error ? error.message : String(error);
      throw new Error(`${fc.defaultReportMessage(details) ?? 'the model test failed'}\n\n${cause}`);
    }
  },
  60_000 + runs * TIMEOUT_PER_SEQUENCE_MS,
);

// ---------------------------------------------------------------------------------------------------------
// Tabs of one session
//
// Several tabs of one logged-in session send batches of concurrent requests: set/unset of keys they share and
// set of keys only one of them writes, in-place changes (a push onto a list loaded from the session), slow and
// fast; and, in some batches, a rotation (`regenerate({ keep })`, all data or the login and some keys), a
// logout, or an expiry forced in the collection after some of the batch's answers. After each batch settles,
// the model says which value each key holds, or that the session is gone:
// - every write answered 200 is in the collection: a key written once holds exactly that write (on the
//   rotated session when a rotation answered 200 and kept it), a key written by several concurrent requests
//   holds one of the values answered 200, a key nobody wrote (or whose writes were all refused) is as it was,
//   a key a rotation did not keep is gone; a write answered 401 (only in a batch that rotates, logs out or
//   expires the session) stored nothing, and cleared the cookie when its handler ran (its change was refused);
// - a rotation answered 200 moved the session to its new id (the old one has no document, and was not expired
//   before the rotation deleted it); answered 401, the session was ended by the logout or the expiry of its
//   batch, and no live document of it is left;
// - after a logout no document of the session exists; after an expiry none is live, and the expired one holds
//   the writes answered 200; then the old cookie is answered 401 and a write with it stores nothing, in that
//   batch and every later one.
// Where the race leaves the order open, the observed outcome is adopted where the promise allows both: a
// rotation answered 200 ran before the logout or expiry of its batch (which then found the old id gone); a
// logout after the expiry found no session to delete (the expired document stays, as after an expiry); on a
// server whose updates are not atomic (`nonAtomicUpdates`), an expiry overlapping a request of the session
// (its handler ran before the expiry, its answer came after it began) may be undone by that request's write.
// MODEL_TABS_RUNS=<n> sets the number of sequences; MODEL_SEED (and MODEL_TABS_PATH, printed on failure) replay;
// MODEL_TABS_OPS=logout,expire (an empty value: writes only) the session operations mixed into the batches.
// A write refused because a concurrent rotation did not keep what it changed (401) leaves the cookie: the session
// lives on under its new id, which the browser may hold already; the summary counts clearings after a rotation.

/** Sequences of the tabs property run by default: about 0.1 s each on the 2-core machine (20 s). */
const DEFAULT_TAB_RUNS = 200;
const tabRuns = Number(process.env.MODEL_TABS_RUNS ?? DEFAULT_TAB_RUNS);
const tabsReplayPath = process.env.MODEL_TABS_PATH;
/** Keys every tab writes: concurrent writes of one of them race, and one of them wins. */
const SHARED_KEYS = ['theme', 'cart', 'lang'];
/** The login's keys: every rotation keeps them, no tab writes them. */
const LOGIN_KEYS = ['userId', 'username', 'role'];
/** Fields the library keeps in the stored session beside the data: express-session's cookie, the CSRF token. */
const LIBRARY_FIELDS = ['cookie', '__csrf'];
const TAB_HOLD = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 20 }));

/**
 * One request of a tab: set, unset or push onto (in place) a shared key, or set a key of its own; its handler
 * holds the loaded session `holdMs` first.
 */
interface TabWrite {
  kind: 'set' | 'unset' | 'push' | 'own';
  key: string;
  holdMs: number;
}

/** A batch of the tabs property: its writes, and at most one rotation, one logout and one expiry beside them. */
interface TabBatch {
  writes: TabWrite[];
  /** `regenerate({ keep })` after `holdMs`: `keep` the shared keys kept beside the login; absent: `keep: true`. */
  rotate?: { holdMs: number; keep?: string[] };
  logout?: boolean;
  /** The expiry is forced in the collection once `afterAnswers` of the batch's requests are answered (all, at most). */
  expire?: { afterAnswers: number };
}

const tabWriteArbitrary: fc.Arbitrary<TabWrite> = fc.record({
  kind: fc.constantFrom<TabWrite['kind']>('set', 'set', 'unset', 'push', 'own'),
  key: fc.constantFrom(...SHARED_KEYS),
  holdMs: TAB_HOLD,
});
/** `undefined` most of the time, else a value of `arbitrary`. */
const sometimes = <T>(arbitrary: fc.Arbitrary<T>, weight: number) =>
  fc.oneof({ arbitrary: fc.constant(undefined), weight: 10 - weight }, { arbitrary, weight });
const tabBatchArbitrary: fc.Arbitrary<TabBatch> = fc
  .record({
    writes: fc.array(tabWriteArbitrary, { minLength: 2, maxLength: 8 }),
    rotate: sometimes(
      fc.record({ holdMs: TAB_HOLD, keep: fc.option(fc.subarray(SHARED_KEYS), { nil: undefined }) }),
      4,
    ),
    logout: sometimes(fc.constant(true), 1),
    expire: sometimes(fc.record({ afterAnswers: fc.integer({ min: 0, max: 10 }) }), 1),
  })
  .map(({ writes, ...rest }) => {
    // At most one in-place change of a key per batch: the others of the same key become sets.
    const pushed = new Set<string>();
    const unique = writes.map((write): TabWrite => {
      if (write.kind !== 'push') return write;
      if (pushed.has(write.key)) return { ...write, kind: 'set' };
      pushed.add(write.key);
      return write;
    });
    return { writes: unique, ...rest };
  });
/** The session operations `MODEL_TABS_OPS` names (comma-separated: rotate, logout, expire), or all of them. */
const TAB_OPERATIONS = ['rotate', 'logout', 'expire'] as const;
const tabOperations = ((): ReadonlySet<string> => {
  const named = process.env.MODEL_TABS_OPS?.split(',')
    .map((operation) => operation.trim())
    .filter(Boolean);
  if (named === undefined) return new Set(TAB_OPERATIONS);
  const unknown = named.filter((operation) => !(TAB_OPERATIONS as readonly string[]).includes(operation));
  if (unknown.length > 0)
    throw new Error(`MODEL_TABS_OPS: unknown ${unknown.join(', ')}; known: ${TAB_OPERATIONS.join(', ')}`);
  return new Set(named);
})();
const tabBatchesArbitrary = fc.array(
  tabBatchArbitrary.map((batch): TabBatch => ({
    writes: batch.writes,
    rotate: tabOperations.has('rotate') ? batch.rotate : undefined,
    logout: tabOperations.has('logout') ? batch.logout : undefined,
    expire: tabOperations.has('expire') ? batch.expire : undefined,
  })),
  { minLength: 1, maxLength: 5 },
);

function describeTabBatch(batch: TabBatch): string {
  const parts = batch.writes.map((write) => `${write.kind}(${write.key}, ${write.holdMs} ms)`);
  if (batch.rotate) parts.push(`rotate(${batch.rotate.keep?.join('+') ?? 'all'}, ${batch.rotate.holdMs} ms)`);
  if (batch.logout) parts.push('logout');
  if (batch.expire) parts.push(`expire(after ${batch.expire.afterAnswers} answers)`);
  return parts.join(', ');
}

/** A request of a tab's batch and what it observed. */
interface TabAnswer {
  name: string;
  status: number;
  /** The session cookie pair the answer set, when it set one with a value. */
  setCookie?: string;
  /** The answer cleared the session cookie. */
  cleared: boolean;
  /** The logical time (`tick`) at which the answer came. */
  answeredAt: number;
}

/** A write of a batch: its key and the value it sets (`undefined`: removes; for a push, the value appended). */
interface TabWriteAnswer extends TabAnswer {
  write: TabWrite;
  key: string;
  value: unknown;
}

/** What the forced expiry observed. */
interface TabExpiry {
  /** The document was live and is now expired. */
  expired: boolean;
  startedAt: number;
  expiredAt: number;
}

/** The `n`-th of `promises` to settle has settled (at once for 0). */
function settledCount(promises: readonly Promise<unknown>[], n: number): Promise<void> {
  return new Promise((resolve) => {
    let settled = 0;
    if (n <= 0) resolve();
    for (const promise of promises) {
      void promise.finally(() => {
        if ((settled += 1) === n) resolve();
      });
    }
  });
}

const show = (value: unknown): string => JSON.stringify(value) ?? 'unset';

/** What the tabs property went through, for its summary line. */
const tabTotals = {
  batches: 0,
  writes: 0,
  refusedWrites: 0,
  rotated: 0,
  refusedRotations: 0,
  logouts: 0,
  expiries: 0,
  openExpiries: 0,
  undoneExpiries: 0,
  clearedAfterRotation: 0,
};

describe('tabs of one session', () => {
  let tabsApp: INestApplication;
  let tabsUrl = '';
  const tabsCollection = 'tab_sessions';

  beforeAll(async () => {
    ({ app: tabsApp, url: tabsUrl } = await startTabsApp({
      secret: 'model-test-secret',
      uri: mongoUri(),
      dbName: db.name,
      collectionName: tabsCollection,
      autoRemove: autoRemoveMode(),
      storeTimeoutMs: 20_000,
    }));
  });

  afterAll(async () => {
    await tabsApp?.close();
  });

  const documents = () => db.sessions(tabsCollection);
  const tabs = () => request(tabsUrl);
  const isLive = (document: { expires?: Date } | null): boolean => (document?.expires?.getTime() ?? 0) > Date.now();

  async function send(test: request.Test, cookie: string, name: string): Promise<TabAnswer> {
    const response = await test.set('Cookie', cookie).set(OPERATION_HEADER, name);
    const line = setCookieFor(response);
    return {
      name,
      status: response.status,
      setCookie: sessionCookieSetBy(response),
      cleared: line !== undefined && sessionCookieSetBy(response) === undefined,
      answeredAt: tick(),
    };
  }

  /** The session's state between batches: its cookie, the values the model says it holds, or how it ended. */
  interface TabsState {
    user: string;
    cookie: string;
    values: Map<string, unknown>;
    gone?: 'logout' | 'expiry';
    /** The expired document's data as it was once the session expired (it must not change afterwards). */
    expiredData?: string;
  }

  /** Runs one batch: its writes, rotation and logout at once, the expiry after some of their answers. */
  async function runBatch(batch: TabBatch, batchIndex: number, state: TabsState) {
    const name = () => `tab-${(operationCounter += 1)}`;
    const writes = batch.writes.map((write, index) => {
      const key = write.kind === 'own' ? `own${batchIndex}x${index}` : write.key;
      const value = write.kind === 'unset' ? undefined : `${batchIndex}.${index}`;
      const route = write.kind === 'own' ? 'set' : write.kind;
      const path = `/t/${route}/${key}?hold=${write.holdMs}`;
      return { write, key, value, answer: send(tabs().post(path).send({ value }), state.cookie, name()) };
    });
    const rotate = batch.rotate;
    const rotation =
      rotate &&
      send(
        tabs().post(`/t/rotate?hold=${rotate.holdMs}${rotate.keep ? `&keep=${rotate.keep.join(',')}` : ''}`),
        state.cookie,
        name(),
      );
    const logout = batch.logout ? send(tabs().post('/t/logout'), state.cookie, name()) : undefined;
    const requests: Promise<TabAnswer>[] = [...writes.map(({ answer }) => answer)];
    if (rotation) requests.push(rotation);
    if (logout) requests.push(logout);
    const expiry = batch.expire
      ? settledCount(requests, Math.min(batch.expire.afterAnswers, requests.length)).then(async () => {
          const startedAt = tick();
          const now = new Date();
          const { matchedCount } = await documents().updateOne(
            { _id: storedIdOf(state.cookie), expires: { $gt: now } },
            { $set: { expires: new Date(now.getTime() - 1000) } },
          );
          return { expired: matchedCount > 0, startedAt, expiredAt: tick() } satisfies TabExpiry;
        })
      : undefined;
    const writeAnswers: TabWriteAnswer[] = await Promise.all(
      writes.map(async ({ write, key, value, answer }) => ({ ...(await answer), write, key, value })),
    );
    return { writes: writeAnswers, rotation: await rotation, logout: await logout, expiry: await expiry };
  }

  type TabOutcomes = Awaited<ReturnType<typeof runBatch>>;

  function describeOutcomes(outcomes: TabOutcomes): string {
    const answer = (label: string, { name, status, setCookie, cleared }: TabAnswer) => {
      const handled = handlersRun.get(name);
      return (
        `${label} -> ${status}${setCookie ? ` set sid ${shortId(setCookie)}` : ''}${cleared ? ' cleared' : ''}` +
        (handled === undefined ? '' : ` (handler ran at t${handled})`)
      );
    };
    const parts = outcomes.writes.map((write) =>
      answer(`${write.write.kind}(${write.key}=${show(write.value)})`, write),
    );
    if (outcomes.rotation) parts.push(answer('rotate', outcomes.rotation));
    if (outcomes.logout) parts.push(answer('logout', outcomes.logout));
    const { expiry } = outcomes;
    if (expiry) {
      parts.push(
        `expire -> ${expiry.expired ? 'expired a live session' : 'matched nothing'} ` +
          `(t${expiry.startedAt}-t${expiry.expiredAt})`,
      );
    }
    return parts.join('; ');
  }

  /** The values a key may hold after the batch, by the writes answered 200 (none: as it was before). */
  function allowedValues(key: string, before: unknown, writes: readonly TabWriteAnswer[]): unknown[] {
    const answered = writes.filter((write) => write.key === key && write.status === 200);
    if (answered.length === 0) return [before];
    return answered.flatMap((write) => {
      if (write.write.kind !== 'push') return [write.value];
      // The list it appended to: as before the batch, or as another write of the batch left it.
      const bases = [before, ...answered.filter((other) => other !== write).map((other) => other.value)];
      return bases.map((base) => (Array.isArray(base) ? [...(base as unknown[]), write.value] : [write.value]));
    });
  }

  /**
   * Checks the data of the session's document against the model and the batch's answers; returns the values
   * the model holds next. `kept`: the shared keys a rotation answered 200 kept (all: `undefined`).
   */
  function checkData(
    stored: Record<string, unknown>,
    state: TabsState,
    writes: readonly TabWriteAnswer[],
    kept: readonly string[] | undefined,
    problems: string[],
  ): Map<string, unknown> {
    const next = new Map<string, unknown>();
    if (stored.userId !== state.user) problems.push(`the login is gone: userId holds ${show(stored.userId)}`);
    const keys = new Set([...state.values.keys(), ...writes.map((write) => write.key)]);
    for (const key of keys) {
      const dropped = kept !== undefined && !kept.includes(key);
      const allowed = dropped ? [undefined] : allowedValues(key, state.values.get(key), writes);
      if (!allowed.some((value) => show(value) === show(stored[key]))) {
        const why = dropped ? 'the rotation did not keep it' : `allowed: ${allowed.map(show).join(', ')}`;
        problems.push(`${key} holds ${show(stored[key])}; ${why}`);
      }
      if (stored[key] !== undefined) next.set(key, stored[key]);
    }
    const stray = Object.keys(stored).filter(
      (key) => !keys.has(key) && !LOGIN_KEYS.includes(key) && !LIBRARY_FIELDS.includes(key),
    );
    if (stray.length > 0) problems.push(`keys nobody wrote are stored: ${stray.join(', ')}`);
    return next;
  }

  /** The session is gone: no live document of it, its cookie is refused, and the expired document unchanged. */
  async function checkGone(state: TabsState, problems: string[]): Promise<void> {
    const live = await documents().countDocuments({ 'session.userId': state.user, expires: { $gt: new Date() } });
    if (live > 0) problems.push(`the session is gone (${state.gone}), yet ${live} live document(s) of it`);
    const probe = await send(tabs().get('/t/whoami'), state.cookie, 'probe');
    if (probe.status !== 401) problems.push(`the gone session's cookie is answered ${probe.status}`);
    const all = await documents().find({ 'session.userId': state.user }).toArray();
    if (state.gone === 'logout' && all.length > 0) problems.push(`${all.length} document(s) left after the logout`);
    if (state.gone === 'expiry' && state.expiredData !== undefined) {
      const now = all.find((document) => document._id === storedIdOf(state.cookie));
      if (now && JSON.stringify(now.session) !== state.expiredData) {
        problems.push(`the expired document changed: ${JSON.stringify(now.session)}, was ${state.expiredData}`);
      }
    }
  }

  /** Compares the collection and the answers with the model after a batch; moves the state on. */
  async function judgeTabs(batch: TabBatch, outcomes: TabOutcomes, state: TabsState): Promise<void> {
    const problems: string[] = [];
    const { writes, rotation, logout, expiry } = outcomes;
    // Something of the batch took the old id away: a rotation (either answer), the logout, an expiry that hit.
    const endable = rotation !== undefined || logout !== undefined || expiry?.expired === true;
    const oldId = storedIdOf(state.cookie);
    // Only a rotation moved the session on: it lives under its new id, which the browser may hold already.
    const livesOn = !state.gone && rotation?.status === 200 && logout === undefined && expiry?.expired !== true;
    for (const write of writes) {
      const label = `${write.write.kind}(${write.key}=${show(write.value)})`;
      if (state.gone || (write.status === 401 && endable)) {
        if (write.status !== 401) problems.push(`${label}: answered ${write.status} for a gone session`);
        // Refused because the rotation kept other keys than it changed: clearing would erase the new cookie.
        else if (livesOn && write.cleared) {
          problems.push(`${label}: refused with 401, yet cleared the cookie of a session that lives on`);
        }
        // Its commit found the session ended (its handler ran): the cookie is cleared. Refused by the guard
        // (no live session loaded, the handler never ran): nothing to clear, nothing stored. Beside a rotation
        // answered 200, the refusal may be the rotation's (the cookie stays) whatever else ended the session.
        else if (rotation?.status !== 200 && handlersRun.has(write.name) && !write.cleared) {
          problems.push(`${label}: its change refused with 401, yet the cookie is not cleared`);
        }
      } else if (write.status !== 200) problems.push(`${label}: answered ${write.status}, not 200`);
      if (write.setCookie && storedIdOf(write.setCookie) !== oldId) problems.push(`${label}: set another session id`);
    }
    if (logout && logout.status !== 200) problems.push(`logout: answered ${logout.status}`);
    if (rotation) {
      if (rotation.status === 200) {
        if (state.gone) problems.push('rotate: answered 200 for a gone session');
        if (!rotation.setCookie || storedIdOf(rotation.setCookie) === oldId) problems.push('rotate: no new cookie');
      } else if (rotation.status === 401) {
        if (!state.gone && !logout && !expiry?.expired) problems.push('rotate: answered 401, nothing ended it');
        if (rotation.setCookie) problems.push('rotate: answered 401, yet set a session cookie');
      } else problems.push(`rotate: answered ${rotation.status}`);
    }
    const rotated = rotation?.status === 200 && rotation.setCookie !== undefined ? rotation.setCookie : undefined;
    if (expiry && !expiry.expired && !state.gone && !rotation && !batch.logout) {
      problems.push('expire: the session was live, yet the expiry matched nothing');
    }

    tabTotals.batches += 1;
    tabTotals.writes += writes.length;
    tabTotals.refusedWrites += writes.filter((write) => write.status === 401).length;
    if (rotation?.status === 200) tabTotals.rotated += 1;
    if (rotation?.status === 401) tabTotals.refusedRotations += 1;
    if (rotation?.status === 200) {
      // A browser applies the answers in order: such a clearing erases the rotated cookie it received before.
      tabTotals.clearedAfterRotation += writes.filter(
        (write) => write.cleared && write.answeredAt > rotation.answeredAt,
      ).length;
    }
    if (state.gone) {
      await checkGone(state, problems);
    } else {
      // Which of the batch's enders took effect; where the race leaves it open, what the collection shows.
      const overlapsExpiry =
        expiry !== undefined &&
        [...writes, ...(rotation ? [rotation] : [])].some(
          ({ name, answeredAt }) =>
            (handlersRun.get(name) ?? Number.POSITIVE_INFINITY) < expiry.expiredAt && answeredAt > expiry.startedAt,
        );
      const expiryOpen = nonAtomicUpdates && overlapsExpiry;
      const cookie = rotated ?? state.cookie;
      const document = await documents().findOne({ _id: storedIdOf(cookie) });
      const live = isLive(document);
      let ended: TabsState['gone'];
      if (rotated)
        ended = undefined; // the rotation ran before the logout or expiry, which found the old id gone
      else if (logout && !(expiry?.expired && document))
        ended = 'logout'; // (a logout after the expiry finds no session to delete: the expired document stays)
      else if (expiry?.expired) ended = expiryOpen && live ? undefined : 'expiry';
      if (rotated && expiry?.expired && !expiryOpen) {
        // The expiry hit the old id while it was live, so before the rotation's delete, which must then fail.
        problems.push('rotate: answered 200 although the session it carried over had expired');
      }
      if (ended === 'logout') tabTotals.logouts += 1;
      if (ended === 'expiry') tabTotals.expiries += 1;
      if (expiry?.expired && expiryOpen) tabTotals.openExpiries += 1;
      if (expiry?.expired && !rotated && !batch.logout && !ended) tabTotals.undoneExpiries += 1;
      if (rotated && (await documents().countDocuments({ _id: oldId })) > 0) {
        problems.push(`rotate: the old id's document ${shortId(state.cookie)} is still there`);
      }
      if (!ended) {
        if (!live || !document) problems.push(`the session ${shortId(cookie)} must be live, yet it is not`);
        else {
          const kept = rotated && batch.rotate?.keep ? batch.rotate.keep : undefined;
          state.values = checkData(document.session, state, writes, kept, problems);
          const others = await documents().countDocuments({
            'session.userId': state.user,
            _id: { $ne: storedIdOf(cookie) },
          });
          if (others > 0) problems.push(`${others} other document(s) of the session's user are stored`);
          const served = await send(tabs().get('/t/whoami'), cookie, 'probe');
          if (served.status !== 200) problems.push(`the live session's cookie is answered ${served.status}`);
          if (rotated) {
            const old = await send(tabs().get('/t/whoami'), state.cookie, 'probe');
            if (old.status !== 401) problems.push(`the rotated-away cookie is answered ${old.status}`);
          }
        }
        state.cookie = cookie;
      } else {
        state.gone = ended;
        if (ended === 'expiry' && document && !expiryOpen) {
          // The expired document holds every write answered 200 before the expiry.
          checkData(document.session, state, writes, undefined, problems);
        }
        state.expiredData = document ? JSON.stringify(document.session) : undefined;
        await checkGone(state, problems);
        // A write with the old cookie after the end: refused, nothing stored (checked again by the next batch).
        const late = await send(tabs().post('/t/set/late').send({ value: 'late' }), state.cookie, 'probe');
        if (late.status !== 401) problems.push(`a write after the end is answered ${late.status}`);
        await checkGone(state, problems);
      }
    }
    if (problems.length > 0) {
      throw new Error(
        `after the batch [${describeOutcomes(outcomes)}] on ${serverVersion}` +
          `${state.gone ? ` (session gone: ${state.gone})` : ''}\n- ${problems.join('\n- ')}`,
      );
    }
  }

  // The smallest case the property found before rotations carried concurrent writes: a rotation keeping data
  // copied what its own request loaded, so a write of another tab stored on the old id after that load,
  // answered 200, was not on the rotated session (the old document, which held it, was then deleted). Seed of
  // the property's first failure then: 1452800862, path 0:3:1:1:0:0:0:0:0:0 (two sets of `theme`, a rotation).
  it('keeps a write answered 200 during a rotation that keeps all data on the rotated session', async () => {
    const login = await tabs()
      .post('/t/login')
      .send({ userId: `tabs-${runTag}-rotation` });
    const cookie = sessionCookieSetBy(login)!;
    try {
      // The rotation loads the session, holds it 50 ms, then rotates; the write is stored meanwhile.
      const rotating = tabs()
        .post('/t/rotate?hold=50')
        .set('Cookie', cookie)
        .then((response) => response);
      const write = await tabs().post('/t/set/theme').set('Cookie', cookie).send({ value: 'dark' });
      const rotation = await rotating;
      expect([write.status, rotation.status]).toEqual([200, 200]);
      const rotated = sessionCookieSetBy(rotation)!;
      const document = await documents().findOne({ _id: storedIdOf(rotated) });
      expect(document?.session).toMatchObject({ userId: `tabs-${runTag}-rotation`, theme: 'dark' });
      expect(await documents().countDocuments({ _id: storedIdOf(cookie) })).toBe(0);
    } finally {
      await documents().deleteMany({ 'session.userId': `tabs-${runTag}-rotation` });
    }
  });

  it(
    `stores every answered write of concurrent tabs, through rotations, logouts and expiries, ${tabRuns} sequences`,
    async () => {
      const started = Date.now();
      let sequence = 0;
      const property = fc.asyncProperty(tabBatchesArbitrary, async (batches) => {
        sequence += 1;
        const user = `tabs-${runTag}-${sequence}`;
        const login = await tabs().post('/t/login').send({ userId: user });
        const cookie = sessionCookieSetBy(login);
        if (login.status !== 200 || !cookie) throw new Error(`login answered ${login.status}`);
        const state: TabsState = { user, cookie, values: new Map() };
        try {
          for (const [batchIndex, batch] of batches.entries()) {
            const outcomes = await runBatch(batch, batchIndex, state);
            try {
              await judgeTabs(batch, outcomes, state);
            } catch (error) {
              const message = error instanceof Error ? error.message : String(error);
              throw new Error(`batch ${batchIndex} (${describeTabBatch(batch)}): ${message}`);
            } finally {
              handlersRun.clear();
            }
          }
        } finally {
          await documents().deleteMany({ 'session.userId': user });
        }
      });
      const details = await fc.check(property, { numRuns: tabRuns, seed, path: tabsReplayPath });
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      process.stdout.write(
        `model: tabs: ${details.numRuns} sequences, ${tabTotals.batches} batches, ${tabTotals.writes} writes ` +
          `(${tabTotals.refusedWrites} answered 401), ${tabTotals.rotated} rotations (${tabTotals.refusedRotations} ` +
          `answered 401; ${tabTotals.clearedAfterRotation} writes cleared the cookie after the rotation's answer), ` +
          `${tabTotals.logouts} logouts, ${tabTotals.expiries} expiries (${tabTotals.openExpiries} ` +
          `left open by a racing write, ${tabTotals.undoneExpiries} undone by it) (shrinking included), seed ${details.seed}, ${seconds} s` +
          `${details.failed ? `, FAILED (replay with MODEL_SEED=${details.seed} MODEL_TABS_PATH=${details.counterexamplePath})` : ''}\n`,
      );
      if (details.failed) {
        const error = details.errorInstance;
        const cause = error instanceof Error ? error.message : String(error);
        throw new Error(`${fc.defaultReportMessage(details) ?? 'the tabs property failed'}\n\n${cause}`);
      }
    },
    60_000 + tabRuns * TIMEOUT_PER_SEQUENCE_MS,
  );
});
