import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { Collection, Db, Document } from 'mongodb';
import { SessionModule, SessionService } from 'nestjs-typed-session';
import './setups/session-data.js';
import { median } from './load.js';
import { benchUser, cloneSession, newSessionId } from './seed.js';
import { BENCH_SETTINGS } from './setups/settings.js';

/** Median times (ms) of the per-user operations at one collection size. */
export interface PerUserTimes {
  sessions: number;
  listForUser: number;
  destroyAllForUser: number;
}

const TARGET_USER = { userId: 'u-target', username: 'target', role: 'member' as const };
const SESSIONS_PER_USER = 5;
/** Each operation is timed this many times per size; the median is reported. */
export const REPEATS = 3;

/**
 * Times `SessionService.listForUser` and `destroyAllForUser` for one user with 5 sessions, in collections
 * of each size in `sizes` (grown in place; 5 sessions per filler user), through the library's own module.
 * `template` is a session document the library wrote at a login.
 */
export async function timePerUserOperations(
  uri: string,
  db: Db,
  template: Document,
  sizes: number[],
  autoRemove: 'native' | 'interval',
  progress: (message: string) => void,
): Promise<PerUserTimes[]> {
  @Module({
    imports: [
      SessionModule.forRoot({
        uri,
        dbName: db.databaseName,
        secret: BENCH_SETTINGS.secret,
        idleTimeout: BENCH_SETTINGS.idleTimeout,
        touchAfter: BENCH_SETTINGS.touchAfter,
        autoRemove,
        // Timed, not bounded: a scan of 100 000 documents on FerretDB takes longer than the default 5 s.
        storeTimeoutMs: 600_000,
      }),
    ],
  })
  class PerUserBenchModule {}

  const sessions = db.collection('sessions');
  await sessions.deleteMany({});
  const app = await NestFactory.createApplicationContext(PerUserBenchModule, { logger: ['error', 'warn'] });
  try {
    const service = app.get(SessionService);
    const results: PerUserTimes[] = [];
    let fillers = 0;
    for (const size of sizes) {
      fillers = await grow(sessions, template, fillers, size - SESSIONS_PER_USER, progress);
      const listTimes: number[] = [];
      const destroyTimes: number[] = [];
      for (let repeat = 0; repeat < REPEATS; repeat += 1) {
        const ids = await addTargetSessions(sessions, template);
        listTimes.push(
          await timed(async () => {
            const listed = await service.listForUser(TARGET_USER.userId);
            if (listed.length !== SESSIONS_PER_USER)
              throw new Error(`listForUser found ${listed.length} sessions, not ${SESSIONS_PER_USER}`);
          }),
        );
        destroyTimes.push(
          await timed(async () => {
            const ended = await service.destroyAllForUser(TARGET_USER.userId);
            if (ended !== SESSIONS_PER_USER)
              throw new Error(`destroyAllForUser ended ${ended} sessions, not ${SESSIONS_PER_USER}`);
          }),
        );
        const left = await sessions.countDocuments({ _id: { $in: ids } as never });
        if (left !== 0) throw new Error(`${left} of the user's sessions are still stored after destroyAllForUser`);
      }
      const total = await sessions.countDocuments();
      if (total !== size - SESSIONS_PER_USER)
        throw new Error(`the collection holds ${total} other sessions, not ${size - SESSIONS_PER_USER}`);
      results.push({ sessions: size, listForUser: median(listTimes), destroyAllForUser: median(destroyTimes) });
      progress(
        `per-user operations at ${size} sessions: list ${median(listTimes).toFixed(1)} ms, destroy all ${median(destroyTimes).toFixed(1)} ms`,
      );
    }
    return results;
  } finally {
    await app.close();
  }
}

/** Adds filler sessions (other users, 5 sessions each) until there are `target`; returns the new count. */
async function grow(
  sessions: Collection,
  template: Document,
  from: number,
  target: number,
  progress: (message: string) => void,
): Promise<number> {
  const batch = 2000;
  const started = Date.now();
  for (let next = from; next < target; next += batch) {
    const count = Math.min(batch, target - next);
    const now = new Date();
    await sessions.insertMany(
      Array.from({ length: count }, (_, offset) =>
        cloneSession(template, newSessionId(), benchUser(Math.floor((next + offset) / SESSIONS_PER_USER)), now),
      ),
    );
  }
  if (target > from) progress(`inserted ${target - from} sessions in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return target;
}

async function addTargetSessions(sessions: Collection, template: Document): Promise<string[]> {
  const clones = Array.from({ length: SESSIONS_PER_USER }, () => cloneSession(template, newSessionId(), TARGET_USER));
  await sessions.insertMany(clones);
  return clones.map((clone) => clone._id as string); // the stored keys
}

async function timed(operation: () => Promise<void>): Promise<number> {
  const started = process.hrtime.bigint();
  await operation();
  return Number(process.hrtime.bigint() - started) / 1e6;
}
