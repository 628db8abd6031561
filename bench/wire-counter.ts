import { createConnection, createServer, type Server, type Socket } from 'node:net';

/** Commands that read session documents, and commands that write them. */
const READS = new Set(['find', 'aggregate', 'count', 'distinct', 'getMore']);
const WRITES = new Set(['insert', 'update', 'delete', 'findAndModify', 'bulkWrite']);
/** The driver's own traffic (server monitoring, handshake, authentication, session ends): never per request. */
const MONITORING = new Set([
  'hello',
  'isMaster',
  'ismaster',
  'ping',
  'buildInfo',
  'buildinfo',
  'saslStart',
  'saslContinue',
  'endSessions',
  'getParameter',
]);
const OP_MSG = 2013;
const BSON_STRING = 0x02;

/** What the relay counted: session reads and writes, each command by name, and everything else. */
export interface CommandTotals {
  reads: number;
  writes: number;
  /**
   * Each counted command by name, the collection added when it is not the sessions collection
   * (`insert sessions_locks`): the store's per-user lock documents are told apart that way.
   */
  byCommand: Record<string, number>;
  /** The driver's monitoring and handshake commands, by name (not per request). */
  other: Record<string, number>;
}

/**
 * A TCP relay between an application and MongoDB that counts the commands the application sends, by name
 * and collection: it reads the wire protocol's OP_MSG frames (the first key of the command document is the
 * command name, its value the collection), so it measures any setup, whatever driver options it uses,
 * without touching its code.
 */
export class WireCounter {
  /** Counts by `command` or `command collection` (see `CommandTotals.byCommand`). */
  readonly counts = new Map<string, number>();
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly target: { host: string; port: number },
    readonly port: number,
    /** The collection whose commands are named without it. */
    private readonly sessionsCollection: string,
  ) {
    this.server = createServer((client) => this.relay(client));
  }

  /** Starts a relay on a free loopback port to the server of `uri` (a single `host:port`). */
  static async start(uri: string, sessionsCollection = 'sessions'): Promise<WireCounter> {
    const host = new URL(uri).host;
    const [hostname, port] = [host.slice(0, host.lastIndexOf(':')), Number(host.slice(host.lastIndexOf(':') + 1))];
    if (!hostname || !port) throw new Error(`the command counter needs a single host:port MongoDB URI, got ${host}`);
    const counter = new WireCounter({ host: hostname, port }, 0, sessionsCollection);
    await new Promise<void>((resolve) => counter.server.listen(0, '127.0.0.1', resolve));
    (counter as { port: number }).port = (counter.server.address() as { port: number }).port;
    return counter;
  }

  /** `uri` with its host replaced by this relay. */
  relayUri(uri: string): string {
    const url = new URL(uri);
    url.host = `127.0.0.1:${this.port}`;
    url.searchParams.set('directConnection', 'true');
    return url.toString();
  }

  reset(): void {
    this.counts.clear();
  }

  /** What was counted since the last reset. */
  totals(): CommandTotals {
    const totals: CommandTotals = { reads: 0, writes: 0, byCommand: {}, other: {} };
    for (const [key, count] of this.counts) {
      const name = key.split(' ')[0];
      if (MONITORING.has(name)) {
        totals.other[key] = count;
        continue;
      }
      if (READS.has(name)) totals.reads += count;
      else if (WRITES.has(name)) totals.writes += count;
      totals.byCommand[key] = count;
    }
    return totals;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private relay(client: Socket): void {
    const upstream = createConnection(this.target);
    this.sockets.add(client).add(upstream);
    let pending: Buffer = Buffer.alloc(0);
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk);
      pending = this.count(pending.length ? Buffer.concat([pending, chunk]) : chunk);
    });
    upstream.pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('close', close).on('error', close);
    upstream.on('close', close).on('error', close);
  }

  /** Counts the complete frames in `buffer`; returns the incomplete rest. */
  private count(buffer: Buffer): Buffer {
    let offset = 0;
    while (buffer.length - offset >= 16) {
      const length = buffer.readInt32LE(offset);
      if (buffer.length - offset < length) break;
      if (buffer.readInt32LE(offset + 12) === OP_MSG && buffer[offset + 20] === 0) {
        // header (16) + flagBits (4) + section kind (1) + document size (4) + element type (1) → first key
        const typeAt = offset + 25;
        const nameStart = typeAt + 1;
        const nameEnd = buffer.indexOf(0, nameStart);
        const name = buffer.toString('utf8', nameStart, nameEnd);
        // A string value (int32 length including its terminating 0, then the bytes) is the collection.
        let collection: string | undefined;
        if (buffer[typeAt] === BSON_STRING) {
          const size = buffer.readInt32LE(nameEnd + 1);
          collection = buffer.toString('utf8', nameEnd + 5, nameEnd + 5 + size - 1);
        }
        const key = collection === undefined || collection === this.sessionsCollection ? name : `${name} ${collection}`;
        this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
      }
      offset += length;
    }
    return offset === buffer.length ? Buffer.alloc(0) : buffer.subarray(offset);
  }
}
