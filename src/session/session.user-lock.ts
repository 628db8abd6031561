import { HttpException, HttpStatus } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Collection } from 'mongodb';

/** A per-user lock document in `<collection>_locks`. */
interface LockDocument {
  _id: string;
  /** Who holds it: only the holder releases it. */
  owner: string;
  /** The lease: after this instant the lock counts as abandoned (a crashed holder) and may be taken over. */
  until: Date;
}

/**
 * A login waited for the per-user lock longer than `storeTimeoutMs`: other logins of the same account are
 * being applied. Answers 429 with `Retry-After`, so that it is not mistaken for an outage (503).
 */
export class SessionLimitBusyError extends HttpException {
  constructor() {
    super(
      {
        statusCode: HttpStatus.TOO_MANY_REQUESTS,
        error: 'Too Many Requests',
        message: 'Other logins of this account are being applied; try again in a moment.',
      },
      HttpStatus.TOO_MANY_REQUESTS,
    );
    this.name = 'SessionLimitBusyError';
  }
}

/** Duplicate key: the lock document exists, someone holds the lock. */
const DUPLICATE_KEY = 11000;

/**
 * A lock per user, so that concurrent logins of one user count and evict sessions one after the other (the
 * session limit). Each holder has a token and releases only its own lock; a lock whose lease has run out is
 * taken over.
 */
export class UserLock {
  constructor(
    private readonly locks: Collection<LockDocument>,
    /** How long a holder may keep the lock: longer than the section it protects can take. */
    private readonly leaseMs: number,
    /** How long a login waits for the lock before it is answered 429. */
    private readonly waitMs: number,
  ) {}

  /**
   * Runs `section` while holding the lock of `userId`. Store calls go through `call`, which bounds and
   * reconnects them.
   *
   * @throws SessionLimitBusyError when the lock stays taken for longer than the wait.
   */
  async run<T>(
    userId: unknown,
    call: <R>(operation: () => Promise<R>) => Promise<R>,
    section: () => Promise<T>,
  ): Promise<T> {
    const _id = JSON.stringify(userId);
    const owner = randomUUID();
    const giveUpAt = Date.now() + this.waitMs;
    for (let attempt = 1; ; attempt += 1) {
      const until = new Date(Date.now() + this.leaseMs);
      try {
        await call(() => this.locks.insertOne({ _id, owner, until }));
        break;
      } catch (error) {
        if ((error as { code?: unknown }).code !== DUPLICATE_KEY) throw error;
        await call(() => this.locks.deleteOne({ _id, until: { $lt: new Date() } })); // an abandoned lock
        if (Date.now() >= giveUpAt) throw new SessionLimitBusyError();
        // Short, growing, jittered waits: the section takes a few round trips.
        await new Promise((resolve) => setTimeout(resolve, Math.min(50, 5 * attempt) + Math.random() * 10));
      }
    }
    try {
      return await section();
    } finally {
      await call(() => this.locks.deleteOne({ _id, owner })).catch(() => undefined);
    }
  }
}
