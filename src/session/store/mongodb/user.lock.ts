import { randomUUID } from 'node:crypto';
import type { Collection } from 'mongodb';
import { assertUserId } from '../../core/session-data.util.js';
import { SessionBusyError } from '../../session.errors.js';

/** A per-user lock document in `<collection>_locks`. */
interface LockDocument {
  _id: string;
  /** Who holds it: only the holder releases it. */
  owner: string;
  /** The lease: after this instant the lock counts as abandoned (a crashed holder) and may be taken over. */
  until: Date;
}

/** Duplicate key: the lock document exists, someone holds the lock. */
const DUPLICATE_KEY = 11000;

/**
 * A lock per user, so that what changes the set of a user's sessions happens one at a time: logins under the
 * session limit (counted and evicted one after the other), rotations that keep data, per-user deletions. Each holder has a token and releases only its own lock; a lock whose lease has run out is
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
   * @throws SessionBusyError when the lock stays taken for longer than the wait.
   * @throws SessionDataError when `userId` is not a user id (see `isUserId`); nothing is locked.
   */
  async run<T>(
    userId: string | number,
    call: <R>(operation: () => Promise<R>) => Promise<R>,
    section: () => Promise<T>,
  ): Promise<T> {
    assertUserId('UserLock.run()', userId); // no lock document for `undefined` or an object
    const release = await this.acquire(JSON.stringify(userId), call);
    try {
      return await section();
    } finally {
      await release();
    }
  }

  /**
   * Takes the lock `_id` (held at most `leaseMs`) and resolves to the function that releases it.
   *
   * @throws SessionBusyError (with `busyMessage`) when the lock stays taken for longer than the wait.
   */
  async acquire(
    _id: string,
    call: <R>(operation: () => Promise<R>) => Promise<R>,
    leaseMs = this.leaseMs,
    busyMessage?: string,
  ): Promise<() => Promise<void>> {
    const owner = randomUUID();
    const giveUpAt = Date.now() + this.waitMs;
    for (let attempt = 1; ; attempt += 1) {
      const until = new Date(Date.now() + leaseMs);
      try {
        await call(() => this.locks.insertOne({ _id, owner, until }));
        break;
      } catch (error) {
        if ((error as { code?: unknown }).code !== DUPLICATE_KEY) throw error;
        await call(() => this.locks.deleteOne({ _id, until: { $lt: new Date() } })); // an abandoned lock
        if (Date.now() >= giveUpAt) throw new SessionBusyError(busyMessage);
        // Short, growing, jittered waits: the section takes a few round trips.
        await new Promise((resolve) => setTimeout(resolve, Math.min(50, 5 * attempt) + Math.random() * 10));
      }
    }
    return () =>
      call(() => this.locks.deleteOne({ _id, owner })).then(
        () => undefined,
        () => undefined,
      );
  }
}
