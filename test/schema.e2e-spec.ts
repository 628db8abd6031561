import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { SessionModule, type SessionEvent, type SessionModuleOptions } from 'nestjs-typed-session';
import request from 'supertest';
import { z } from 'zod';
import { cookieFrom, sessionIdOf, storedIdOf } from './support/cookies.js';
import { TestDatabase } from './support/database.js';
import { CapturingLogger, scenarioOptions, startScenarioApp } from './scenarios/routes.scenario.js';

// Stored sessions outlive deploys: the `schema` option checks them when they are loaded.

const db = new TestDatabase();
const running: INestApplication[] = [];
afterAll(async () => {
  for (const app of running) await app.close();
  await db.close();
});

async function appWith(overrides: Partial<SessionModuleOptions>, logger = new CapturingLogger()) {
  const app = await startScenarioApp(SessionModule.forRoot(scenarioOptions(db, overrides)), logger);
  running.push(app);
  const http = () => request(app.getHttpServer());
  const login = async (userId: string) => cookieFrom(await http().post('/s/login').send({ userId }).expect(200));
  return { http, login, logger };
}

const corruptRole = (cookie: string) =>
  db.sessions().updateOne({ _id: storedIdOf(cookie) }, { $set: { 'session.role': 'superuser' } });

describe('schema: a plain function', () => {
  let app: Awaited<ReturnType<typeof appWith>>;
  beforeAll(async () => {
    app = await appWith({
      schema: (data) => {
        const role = (data as { role?: unknown }).role;
        if (role !== undefined && role !== 'admin' && role !== 'member')
          throw new Error(`role ${JSON.stringify(role)} is not admin or member`);
        return data as object;
      },
    });
  });

  it('serves valid sessions', async () => {
    const cookie = await app.login('u-valid');
    expect((await app.http().get('/s/guarded').set('Cookie', cookie)).body).toEqual({ userId: 'u-valid' });
  });

  it('treats a failing session as none: 401, deleted, logged once with the reason', async () => {
    const cookie = await app.login('u-invalid');
    await corruptRole(cookie);

    expect((await app.http().get('/s/guarded').set('Cookie', cookie)).status).toBe(401);
    expect((await app.http().get('/s/guarded').set('Cookie', cookie)).status).toBe(401);

    expect(await db.sessions().countDocuments({ _id: storedIdOf(cookie) })).toBe(0);
    const lines = app.logger.lines.filter((line) => line.message.includes('discarded'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'warn' });
    expect(lines[0].message).toContain('role "superuser" is not admin or member');
    expect(lines[0].message).not.toContain(sessionIdOf(cookie));
  });
});

describe('schema: a Standard Schema validator (zod)', () => {
  it('applies its output: unknown keys are stripped, defaults filled in', async () => {
    const app = await appWith({
      schema: z.object({
        userId: z.string().optional(),
        username: z.string().optional(),
        role: z.enum(['admin', 'member']).optional(),
        visits: z.number().int().default(0),
      }),
    });
    const cookie = await app.login('u-zod');
    await db.sessions().updateOne({ _id: storedIdOf(cookie) }, { $set: { 'session.legacyFlag': true } });

    const state = await app.http().get('/s/state').set('Cookie', cookie);
    expect(state.body).toEqual({
      authenticated: true,
      data: { userId: 'u-zod', username: 'u-zod', role: 'member', visits: 0 },
    });

    await corruptRole(cookie);
    expect((await app.http().get('/s/guarded').set('Cookie', cookie)).status).toBe(401);
    expect(app.logger.lines.filter((line) => line.message.includes('does not match the session schema'))).toHaveLength(
      1,
    );
  });
});

describe('without a schema', () => {
  it('changes nothing: stored data is served as it is', async () => {
    const app = await appWith({});
    const cookie = await app.login('u-plain');
    await corruptRole(cookie);
    const state = await app.http().get('/s/state').set('Cookie', cookie);
    expect(state.status).toBe(200);
    expect(state.body.data.role).toBe('superuser');
  });
});

describe('schema failures in the logs', () => {
  const forgedKey = 'theme\n[Nest] 1  - 01/01/2026, 00:00:00     LOG [AuthController] admin logged in';

  it.each<[string, NonNullable<SessionModuleOptions['schema']>, Record<string, unknown>]>([
    [
      'a zod path through a user-chosen key',
      z.object({ userId: z.string().optional(), prefs: z.record(z.string(), z.boolean()).optional() }).passthrough(),
      { prefs: { [forgedKey]: 'not a boolean' } },
    ],
    [
      "a zod message naming a user-chosen key (strict object's unknown key)",
      z
        .object({
          userId: z.string().optional(),
          username: z.string().optional(),
          role: z.enum(['admin', 'member']).optional(),
        })
        .strict(),
      { [forgedKey]: 1 },
    ],
    [
      'a function that throws with the key in its message',
      (data: unknown) => {
        const unknown = Object.keys(data as object).find((key) => !['userId', 'username', 'role'].includes(key));
        if (unknown) throw new Error(`unexpected key ${unknown}`);
        return data as object;
      },
      { [forgedKey]: 1 },
    ],
  ])('%s: one line, the key escaped, the reason capped; the invalid event alike', async (_name, schema, stored) => {
    const events: SessionEvent[] = [];
    const app = await appWith({ schema, onEvent: (event) => events.push(event) });
    const cookie = await app.login('u-forger');
    const set = Object.fromEntries(Object.entries(stored).map(([key, value]) => [`session.${key}`, value]));
    // Stored keys with a newline are legal in a document; written as an earlier deploy or a form would have.
    await db.sessions().updateOne({ _id: storedIdOf(cookie) }, { $set: set });

    expect((await app.http().get('/s/guarded').set('Cookie', cookie)).status).toBe(401);

    const lines = app.logger.lines.filter((line) => line.message.includes('discarded'));
    expect(lines).toHaveLength(1);
    expect(lines[0].message).not.toMatch(/[\n\r]/);
    expect(lines[0].message).toContain('theme\\n[Nest]');
    expect(lines[0].message.length).toBeLessThan(700);
    const invalid = events.find((event) => event.type === 'invalid');
    expect(invalid?.reason).not.toMatch(/[\n\r]/);
    expect(invalid?.reason).toContain('theme\\n[Nest]');
  });

  it('caps a long reason', async () => {
    const app = await appWith({
      schema: (data) => {
        if ((data as { role?: unknown }).role === 'superuser') throw new Error('x'.repeat(10_000));
        return data as object;
      },
    });
    const cookie = await app.login('u-long');
    await corruptRole(cookie);
    expect((await app.http().get('/s/guarded').set('Cookie', cookie)).status).toBe(401);
    const line = app.logger.lines.find((entry) => entry.message.includes('discarded'))!;
    expect(line.message.length).toBeLessThan(700);
  });
});
