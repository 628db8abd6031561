import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { Store, type SessionData } from 'express-session';
import { SESSION_STORE, SessionModule, type SessionModuleOptions } from 'nestjs-typed-session';
import request from 'supertest';
import { cookieFrom, sessionIdOf, storedIdOf } from './support/cookies.js';
import { TestDatabase, type StoredSession } from './support/database.js';
import { scenarioOptions, startScenarioApp } from './scenarios/routes.scenario.js';

// Code that uses the store directly, as express-session's `Store` (admin scripts, tools): get, set, touch,
// destroy, all, length, clear. A direct write updates a live session only; it never creates one, nor brings
// back one that ended.

type Plain = Record<string, unknown>;

const db = new TestDatabase();
const running: INestApplication[] = [];
afterAll(async () => {
  for (const app of running) await app.close();
  await db.close();
});

/** An app with the scenario routes, its store as a direct caller reaches it, and promise forms of the calls. */
async function appWith(overrides: Partial<SessionModuleOptions> = {}) {
  const app = await startScenarioApp(
    SessionModule.forRoot(
      scenarioOptions(db, {
        // touchAfter 0: a touch always writes, so that its effect on the document can be seen.
        touchAfter: 0,
        schema: (data) => {
          const role = (data as { role?: unknown }).role;
          if (role !== undefined && role !== 'admin' && role !== 'member')
            throw new Error('role is not admin or member');
          return data as object;
        },
        ...overrides,
      }),
    ),
  );
  running.push(app);
  const store = app.get<symbol, Store>(SESSION_STORE);
  const http = () => request(app.getHttpServer());
  const call = <T>(run: (done: (error?: Error | null, result?: T) => void) => void) =>
    new Promise<T>((resolve, reject) => run((error, result) => (error ? reject(error) : resolve(result as T))));
  return {
    store,
    http,
    async login(userId: string) {
      return cookieFrom(await http().post('/s/login').send({ userId }).expect(200));
    },
    get: (sid: string) => call<Plain | null>((done) => store.get(sid, done as never)),
    set: (sid: string, session: object) => call<void>((done) => store.set(sid, session as SessionData, done)),
    touch: (sid: string, session: object) => call<void>((done) => store.touch!(sid, session as SessionData, done)),
    destroy: (sid: string) => call<void>((done) => store.destroy(sid, done)),
    all: () => call<Plain[]>((done) => store.all!(done as never)),
    length: () => call<number>((done) => store.length!(done)),
    clear: () => call<void>((done) => store.clear!((error) => done(error))),
  };
}

const documentOf = (cookie: string, collection?: string) =>
  db.sessions(collection).findOne({ _id: storedIdOf(cookie) });
/** A JSON copy: what another process, a script or a file holds of a session (no trace of this store's load). */
const copyOf = (value: unknown) => JSON.parse(JSON.stringify(value)) as Plain;
const unknownId = () => randomBytes(24).toString('base64url');

