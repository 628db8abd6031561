export interface MongoServer {
  uri: string;
  kind: string;
  version: string;
  ttlIndexes: boolean;
  stop(): Promise<void>;
}
export interface FerretDBServer {
  uri: string;
  kind: 'FerretDB';
  port: number;
  binary: string;
  dataDir: string;
  stop(): Promise<void>;
}
export declare const FERRETDB_MODULE: string;
export declare const FERRETDB_VERSION: string;
export declare function startMongo(): Promise<MongoServer>;
export declare function startFerretDB(options?: { port?: number; dataDir?: string }): Promise<FerretDBServer>;
export declare function freePort(): Promise<number>;
export declare function buildFerretDB(): string;
