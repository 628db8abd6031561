import { createConnection, createServer, type Server, type Socket } from 'node:net';

/** Commands that read session documents, and commands that write them. Everything else is not counted. */
const READS = new Set(['find', 'aggregate', 'count', 'distinct', 'getMore']);
const WRITES = new Set(['insert', 'update', 'delete', 'findAndModify', 'bulkWrite']);
const OP_MSG = 2013;

/**
 * A TCP relay between an application and MongoDB that counts the commands the application sends, by name:
 * it reads the wire protocol's OP_MSG frames (the first key of the command document is the command name),
 * so it measures any setup, whatever driver options it uses, without touching its code.
 */
export class WireCounter {
  readonly counts = new Map<string, number>();
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly target: { host: string; port: number },
    readonly port: number,
  ) {
    this.server = createServer((client) => this.relay(client));
  }

  /** Starts a relay on a free loopback port to the server of `uri` (a single `host:port`). */
  static async start(uri: string): Promise<WireCounter> {
    const host = new URL(uri).host;
    const [hostname, port] = [host.slice(0, host.lastIndexOf(':')), Number(host.slice(host.lastIndexOf(':') + 1))];
    if (!hostname || !port) throw new Error(`the command counter needs a single host:port MongoDB URI, got ${host}`);
    const counter = new WireCounter({ host: hostname, port }, 0);
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

  /** Reads and writes counted since the last reset, and the other commands by name. */
  totals(): { reads: number; writes: number; other: Record<string, number> } {
    let reads = 0;
    let writes = 0;
    const other: Record<string, number> = {};
    for (const [name, count] of this.counts) {
      if (READS.has(name)) reads += count;
      else if (WRITES.has(name)) writes += count;
      else other[name] = count;
    }
    return { reads, writes, other };
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
      if (buffer.readInt32LE(offset + 12) === OP_MSG) {
        // header (16) + flagBits (4) + section kind (1) + document size (4) + element type (1) → first key
        const nameStart = offset + 26;
        if (buffer[offset + 20] === 0) {
          const nameEnd = buffer.indexOf(0, nameStart);
          const name = buffer.toString('utf8', nameStart, nameEnd);
          this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
        }
      }
      offset += length;
    }
    return offset === buffer.length ? Buffer.alloc(0) : buffer.subarray(offset);
  }
}