describe('the store reached directly', () => {
  let app: Awaited<ReturnType<typeof appWith>>;
  beforeAll(async () => {
    app = await appWith();
  });

  it('is the express-session Store the module uses, under the public SESSION_STORE token', () => {
    expect(app.store).toBeInstanceOf(Store);
    expect(typeof app.store.get).toBe('function');
  });

  it('get then set of the object get answered: the change is stored under the hashed key, times kept', async () => {
    const cookie = await app.login('u-round');
    const sid = sessionIdOf(cookie);
    const before = (await documentOf(cookie))!;
    const session = (await app.get(sid))!;
    expect(session).toMatchObject({ userId: 'u-round', role: 'member' });
    session.visits = 3;

    await app.set(sid, session);

    const after = (await documentOf(cookie))!;
    expect(after.session).toMatchObject({ userId: 'u-round', username: 'u-round', role: 'member', visits: 3 });
    expect(after.session.cookie).toEqual(before.session.cookie);
    expect(after).toMatchObject({ handle: before.handle, createdAt: before.createdAt, loginAt: before.loginAt });
    expect(after.lastSeenAt!.getTime()).toBeGreaterThanOrEqual(before.lastSeenAt!.getTime());
    expect(after.expires.getTime()).toBeGreaterThanOrEqual(before.expires.getTime());
    expect(await db.sessions().countDocuments({ _id: sid })).toBe(0); // never under the id itself
    const state = await app.http().get('/s/state').set('Cookie', cookie).expect(200);
    expect(state.body).toMatchObject({ authenticated: true, data: { userId: 'u-round', visits: 3 } });
  });

  it('set of a plain copy (loaded elsewhere) replaces the session data of the live document', async () => {
    const cookie = await app.login('u-copy');
    const sid = sessionIdOf(cookie);
    const before = (await documentOf(cookie))!;
    const copy = copyOf(await app.get(sid));
    delete copy.username;
    copy.role = 'admin';
    copy.visits = 7;

    await app.set(sid, copy);

    const after = (await documentOf(cookie))!;
    expect(after.session).toEqual({ ...before.session, username: undefined, role: 'admin', visits: 7 });
    expect(Object.keys(after.session)).not.toContain('username');
    expect(after.session.userId).toBe('u-copy'); // the field the user-id index reads
    expect(await db.byUser('u-copy')).toHaveLength(1);
    expect(after).toMatchObject({ handle: before.handle, createdAt: before.createdAt, loginAt: before.loginAt });
    expect(after.expires.getTime()).toBeGreaterThanOrEqual(before.expires.getTime());
    const state = await app.http().get('/s/state').set('Cookie', cookie).expect(200);
    expect(state.body).toMatchObject({ authenticated: true, data: { userId: 'u-copy', role: 'admin', visits: 7 } });
  });

  it('set of a plain object without cookie keeps the stored cookie, and the session is served', async () => {
    const cookie = await app.login('u-nocookie');
    const sid = sessionIdOf(cookie);
    const before = (await documentOf(cookie))!;

    await app.set(sid, { userId: 'u-nocookie', username: 'renamed', role: 'member' });

    const after = (await documentOf(cookie))!;
    expect(after.session).toEqual({ ...before.session, username: 'renamed' });
    expect(after.session.cookie).toEqual(before.session.cookie);
    await app.http().get('/s/guarded').set('Cookie', cookie).expect(200, { userId: 'u-nocookie' });
  });

  it('set after destroy is refused and brings nothing back, whether the object was loaded or copied', async () => {
    const cookie = await app.login('u-destroyed');
    const sid = sessionIdOf(cookie);
    const loaded = (await app.get(sid))!;
    const copy = copyOf(loaded);

    await app.destroy(sid);
    expect(await documentOf(cookie)).toBeNull();

    loaded.visits = 1;
    await expect(app.set(sid, loaded)).rejects.toMatchObject({ name: 'SessionEndedError' });
    await expect(app.set(sid, copy)).rejects.toMatchObject({ name: 'SessionEndedError' });
    await expect(app.set(sid, { userId: 'u-destroyed' })).rejects.toThrow(/no live session/i);
    expect(await documentOf(cookie)).toBeNull();
    expect(await db.sessions().countDocuments({ _id: sid })).toBe(0);
    expect(await db.byUser('u-destroyed')).toHaveLength(0);
    await app.http().get('/s/guarded').set('Cookie', cookie).expect(401);
  });

  it('set of an expired session is refused and does not revive it', async () => {
    const cookie = await app.login('u-expired');
    const sid = sessionIdOf(cookie);
    const copy = copyOf(await app.get(sid));
    await db.sessions().updateOne({ _id: storedIdOf(cookie) }, { $set: { expires: new Date(Date.now() - 1000) } });

    await expect(app.set(sid, copy)).rejects.toMatchObject({ name: 'SessionEndedError' });

    expect(await documentOf(cookie)).toBeNull(); // the read found it expired and deleted it
    await app.http().get('/s/guarded').set('Cookie', cookie).expect(401);
  });

  it('set of an id never seen is refused: a direct write never creates a session', async () => {
    const sid = unknownId();
    const total = await db.sessions().countDocuments();

    await expect(app.set(sid, { userId: 'u-never', role: 'member', cookie: { path: '/' } })).rejects.toMatchObject({
      name: 'SessionEndedError',
    });

    expect(await db.sessions().countDocuments()).toBe(total);
    expect(await db.byUser('u-never')).toHaveLength(0);
  });

  it.each<[string, (session: Plain) => void, RegExp]>([
    ['a function', (session) => (session.callback = () => undefined), /callback.*not serializable/],
    ['a class instance', (session) => (session.seen = new Map()), /seen.*Map instance/],
    ['a reserved key', (session) => (session.save = 'nope'), /"save" cannot be stored/],
    ['data the schema refuses', (session) => (session.role = 'superuser'), /schema.*role is not admin or member/],
  ])('set with %s is refused with a clear error, nothing stored', async (_kind, spoil, message) => {
    const cookie = await app.login(`u-bad-${Math.random().toString(36).slice(2, 8)}`);
    const sid = sessionIdOf(cookie);
    const before = (await documentOf(cookie))!;
    const loaded = (await app.get(sid))!;
    const copy = copyOf(loaded);
    spoil(loaded);
    spoil(copy);

    await expect(app.set(sid, loaded)).rejects.toMatchObject({ name: 'SessionDataError', message });
    await expect(app.set(sid, copy)).rejects.toMatchObject({ name: 'SessionDataError', message });

    const after = (await documentOf(cookie))!;
    expect(after.session).toEqual(before.session);
    expect(after.lastSeenAt).toEqual(before.lastSeenAt);
  });

  it('touch slides the expiry of a live session; of an unknown or ended one is refused, nothing created', async () => {
    const cookie = await app.login('u-touch');
    const sid = sessionIdOf(cookie);
    // Last seen a minute ago: the touch must move it to now.
    const minuteAgo = new Date(Date.now() - 60_000);
    await db.sessions().updateOne({ _id: storedIdOf(cookie) }, { $set: { lastSeenAt: minuteAgo } });
    const before = (await documentOf(cookie))!;

    await app.touch(sid, copyOf(await app.get(sid)));

    const after = (await documentOf(cookie))!;
    expect(after.lastSeenAt!.getTime()).toBeGreaterThan(before.lastSeenAt!.getTime());
    expect(after.expires.getTime()).toBeGreaterThan(before.expires.getTime());
    expect(after.session).toEqual(before.session);

    const total = await db.sessions().countDocuments();
    await expect(app.touch(unknownId(), { cookie: {} })).rejects.toMatchObject({ name: 'SessionEndedError' });
    await app.destroy(sid);
    await expect(app.touch(sid, after.session)).rejects.toMatchObject({ name: 'SessionEndedError' });
    expect(await db.sessions().countDocuments()).toBe(total - 1);
    expect(await documentOf(cookie)).toBeNull();
  });

  it('destroy of an unknown id answers without error', async () => {
    await expect(app.destroy(unknownId())).resolves.toBeUndefined();
  });
});

