import { afterAll, beforeAll, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { SessionModule } from 'nestjs-typed-session';
import request from 'supertest';
import { startFerretDB, type FerretDBServer } from '../scripts/mongo-server.mjs';
import { cookieFrom, setCookieFor } from './support/cookies.js';
import { Gate, gates, startScenarioApp } from './scenarios/routes.scenario.js';

// A server of its own, so that the test can really stop it while a request is in flight.
let server: FerretDBServer;
let app: INestApplication;

beforeAll(async () => {
  server = await startFerretDB();
  app = await startScenarioApp(
    SessionModule.forRoot({
      secret: 'store-failure-secret',
      uri: server.uri,
      dbName: 'store-failure',
      autoRemove: 'interval',
      storeTimeoutMs: 300,
    }),
  );
}, 120_000);

afterAll(async () => {
  await app?.close();
  await server?.stop();
});

it('destroy() rejects with a clear 503 when MongoDB cannot delete, and does not clear the cookie', async () => {
  const login = await request(app.getHttpServer()).post('/s/login').send({ userId: 'u-outage' });
  expect(login.status).toBe(200);

  const gate = (gates.current = new Gate());
  const pending = request(app.getHttpServer())
    .post('/s/held-logout')
    .set('Cookie', cookieFrom(login))
    .then((r) => r);
  await gate.reached();
  await server.stop();
  gate.open();
  const response = await pending;

  expect(response.status).toBe(503);
  expect(response.body).toEqual({
    statusCode: 503,
    error: 'Service Unavailable',
    message: 'Session store unavailable: could not delete the session. Try again shortly.',
  });
  expect(setCookieFor(response)).toBeUndefined();
});
