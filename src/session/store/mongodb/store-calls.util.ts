import type { Collection, MongoClient } from 'mongodb';
import { describeError } from '../../core/log-text.util.js';
import { sessionLogger } from '../../core/session.logger.js';
import { ClientRecovery } from './client.recovery.js';
import type { SessionDocument } from './session.document.js';

/** The store took longer than `storeTimeoutMs`. */
export class StoreTimeoutError extends Error {
  override readonly name = 'StoreTimeoutError';
}

const OUTAGE_ERRORS = new Set([
  'StoreTimeoutError',
  'MongoServerSelectionError',
  'MongoNetworkError',
  'MongoNetworkTimeoutError',
  'MongoTopologyClosedError',
  'MongoNotConnectedError',
]);

/** An error that means "MongoDB cannot be reached", as opposed to one about the operation itself. */
export function isOutage(error: unknown): boolean {
  return error instanceof Error && OUTAGE_ERRORS.has(error.name);
}

/**
 * Every call the store makes to MongoDB goes through here: bounded by `storeTimeoutMs`, reconnecting a client
 * whose topology was closed (MongoDB down at boot) or whose monitor hangs (`ClientRecovery`), an outage logged
 * once with its recovery, and new sessions whose insert was given up on deleted once MongoDB answers again.
 */
export class StoreCalls {
  private readonly logger = sessionLogger;
  private readonly recovery: ClientRecovery;
  private unreachable = false;
  private closing = false;
  private reconnecting?: Promise<void>;
  /**
   * Storage keys of new sessions whose insert failed in an outage, or timed out: the server may still apply
   * it later, though no client was given the id. Deleted once MongoDB answers again.
   */
  private readonly unsettled = new Set<string>();

  constructor(
    private readonly client: MongoClient,
    private readonly collection: Collection<SessionDocument>,
    private readonly timeoutMs: number,
    ownsClient: boolean,
  ) {
    this.recovery = new ClientRecovery(client, timeoutMs, ownsClient);
  }

  /** `call`, for express-session's callback API. */
  callback<T>(operation: () => Promise<T>, done: (error: unknown, result?: T) => void, inserting?: string): void {
    answer(this.call(operation, inserting), done);
  }

  /**
   * Runs a store operation bounded in time, logging an outage once and the recovery. `inserting` names the
   * storage key of a new session the operation writes: if it fails in an outage, that document is deleted
   * once MongoDB is back.
   */
  call<T>(operation: () => Promise<T>, inserting?: string): Promise<T> {
    // On the way of every request: the bound's promise and timer, one `then`; no async function around them.
    return this.bounded(operation).then(
      (result) => (this.unreachable ? this.recovered().then(() => result) : result),
      (error: unknown) => {
        if (inserting !== undefined && isOutage(error)) this.unsettled.add(inserting);
        this.failed(error);
        throw error;
      },
    );
  }

  /**
   * Runs a store operation bounded in time, without logging (the caller judges its errors). A driver whose
   * topology was closed (MongoDB down at boot: the client stays closed for good unless connected again) is
   * reconnected once and the operation run again, within the same bound.
   */
  bounded<T>(operation: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new StoreTimeoutError(`MongoDB did not answer within ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
      // Settled after the timeout, the outcome is ignored: nobody waits for it any more.
      const succeeded = (result: T) => {
        clearTimeout(timer);
        resolve(result);
      };
      const failed = (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      };
      run(operation).then(succeeded, (error: unknown) => {
        if (this.closing || (error as Error | undefined)?.name !== 'MongoTopologyClosedError') return failed(error);
        this.reconnecting ??= this.client
          .connect()
          .then(() => undefined)
          .finally(() => (this.reconnecting = undefined));
        this.reconnecting.then(() => run(operation)).then(succeeded, failed);
      });
    });
  }

  /** Records a failed call: an outage is logged once (and may recover the client), any other error each time. */
  failed(error: unknown): void {
    if (!isOutage(error)) {
      this.logger.error(`Session store operation failed: ${describeError(error)}`);
      return;
    }
    this.recovery.outage();
    if (this.unreachable) return;
    this.unreachable = true;
    this.logger.error(`MongoDB is unreachable (${describeError(error)}); session routes answer 503 until it is back.`);
  }

  /** Stops reconnecting; resolves once a reconnection under way has ended. */
  async stop(): Promise<void> {
    this.closing = true;
    await this.recovery.stop();
  }

  /** After an outage: logs the recovery and deletes the new sessions whose inserts were given up on. */
  private async recovered(): Promise<void> {
    if (!this.unreachable) return;
    this.unreachable = false;
    this.logger.log('MongoDB is reachable again; sessions are served.');
    if (this.unsettled.size === 0) return;
    const keys = [...this.unsettled];
    try {
      await this.bounded(() => this.collection.deleteMany({ _id: { $in: keys } }));
      for (const key of keys) this.unsettled.delete(key);
    } catch (error) {
      this.failed(error); // tried again after the next outage
    }
  }
}

/**
 * Hands the outcome of `outcome` to an express-session callback. A callback that throws throws out of the
 * store, as from any callback API, rather than into a promise nobody holds (an unhandled rejection, or a
 * caller that never hears of its own failed assertion).
 */
export function answer<T>(outcome: Promise<T>, done: (error: unknown, result?: T) => void): void {
  outcome.then(
    (result) => deliver(done, null, result),
    (error: unknown) => deliver(done, error),
  );
}

function deliver<T>(done: (error: unknown, result?: T) => void, error: unknown, result?: T): void {
  try {
    done(error, result);
  } catch (thrown) {
    process.nextTick(rethrow, thrown);
  }
}

function rethrow(error: unknown): never {
  throw error;
}

/** `operation()`, with a synchronous throw turned into a rejection. */
function run<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return operation();
  } catch (error) {
    return Promise.reject(error);
  }
}
