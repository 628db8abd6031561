import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Server } from 'node:http';
import { MongoClient } from 'mongodb';
import type { SessionModuleOptions } from 'nestjs-typed-session';
import { cookieFrom, sessionIdOf, signedCookie, storedIdOf } from './support/cookies.js';
import { mongoUri, TestDatabase } from './support/database.js';
import { LEGACY_SECRET as SECRET, legacyApp, legacyLogin as loginOn, monitoredApp } from './support/legacy-app.js';

const DAY = 24 * 60 * 60 * 1000;

let db: TestDatabase;
let legacyClient: MongoClient;
const legacyApps: { stringify: boolean; server: Server }[] = [];

/** Logs `userId` in on the old app (connect-mongo with this `stringify`) and returns its cookie. */
function legacyLogin(userId: string, stringify = true, role?: string): Promise<string> {
  return loginOn(legacyApps.find((entry) => entry.stringify === stringify)!.server, userId, role);
}

/** The new app on the same collection, its events, and the commands its client sends. */
function newApp(overrides: Partial<SessionModuleOptions> = {}) {
  return monitoredApp(db, overrides);
}

const plain = (cookie: string) => db.sessions().findOne({ _id: sessionIdOf(cookie) });
const hashed = (cookie: string) => db.sessions().findOne({ _id: storedIdOf(cookie) });

beforeAll(() => {
  db = new TestDatabase();
  legacyClient = new MongoClient(mongoUri());
  for (const stringify of [true, false])
    legacyApps.push({ stringify, server: legacyApp(db, legacyClient, { stringify }) });
});

afterAll(async () => {
  for (const { server } of legacyApps) await new Promise((resolve) => server.close(resolve));
  await legacyClient?.close();
  await db?.close();
});

