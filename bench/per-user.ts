import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MongoClient, type Collection, type CommandStartedEvent, type Db, type Document } from 'mongodb';
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
  /** `explain('executionStats')` of listForUser's query, when asked for (MongoDB only). */
  plan?: QueryPlan;
}

/** What `explain('executionStats')` says of a query: the winning plan's stages and the work done. */
export interface QueryPlan {
  /** The query as the library sent it (filter and sort). */
  query: Document;
  /** The winning plan's stages from the top, e.g. `SORT ← FETCH ← IXSCAN session.userId_1`. */
  stages: string;
  keysExamined?: number;
  docsExamined?: number;
  returned?: number;
  millis?: number;
  winningPlan: Document;
}

const TARGET_USER = { userId: 'u-target', username: 'target', role: 'member' as const };
const SESSIONS_PER_USER = 5;
/** Each operation is timed this many times per size; the median is reported. */
export const REPEATS = 3;

/**
 * Times `SessionService.listForUser` and `destroyAllForUser` for one user with 5 sessions, in collections
 * of each size in `sizes` (grown in place; 5 sessions per filler user), through the library's own module.
 * `template` is a session document the library wrote at a login. With `explain`, the query listForUser
 * sent (seen through the driver's command monitoring) is explained at each size, on a MongoDB server:
 * FerretDB 1.x's explain says nothing of indexes.
 */
export async function timePerUserOperations(
  uri: string,
  db: Db,
  template: Document,
  sizes: number[],
  autoRemove: 'native' | 'interval',
  progress: (message: string) => void,
  explain = false,
): Promise<PerUserTimes[]> {
  // The module's client, given to it so that the commands it sends can be seen.
  const client = new MongoClient(uri, { monitorCommands: true });
  let listQuery: Document | undefined;
  client.on('commandStarted', (event: CommandStartedEvent) => {
    const { command } = event;
    if (
      event.commandName === 'find' &&
      command.find === 'sessions' &&
      JSON.stringify(command.filter).includes('session.userId')
    )
      listQuery = {
        filter: command.filter as Document,
        // The driver sends a sort as a Map (key order kept); a plain object reads the same and prints.
        sort: command.sort instanceof Map ? (Object.fromEntries(command.sort) as Document) : (command.sort as Document),
      };
  });
  @Module({
    imports: [
      SessionModule.forRoot({
        client,
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
  await client.connect();
  const app = await NestFactory.createApplicationContext(PerUserBenchModule, { logger: ['error', 'warn'] });
  try {
    const service = app.get(SessionService);
    const results: PerUserTimes[] = [];
    let fillers = 0;
    for (const size of sizes) {
      fillers = await grow(sessions, template, fillers, size - SESSIONS_PER_USER, progress);
      const listTimes: number[] = [];
      const destroyTimes: number[] = [];
      let plan: QueryPlan | undefined;
      for (let repeat = 0; repeat < REPEATS; repeat += 1) {
        const ids = await addTargetSessions(sessions, template);
        listQuery = undefined;
        listTimes.push(
          await timed(async () => {
            const listed = await service.listForUser(TARGET_USER.userId);
            if (listed.length !== SESSIONS_PER_USER)
              throw new Error(`listForUser found ${listed.length} sessions, not ${SESSIONS_PER_USER}`);
          }),
        );
        if (explain && repeat === 0) {
          if (!listQuery) throw new Error('listForUser sent no find by user id that could be explained');
          plan = await explainFind(db, listQuery);
          progress(
            `per-user query at ${size} sessions: ${plan.stages}; keys examined ${plan.keysExamined ?? '?'}, ` +
              `documents examined ${plan.docsExamined ?? '?'}, returned ${plan.returned ?? '?'}\n` +
              `  winning plan: ${JSON.stringify(plan.winningPlan)}`,
          );
        }
        destroyTimes.push(
          await timed(async () => {
            const ended = await service.destroyAllForUser(TARGET_USER.userId);
            if (ended !== SESSIONS_PER_USER)
              throw new Error(`destroyAllForUser ended ${ended} sessions, not ${SESSIONS_PER_USER}`);
          }),
        );
        // Checks, not timed: five reads by `_id` (which FerretDB's SQLite backend answers without a scan) and
        // the collection's count from its metadata, not a scan of 100 000 documents.
        const left = (
          await Promise.all(ids.map((_id) => sessions.findOne({ _id } as never, { projection: { _id: 1 } })))
        ).filter(Boolean).length;
        if (left !== 0) throw new Error(`${left} of the user's sessions are still stored after destroyAllForUser`);
      }
      const total = await sessions.estimatedDocumentCount();
      if (total !== size - SESSIONS_PER_USER)
        throw new Error(`the collection holds ${total} other sessions, not ${size - SESSIONS_PER_USER}`);
      results.push({
        sessions: size,
        listForUser: median(listTimes),
        destroyAllForUser: median(destroyTimes),
        ...(plan ? { plan } : {}),
      });
      progress(
        `per-user operations at ${size} sessions: list ${median(listTimes).toFixed(1)} ms, destroy all ${median(destroyTimes).toFixed(1)} ms`,
      );
    }
    return results;
  } finally {
    await app.close();
    await client.close();
  }
}

/** `explain('executionStats')` of a find on the sessions collection, summarised. */
async function explainFind(db: Db, query: Document): Promise<QueryPlan> {
  const result = await db.command({
    explain: {
      find: 'sessions',
      filter: query.filter as Document,
      ...(query.sort ? { sort: query.sort as Document } : {}),
    },
    verbosity: 'executionStats',
  });
  const planner = result.queryPlanner as { winningPlan?: Document } | undefined;
  const stats = result.executionStats as
    | { totalKeysExamined?: number; totalDocsExamined?: number; nReturned?: number; executionTimeMillis?: number }
    | undefined;
  const winningPlan = planner?.winningPlan ?? {};
  return {
    query,
    stages: stagesOf(winningPlan).join(' ← ') || 'no winning plan in the answer',
    keysExamined: stats?.totalKeysExamined,
    docsExamined: stats?.totalDocsExamined,
    returned: stats?.nReturned,
    millis: stats?.executionTimeMillis,
    winningPlan,
  };
}

/**
 * The stages of a plan from the top (`IXSCAN` with its index name), through `inputStage`/`inputStages`;
 * a slot-based plan (MongoDB 7+) is read through its `queryPlan`, a sharded cluster's through each shard's
 * `winningPlan`.
 */
export function stagesOf(plan: Document): string[] {
  const node = (plan.queryPlan as Document | undefined) ?? plan;
  if (typeof node.stage !== 'string') return [];
  const name = typeof node.indexName === 'string' ? `${node.stage} ${node.indexName}` : node.stage;
  const shards = (node.shards as { winningPlan?: Document }[] | undefined)?.map((shard) => shard.winningPlan ?? {});
  const children = node.inputStage
    ? [node.inputStage as Document]
    : ((node.inputStages as Document[] | undefined) ?? shards ?? []);
  if (children.length <= 1) return [name, ...children.flatMap(stagesOf)];
  return [`${name} (${children.map((child) => stagesOf(child).join(' ← ')).join(' | ')})`];
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