describe('all, length and clear', () => {
  const collectionName = 'listed_sessions';
  let app: Awaited<ReturnType<typeof appWith>>;
  const sessions = () => db.sessions(collectionName);
  beforeAll(async () => {
    app = await appWith({ collectionName });
  });

  it('list and count the live sessions only, as get serves them, never their ids', async () => {
    const [first, second, expired] = [await app.login('u-a'), await app.login('u-b'), await app.login('u-c')];
    await sessions().updateOne({ _id: storedIdOf(expired) }, { $set: { expires: new Date(Date.now() - 1000) } });
    await sessions().insertOne({ _id: 'not-a-session-key', session: 'x' } as unknown as StoredSession);

    expect(await app.length()).toBe(2);
    const listed = await app.all();
    expect(Array.isArray(listed)).toBe(true);
    expect(listed.map((session) => session.userId).sort()).toEqual(['u-a', 'u-b']);
    for (const session of listed) {
      expect(session.cookie).toEqual(expect.objectContaining({ path: '/' }));
      expect(JSON.stringify(session)).not.toContain(sessionIdOf(first));
      expect(JSON.stringify(session)).not.toContain(sessionIdOf(second));
      expect(Object.keys(session)).not.toContain('_id');
    }
    expect(await documentOf(first, collectionName)).not.toBeNull();
  });

  it('clear deletes every session and keeps the indexes', async () => {
    const cookie = await app.login('u-cleared');

    await app.clear();

    expect(await sessions().countDocuments()).toBe(0);
    expect(await app.length()).toBe(0);
    expect(await app.all()).toEqual([]);
    const indexes = (await sessions().listIndexes().toArray()).map((index) => Object.keys(index.key as object));
    expect(indexes).toContainEqual(['session.userId', 'handle']);
    await app.http().get('/s/guarded').set('Cookie', cookie).expect(401);
  });
});