describe('sessions stored by express-session + connect-mongo before the switch', () => {
  it('keep their users logged in, moved under the hashed key, one extra read only on the first request', async () => {
    const users = ['u-json-1', 'u-json-2', 'u-object-1', 'u-object-2'];
    const cookies = [
      await legacyLogin(users[0], true),
      await legacyLogin(users[1], true),
      await legacyLogin(users[2], false),
      await legacyLogin(users[3], false),
    ];
    expect(typeof (await plain(cookies[0]))?.session).toBe('string');
    expect(typeof (await plain(cookies[2]))?.session).toBe('object');
    const app = await newApp();
    try {
      for (const [index, cookie] of cookies.entries()) {
        const first = await app.guarded(cookie);
        expect(first).toMatchObject({ status: 200, body: { userId: users[index] } });
        // The hashed read missed, then one read of both keys, the move (insert, delete of the plain one).
        expect(first.commands.map((command) => command.name)).toEqual(['find', 'find', 'insert', 'delete']);
        expect(await plain(cookie)).toBeNull();
        const moved = await hashed(cookie);
        expect(moved).toMatchObject({
          session: { userId: users[index], username: users[index], role: 'member' },
          handle: expect.stringMatching(/^[\w-]{22}$/),
        });
        expect(moved?.createdAt).toBeInstanceOf(Date);
        expect(moved?.loginAt).toEqual(moved?.createdAt);
        expect(moved?.lastSeenAt).toBeInstanceOf(Date);
        expect(moved!.expires.getTime()).toBeGreaterThan(Date.now());
        expect(JSON.stringify(moved)).not.toContain(sessionIdOf(cookie));
        // Once moved, a request is the one read by the hashed _id of any session.
        const second = await app.guarded(cookie);
        expect(second).toMatchObject({ status: 200, body: { userId: users[index] } });
        expect(second.commands).toEqual([{ name: 'find', filter: { _id: storedIdOf(cookie) } }]);
      }
      expect(await db.sessions().countDocuments({ handle: { $exists: false } })).toBe(0);
      expect(app.events.filter((event) => event.type === 'invalid')).toEqual([]);
    } finally {
      await app.close();
    }
  });

  it('are listed, revoked and logged out everywhere per user, as any session', async () => {
    const a = await legacyLogin('u-per-user', true);
    const b = await legacyLogin('u-per-user', false);
    const app = await newApp();
    try {
      expect((await app.guarded(a)).status).toBe(200);
      const listed = await app.http().get('/s/sessions').set('Cookie', a);
      expect(listed.status).toBe(200);
      // b is not moved yet: its document is not the library's, so it is not listed until its first request.
      expect((listed.body as { handle: string }[]).map((entry) => entry.handle)).toEqual([(await hashed(a))?.handle]);
      expect((await app.guarded(b)).status).toBe(200);
      const both = await app.http().get('/s/sessions').set('Cookie', a);
      expect((both.body as unknown[]).length).toBe(2);
      expect((await db.byUser('u-per-user')).length).toBe(2);

      const handleB = (await hashed(b))!.handle!;
      await app.http().delete(`/s/sessions/${handleB}`).set('Cookie', a).expect(200, { revoked: true });
      expect(await hashed(b)).toBeNull();
      expect((await app.guarded(b)).status).toBe(401);

      const c = await legacyLogin('u-per-user', true);
      expect((await app.guarded(c)).status).toBe(200);
      await app.http().post('/s/logout-everywhere').set('Cookie', c).expect(200, { ended: 2 });
      expect((await app.guarded(a)).status).toBe(401);
      expect((await app.guarded(c)).status).toBe(401);
      expect(await db.byUser('u-per-user')).toEqual([]);
    } finally {
      await app.close();
    }
  });

  it('are not served nor moved once expired', async () => {
    const cookie = await legacyLogin('u-expired', true);
    await db.sessions().updateOne({ _id: sessionIdOf(cookie) }, { $set: { expires: new Date(Date.now() - 1000) } });
    const app = await newApp();
    try {
      expect((await app.guarded(cookie)).status).toBe(401);
      expect(await hashed(cookie)).toBeNull();
    } finally {
      await app.close();
    }
  });

  it('are dropped with an invalid event when their data fails the schema', async () => {
    const cookie = await legacyLogin('u-root', false, 'root');
    const app = await newApp({
      schema: (data) => {
        if ((data as { role?: string }).role === 'root') throw new Error('no root');
        return data as object;
      },
    });
    try {
      expect((await app.guarded(cookie)).status).toBe(401);
      expect(await plain(cookie)).toBeNull();
      expect(await hashed(cookie)).toBeNull();
      expect(app.events).toMatchObject([{ type: 'invalid', reason: expect.stringContaining('no root') }]);
      expect(JSON.stringify(app.events)).not.toContain(sessionIdOf(cookie));
    } finally {
      await app.close();
    }
  });

  it('are not looked up with legacyIds: false', async () => {
    const cookie = await legacyLogin('u-off', true);
    const app = await newApp({ legacyIds: false });
    try {
      const answer = await app.guarded(cookie);
      expect(answer.status).toBe(401);
      expect(answer.commands).toEqual([{ name: 'find', filter: { _id: storedIdOf(cookie) } }]);
      expect(await plain(cookie)).not.toBeNull();
      expect(await hashed(cookie)).toBeNull();
    } finally {
      await app.close();
    }
  });

  it('refuses a legacyIds that is not a boolean at start-up, naming the option', async () => {
    await expect(newApp({ legacyIds: 'yes' as unknown as boolean })).rejects.toThrow(
      /legacyIds.*must be true or false/,
    );
  });

  it('are served to two concurrent first requests, and moved once', async () => {
    const app = await newApp();
    try {
      for (let round = 0; round < 5; round += 1) {
        const cookie = await legacyLogin(`u-concurrent-${round}`, round % 2 === 0);
        const answers = await Promise.all([app.guarded(cookie), app.guarded(cookie)]);
        expect(answers.map((answer) => answer.status)).toEqual([200, 200]);
        expect(await plain(cookie)).toBeNull();
        expect(await db.sessions().countDocuments({ 'session.userId': `u-concurrent-${round}` })).toBe(1);
        expect(await hashed(cookie)).not.toBeNull();
      }
    } finally {
      await app.close();
    }
  });

  it('include those of an earlier version of the library under their plain id, with their handle and times', async () => {
    const id = 'earlier-version-session-id-0001';
    const cookie = signedCookie(id, SECRET);
    const createdAt = new Date(Date.now() - 60_000);
    await db.sessions().insertOne({
      _id: id,
      session: {
        cookie: { originalMaxAge: null, httpOnly: true, path: '/' },
        userId: 'u-earlier',
        username: 'u-earlier',
      },
      expires: new Date(Date.now() + DAY),
      handle: 'earlier-handle-0000001',
      createdAt,
      loginAt: createdAt,
      lastSeenAt: createdAt,
      userAgent: 'earlier-agent',
    });
    const app = await newApp();
    try {
      expect(await app.guarded(cookie)).toMatchObject({ status: 200, body: { userId: 'u-earlier' } });
      expect(await db.sessions().findOne({ _id: id })).toBeNull();
      expect(await hashed(cookie)).toMatchObject({
        handle: 'earlier-handle-0000001',
        createdAt,
        loginAt: createdAt,
        userAgent: 'earlier-agent',
        session: { userId: 'u-earlier' },
      });
    } finally {
      await app.close();
    }
  });

  it('never takes a document of the library for a legacy one', async () => {
    const app = await newApp();
    try {
      const login = await app.http().post('/s/login').send({ userId: 'u-library' });
      const cookie = cookieFrom(login);
      // What a reader of the collection holds, presented as an id, names nothing.
      const stolen = signedCookie(storedIdOf(cookie), SECRET);
      expect((await app.guarded(stolen)).status).toBe(401);
      expect(await hashed(cookie)).not.toBeNull();
      expect((await app.guarded(cookie)).status).toBe(200);
    } finally {
      await app.close();
    }
  });
});
