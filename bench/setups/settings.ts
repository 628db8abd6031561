import { MongoStore } from 'connect-mongo';
import type { SessionOptions } from 'express-session';

/**
 * The settings every benchmarked setup shares: one cookie, one secret, one idle timeout, one touch
 * throttle, sessions stored as documents. The `ours` setup gets the same values through the example app's
 * environment (see `run.ts`).
 */
export const BENCH_SETTINGS = {
  secret: 'bench-secret-not-for-production',
  cookieName: 'sid',
  /** Idle timeout, seconds (connect-mongo's `ttl`, our `idleTimeout`). */
  idleTimeout: 30 * 60,
  /** Touch throttling, seconds: an unchanged session is not written more often than this. */
  touchAfter: 10 * 60,
} as const;

/** What the benchmark passes to a setup process. */
export function setupEnv(): { uri: string; dbName: string; port: number; autoRemove: 'native' | 'interval' } {
  const uri = process.env.MONGODB_URI;
  const dbName = process.env.SESSION_DB_NAME;
  if (!uri || !dbName) throw new Error('MONGODB_URI and SESSION_DB_NAME must be set (run through `npm run bench`).');
  return {
    uri,
    dbName,
    port: Number(process.env.PORT ?? 3000),
    autoRemove: process.env.SESSION_AUTO_REMOVE === 'interval' ? 'interval' : 'native',
  };
}

/** express-session options with a connect-mongo store, as a user would write them by hand. */
export function handWrittenSessionOptions(): SessionOptions {
  const { uri, dbName, autoRemove } = setupEnv();
  return {
    name: BENCH_SETTINGS.cookieName,
    secret: BENCH_SETTINGS.secret,
    resave: false,
    saveUninitialized: false,
    cookie: { httpOnly: true, sameSite: 'lax', secure: 'auto', maxAge: BENCH_SETTINGS.idleTimeout * 1000 },
    store: MongoStore.create({
      mongoUrl: uri,
      dbName,
      collectionName: 'sessions',
      ttl: BENCH_SETTINGS.idleTimeout,
      touchAfter: BENCH_SETTINGS.touchAfter,
      stringify: false,
      autoRemove,
    }),
  };
}

/** The user fields every setup stores at login and answers on the guarded route. */
export interface BenchUser {
  userId: string;
  username: string;
  role: 'admin' | 'member';
}

/** The login every hand-written setup offers (the benchmark logs in once, then clones that document). */
export const BENCH_LOGIN: BenchUser = { userId: 'u-template', username: 'template', role: 'member' };
