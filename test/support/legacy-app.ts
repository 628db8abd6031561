import { expect } from '@jest/globals';
import type { INestApplication, Type } from '@nestjs/common';
import { MongoStore } from 'connect-mongo';
import express from 'express';
import session from 'express-session';
import type { Server } from 'node:http';
import { MongoClient, type CommandStartedEvent } from 'mongodb';
import { SessionModule, type SessionEvent, type SessionModuleOptions } from 'nestjs-typed-session';
import request from 'supertest';
import { cookieFrom } from './cookies.js';
import { mongoUri, type TestDatabase } from './database.js';
import { scenarioOptions, startScenarioApp } from '../scenarios/routes.scenario.js';

/** The secret both the app before the switch and the one after sign their cookies with. */
export const LEGACY_SECRET = 'scenario-test-secret';

/** A database command the application sent: its name and the filter it used. */
export interface SentCommand {
  name: string;
  filter?: unknown;
}

/**
 * The app before the switch: plain Express with express-session and connect-mongo's `MongoStore.create`
 * on the same database and collection, logging users in the way express-session documents it
 * (`req.session.regenerate`, then the user id on `req.session`). connect-mongo's defaults are kept
 * (`stringify`, `ttl`, `autoRemove`), but for the TTL index a server without TTL indexes refuses.
 */
export function legacyApp(
  db: TestDatabase,
  client: MongoClient,
  options: { stringify?: boolean; name?: string } = {},
): Server {
  const app = express();
  app.use(express.json());
  app.use(
    session({
      name: options.name ?? 'sid',
      secret: LEGACY_SECRET,
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: 7 * 24 * 60 * 60 * 1000 },
      store: MongoStore.create({
        client,
        dbName: db.name,
        ...(options.stringify === undefined ? {} : { stringify: options.stringify }),
        ...(process.env.SESSION_AUTO_REMOVE === 'interval' ? { autoRemove: 'disabled' as const } : {}),
      }),
    }),
  );
  app.post('/login', (req, res, next) => {
    const { userId, role } = req.body as { userId: string; role?: string };
    req.session.regenerate((error) => {
      if (error) return next(error);
      Object.assign(req.session, { userId, username: userId, role: role ?? 'member' });
      res.json({ ok: true });
    });
  });
  app.get('/me', (req, res) => {
    const { userId } = req.session as { userId?: string };
    if (userId === undefined) res.status(401).json({ ok: false });
    else res.json({ userId });
  });
  return app.listen(0);
}

/** Logs `userId` in on the app before the switch and returns its cookie. */
export async function legacyLogin(server: Server, userId: string, role?: string, name = 'sid'): Promise<string> {
  const response = await request(server).post('/login').send({ userId, role });
  expect(response.status).toBe(200);
  return cookieFrom(response, name);
}

/**
 * The app after the switch: `SessionModule` on the same collection (the scenario routes, and `controllers`
 * beside them), its events, and the reads and writes its client sends to the test database.
 */
export async function monitoredApp(
  db: TestDatabase,
  overrides: Partial<SessionModuleOptions> = {},
  controllers: Type[] = [],
) {
  const client = new MongoClient(mongoUri(), { monitorCommands: true });
  const events: SessionEvent[] = [];
  const commands: SentCommand[] = [];
  client.on('commandStarted', (event: CommandStartedEvent) => {
    if (event.databaseName === db.name && ['find', 'insert', 'delete', 'update'].includes(event.commandName))
      commands.push({ name: event.commandName, filter: event.command.filter ?? event.command.deletes?.[0]?.q });
  });
  const app: INestApplication = await startScenarioApp(
    SessionModule.forRoot(
      scenarioOptions(db, { uri: undefined, client, onEvent: (event) => events.push(event), ...overrides }),
    ),
    undefined,
    { controllers },
  );
  const http = () => request(app.getHttpServer());
  return {
    http,
    events,
    commands,
    /** The commands of one guarded request. */
    async guarded(cookie: string) {
      commands.length = 0;
      const response = await http().get('/s/guarded').set('Cookie', cookie);
      return { status: response.status, body: response.body as unknown, commands: [...commands] };
    },
    async close() {
      await app.close();
      await client.close();
    },
  };
}
