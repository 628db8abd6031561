import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { AppModule } from '../../example/app.module.js';
import { mongoUri, TestDatabase } from './database.js';

/** The example application on a database of its own (or the one given), as `npm start` runs it. */
export async function startExampleApp(db = new TestDatabase()): Promise<{ app: INestApplication; db: TestDatabase }> {
  process.env.MONGODB_URI = mongoUri();
  process.env.SESSION_DB_NAME = db.name;
  process.env.SESSION_SECRET = 'test-secret-current,test-secret-previous';
  const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
  const app = moduleRef.createNestApplication({ logger: ['error', 'warn'] });
  await app.init();
  return { app, db };
}
