import type {
  AutoRemoveMode,
  CsrfOptions,
  ExcludedRoute,
  IdSource,
  SessionCookieOptions,
  SessionLimitPolicy,
  SessionSocketOptions,
} from './session-options.interface.js';
import type { MongoClient, WriteConcernSettings } from 'mongodb';
import type { SessionEvent } from '../core/session.events.js';
import type { SessionSchema } from '../core/session.schema.js';
import type { AppSessionData } from './session-data.interface.js';
/** The options with every default applied: what the rest of the library reads. */
export interface ResolvedSessionOptions {
  secret: string[];
  uri?: string;
  client?: MongoClient;
  dbName?: string;
  collectionName: string;
  idleTimeout: number;
  absoluteTimeout?: number;
  /** The cookie's full name, `__Host-` prefix included. */
  name: string;
  cookie: Required<Pick<SessionCookieOptions, 'path' | 'httpOnly' | 'sameSite' | 'secure' | 'persistent'>> &
    Pick<SessionCookieOptions, 'domain'>;
  rolling: boolean;
  rememberMe: { idleTimeout: number; absoluteTimeout?: number };
  noStoreAuthenticated: boolean;
  csrf: Required<CsrfOptions>;
  touchAfter: number;
  autoRemove: AutoRemoveMode;
  autoRemoveInterval: number;
  userIdField: string;
  isAuthenticated: (session: Readonly<Partial<AppSessionData>>) => boolean;
  storeTimeoutMs: number;
  schema?: SessionSchema;
  maxSessionsPerUser?: number;
  maxSessionBytes: number;
  onSessionLimit: SessionLimitPolicy;
  recentAuthSeconds: number;
  onEvent?: (event: SessionEvent) => void;
  writeConcern: WriteConcernSettings;
  /** The `legacyIds` option: look up a missed id as express-session + connect-mongo stored it. */
  legacyIds: boolean;
  exclude: ExcludedRoute[];
  sockets: Required<SessionSocketOptions>;
  /** The `trustedOrigins` option, each as `URL.origin` writes it. */
  trustedOrigins: ReadonlySet<string>;
  /** The `idSource` option: the sources in force, without repeats (`['cookie']` by default). */
  idSource: readonly IdSource[];
  /** The token header's name as given (`'X-Session-Token'` by default); read case-insensitively. */
  tokenHeader: string;
}
