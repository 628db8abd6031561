export interface MongoServer {
  uri: string;
  kind: string;
  version: string;
  ttlIndexes: boolean;
  /** FerretDB's storage backend, when the server is a FerretDB started by this script. */
  backend?: 'SQLite' | 'PostgreSQL';
  stop(): Promise<void>;
}
export interface FerretDBServer {
  uri: string;
  kind: 'FerretDB';
  backend: 'SQLite' | 'PostgreSQL';
  port: number;
  binary: string;
  dataDir: string;
  stop(): Promise<void>;
  /** SIGSTOP: a hung server, which accepts connections and answers nothing. */
  pause(): void;
  /** SIGCONT, after `pause`. */
  resume(): void;
  /** SIGKILL: a crash; `stop()` still waits for the exit and cleans up. */
  kill(): void;
}
export declare const FERRETDB_MODULE: string;
export declare const FERRETDB_VERSION: string;
export declare function startMongo(): Promise<MongoServer>;
/** `postgresqlUrl` (default: env `FERRETDB_POSTGRESQL_URL`) selects the PostgreSQL backend instead of SQLite. */
export declare function startFerretDB(options?: {
  port?: number;
  dataDir?: string;
  postgresqlUrl?: string;
}): Promise<FerretDBServer>;
export declare function freePort(): Promise<number>;
export declare function buildFerretDB(): string;
