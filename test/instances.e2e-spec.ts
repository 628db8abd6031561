import { afterAll, beforeAll, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { cookieFrom, storedIdOf } from './support/cookies.js';
import { TestDatabase } from './support/database.js';
import { startExampleApp } from './support/example-app.js';

// Three instances of the example app, each listening on its own port, sharing one database: what users
// run behind a load balancer. No instance may keep a session alive that another one ended.

const db = new TestDatabase();
const instances: INestApplication[] = [];
const urls: string[] = [];
let a: string, b: string, c: string;

beforeAll(async () => {
  for (let i = 0; i < 3; i += 1) {
    const { app } = await startExampleApp(db);
    await app.listen(0, '127.0.0.1');
    instances.push(app);
    urls.push(await app.getUrl());
  }
  [a, b, c] = urls as [string, string, string];
});

afterAll(async () => {
  for (const app of instances) await app.close();
  await db.close();
});

async function login(url: string, username: string): Promise<string> {
  const response = await request(url)
    .post('/auth/login')
    .send({ username, password: `${username}-password` });
  expect(response.status).toBe(200);
  return cookieFrom(response);
}

it('serves a session on every instance and a logout on one ends it on all', async () => {
  expect(new Set(urls).size).toBe(3);
  const cookie = await login(a, 'alice');
  for (const url of [a, b, c]) {
    const me = await request(url).get('/me').set('Cookie', cookie);
    expect(me.status).toBe(200);
    expect(me.body.userId).toBe('u-alice');
  }

  expect((await request(b).post('/auth/logout').set('Cookie', cookie)).status).toBe(200);

  expect((await request(a).get('/me').set('Cookie', cookie)).status).toBe(401);
  expect((await request(c).get('/me').set('Cookie', cookie)).status).toBe(401);
  expect(await db.sessions().countDocuments({ _id: storedIdOf(cookie) })).toBe(0);
});

it('a password change on C logs out the other devices on every instance', async () => {
  const onA = await login(a, 'bob');
  const onB = await login(b, 'bob');
  const onC = await login(c, 'bob');
  for (const [url, cookie] of [
    [a, onA],
    [b, onB],
    [c, onC],
  ] as const) {
    expect((await request(url).get('/me').set('Cookie', cookie)).status).toBe(200);
  }

  const changed = await request(c)
    .post('/auth/password')
    .set('Cookie', onC)
    .send({ currentPassword: 'bob-password', newPassword: 'bob-password-2' });
  expect(changed.status).toBe(200);
  const renewed = cookieFrom(changed);

  for (const url of [a, b, c]) {
    expect((await request(url).get('/me').set('Cookie', onA)).status).toBe(401);
    expect((await request(url).get('/me').set('Cookie', onB)).status).toBe(401);
    expect((await request(url).get('/me').set('Cookie', onC)).status).toBe(401);
    expect((await request(url).get('/me').set('Cookie', renewed)).status).toBe(200);
  }
  expect((await db.byUser('u-bob')).map((document) => document._id)).toEqual([storedIdOf(renewed)]);
});
