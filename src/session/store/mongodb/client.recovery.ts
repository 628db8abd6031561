import type {
  MongoClient,
  ServerDescriptionChangedEvent,
  ServerHeartbeatFailedEvent,
  ServerHeartbeatStartedEvent,
  ServerHeartbeatSucceededEvent,
} from 'mongodb';
import { sessionLogger } from '../../core/session.logger.js';

/**
 * Gets a `MongoClient` out of a state it never leaves by itself: a server check (heartbeat) of the driver's
 * monitor that never ends.
 *
 * The driver (6.x, 7.x) can write a check to a socket that the server has just closed and that is destroyed,
 * but not yet marked closed: such a write neither fails nor drains, and the check waits for ever. The monitor
 * runs one check at a time, so it never checks again: the server stays `Unknown`, its pool `paused`, and every
 * operation fails with a server selection timeout long after MongoDB is back. Servers whose `hello` has no
 * `topologyVersion` (FerretDB, MongoDB before 4.4) never get out of it: on them a network error does not
 * restart the monitor.
 *
 * When an operation fails for want of MongoDB while a server is `Unknown` and its check has lasted `limitMs`,
 * a client the module owns is closed and connected again (the same object: collections obtained from it keep
 * working). A client the application passed in is only reported, once per episode: the module never closes it.
 */
export class ClientRecovery {
  private readonly logger = sessionLogger;
  /** When each server's check under way started, by address (polling checks only: streaming ones wait on purpose). */
  private readonly checks = new Map<string, number>();
  /** Servers the driver currently knows (not `Unknown`): only these can be selected. */
  private readonly known = new Set<string>();
  private recycling?: Promise<void>;
  private reported = false;
  private stopped = false;

  private readonly onStarted = (event: ServerHeartbeatStartedEvent) => {
    if (!event.awaited) this.checks.set(event.connectionId, performance.now());
  };
  private readonly onSucceeded = (event: ServerHeartbeatSucceededEvent) => {
    this.checks.delete(event.connectionId);
    this.reported = false;
  };
  private readonly onFailed = (event: ServerHeartbeatFailedEvent) => void this.checks.delete(event.connectionId);
  private readonly onDescription = (event: ServerDescriptionChangedEvent) => {
    if (event.newDescription.type === 'Unknown') this.known.delete(event.address);
    else this.known.add(event.address);
  };

  /**
   * @param limitMs how long a check may last before it counts as hung: the store timeout, past which the
   *   store has answered 503 anyway
   * @param owned whether the module created the client, and so may close and connect it
   */
  constructor(
    private readonly client: MongoClient,
    private readonly limitMs: number,
    private readonly owned: boolean,
  ) {
    client.on('serverHeartbeatStarted', this.onStarted);
    client.on('serverHeartbeatSucceeded', this.onSucceeded);
    client.on('serverHeartbeatFailed', this.onFailed);
    client.on('serverDescriptionChanged', this.onDescription);
  }

  /** To call when an operation failed because MongoDB could not be reached: recovers the client if it hangs. */
  outage(): void {
    if (this.stopped || this.recycling) return;
    const hungMs = this.hungMs();
    if (hungMs < this.limitMs) return;
    if (!this.reported) this.report(hungMs);
    if (this.owned) this.recycling = this.recycle().finally(() => (this.recycling = undefined));
  }

  /** Stops watching; resolves once a reconnection under way has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.client.off('serverHeartbeatStarted', this.onStarted);
    this.client.off('serverHeartbeatSucceeded', this.onSucceeded);
    this.client.off('serverHeartbeatFailed', this.onFailed);
    this.client.off('serverDescriptionChanged', this.onDescription);
    await this.recycling;
  }

  /** How long the oldest check of a server that cannot be selected has lasted (0 when there is none). */
  private hungMs(): number {
    const now = performance.now();
    let since = now;
    for (const [address, started] of this.checks) if (!this.known.has(address)) since = Math.min(since, started);
    return Math.round(now - since);
  }

  /** Logs the hang, once until a check succeeds again. */
  private report(hungMs: number): void {
    this.reported = true;
    const hang = `A MongoDB server check has hung for ${hungMs} ms (a driver fault)`;
    if (this.owned) {
      this.logger.warn(`${hang}; reconnecting the client.`);
      return;
    }
    this.logger.error(
      `${hang} in the MongoClient passed as \`client\`: it will not reach MongoDB again by itself. ` +
        'Call its close() then connect(), or pass `uri` instead.',
    );
  }

  /** Closes the client, which ends the hung monitor with its topology, and connects it again. */
  private async recycle(): Promise<void> {
    try {
      await this.client.close();
      this.checks.clear();
      this.known.clear();
      if (!this.stopped) await this.client.connect();
    } catch {
      // MongoDB still down: the store connects the client again on its next operation (MongoTopologyClosedError).
    }
  }
}
