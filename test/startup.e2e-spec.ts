import { afterAll, describe, expect, it } from '@jest/globals';
import { Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { Test } from '@nestjs/testing';
import { SessionModule, SessionOptionsError, type SessionModuleOptions } from 'nestjs-typed-session';
import request from 'supertest';
import { cookieFrom } from './support/cookies.js';
import { autoRemoveMode, mongoUri, TestDatabase } from './support/database.js';
import { scenarioOptions, startScenarioApp } from './scenarios/routes.scenario.js';

const db = new TestDatabase();
afterAll(() => db.close());

async function boot(sessionModule: ReturnType<typeof SessionModule.forRoot>) {
  const moduleRef = await Test.createTestingModule({ imports: [sessionModule] }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  try {
    await app.init();
  } finally {
    await app.close();
  }
}

describe('start-up validation', () => {
  const bad: [string, Partial<SessionModuleOptions>][] = [
    ['secret', { secret: '' }],
    ['uri', { uri: 'localhost:27017' }],
    ['cookie.sameSite', { cookie: { sameSite: 'none', secure: 'auto' } }],
    ['ttl', { ttl: -1 }],
  ];

  it.each(bad)('forRoot fails naming "%s"', async (option, overrides) => {
    const attempt = boot(SessionModule.forRoot(scenarioOptions(db, overrides)));
    await expect(attempt).rejects.toBeInstanceOf(SessionOptionsError);
    await expect(boot(SessionModule.forRoot(scenarioOptions(db, overrides)))).rejects.toThrow(`option "${option}"`);
  });

  it('forRootAsync fails the same way when the factory returns a bad option', async () => {
    const attempt = boot(
      SessionModule.forRootAsync({
        useFactory: () => ({ ...scenarioOptions(db), secret: undefined as unknown as string }),
      }),
    );
    await expect(attempt).rejects.toThrow('SessionModule option "secret" is required');
  });
});

describe('forRootAsync', () => {
  it('reads its options through useFactory + inject (@nestjs/config) and serves sessions', async () => {
    const configured = new TestDatabase();
    @Module({
      imports: [
        ConfigModule.forRoot({
          ignoreEnvFile: true,
          load: [() => ({ session: { secret: 'from-config', db: configured.name } })],
        }),
      ],
      exports: [ConfigModule],
    })
    class SettingsModule {}

    const app = await startScenarioApp(
      SessionModule.forRootAsync({
        imports: [SettingsModule],
        inject: [ConfigService],
        useFactory: (config: ConfigService) => ({
          secret: config.getOrThrow<string>('session.secret'),
          uri: mongoUri(),
          dbName: config.getOrThrow<string>('session.db'),
          autoRemove: autoRemoveMode(),
        }),
      }),
    );
    try {
      const login = await request(app.getHttpServer()).post('/s/login').send({ userId: 'u-async' });
      expect(login.status).toBe(200);
      const guarded = await request(app.getHttpServer()).get('/s/guarded').set('Cookie', cookieFrom(login));
      expect(guarded.body).toEqual({ userId: 'u-async' });
      expect(await configured.byUser('u-async')).toHaveLength(1);
    } finally {
      await app.close();
      await configured.close();
    }
  });
});

describe("autoRemove: 'native'", () => {
  it('creates a TTL index, or fails at start-up naming autoRemove where the server has none', async () => {
    const attempt = boot(SessionModule.forRoot(scenarioOptions(db, { autoRemove: 'native' })));
    if (autoRemoveMode() === 'interval') {
      await expect(attempt).rejects.toThrow(
        /option "autoRemove" is 'native', but this MongoDB server refuses TTL indexes.*Set autoRemove: 'interval'/,
      );
    } else {
      await attempt;
      const indexes = await db.sessions().listIndexes().toArray();
      expect(indexes).toContainEqual(expect.objectContaining({ key: { expires: 1 }, expireAfterSeconds: 0 }));
    }
  });
});
