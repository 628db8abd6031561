import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type { Request } from 'express';
import type { SessionData, Store } from 'express-session';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { SessionEvents, type SessionEvent } from '../core/session.events.js';
import { sessionHandle, storageKey } from '../core/session-id.util.js';
import { isAllowedOrigin } from '../http/origin.util.js';
import { RESOLVED_SESSION_OPTIONS, SESSION_STORE } from '../session.constants.js';
import { NO_RESPONSE, sessionContext, type SocketSessionContext } from '../core/session.context.js';
import type { ResolvedSessionOptions } from '../interfaces/resolved-session-options.interface.js';
import type { SessionStore } from '../store/session-store.interface.js';
import { describeError } from '../core/log-text.util.js';
import { handshakeSessionId } from './handshake-session.util.js';
import { SocketSessionRotationError } from '../session.errors.js';
import { sessionLogger } from '../core/session.logger.js';

/** A WebSocket connection's session, as loaded from its handshake. */
export interface SocketConnection {
  /** The connection's request: the handshake's, carrying `session` and `sessionID` as express-session sets them. */
  readonly request: Request;
  /** The session id, when the handshake carried a live session. */
  readonly sessionId?: string;
  /** `true` when that session is authenticated (the `isAuthenticated` option) at the handshake. */
  readonly authenticated: boolean;
  /** Why MongoDB could not load the session: handlers that need it answer 503, as HTTP routes do. */
  readonly storeError?: unknown;
}

/** Sessions ended by events of these types close their connections. */
const ENDING_EVENTS = new Set<SessionEvent['type']>(['destroyed', 'revoked', 'expired', 'invalid']);

/** Session ids read per query by the periodic check. */
const CHECK_BATCH = 1000;

/** A connection that carries a session, with the way to close it. */
interface LiveSocket {
  client: object;
  close: () => void;
}

/**
 * The sessions of open WebSocket connections (socket.io and `ws` gateways, GraphQL subscriptions over
 * graphql-ws), for the adapters of `nestjs-typed-session/socket.io`, `/ws` and `/graphql`:
 *
 * - loads a handshake's session from its signed cookie, or its token (`idSource`), through the session
 *   store (same secrets, timeouts, schema as HTTP requests; one read by `_id` per connection);
 * - runs each message's handler in its own session context, so that `AuthGuard`, `@Session()` and
 *   `SessionService` see that socket's session and no other; a message counts as activity (the idle
 *   timeout slides, written at most once per `touchAfter`);
 * - closes a session's connections when it ends: at once when it ends on this instance (its `destroyed`,
 *   `revoked`, `expired` or `invalid` event), and within `sockets.checkInterval` when it ends on another
 *   one (one query by `_id` per interval for all open connections, while there are any).
 */
@Injectable()
export class SessionSockets implements OnApplicationShutdown {
  private readonly logger = sessionLogger;
  private readonly connections = new WeakMap<object, SocketConnection>();
  /** Open connections that carry a session, by the session's storage key, with its handle. */
  private readonly live = new Map<string, { handle: string; sockets: Set<LiveSocket> }>();
  /**
   * The storage keys of `live` by handle, for the events (which name a session by its handle). Several keys
   * share a handle when connections opened before a rotation of their session are still open.
   */
  private readonly keysByHandle = new Map<string, Set<string>>();
  private readonly stopListening: () => void;
  private readonly stopRotations: () => void;
  private timer?: NodeJS.Timeout;
  private checking?: Promise<void>;
  private checkFailed = false;

  constructor(
    @Inject(RESOLVED_SESSION_OPTIONS) private readonly settings: ResolvedSessionOptions,
    @Inject(SESSION_STORE) private readonly store: SessionStore,
    events: SessionEvents,
  ) {
    this.stopListening = events.listen((event) => {
      if (ENDING_EVENTS.has(event.type)) this.endHandle(event.handle);
    });
    this.stopRotations = events.onRotation((oldId) => this.closeSession(oldId));
  }

  /**
   * Loads the session of a handshake (an HTTP upgrade, or socket.io's first request) from its cookie, or
   * with `idSource: 'header'` from its token: `token` (the transport's payload: socket.io's `auth.token`,
   * graphql-ws's `connectionParams.token`) or the handshake's headers (`handshakeSessionId`). Never rejects:
   * a missing, forged or ended session gives an anonymous connection, an unreachable MongoDB one with
   * `storeError`.
   */
  async open(handshake: IncomingMessage, token?: unknown): Promise<SocketConnection> {
    const request = Object.create(handshake) as Request;
    const id = handshakeSessionId(handshake, this.settings, token);
    if (id === undefined) return { request, authenticated: false };
    let data: SessionData | null;
    try {
      data = (await promisify(this.store.get.bind(this.store))(id)) ?? null;
    } catch (storeError) {
      return { request, authenticated: false, storeError };
    }
    if (!data) return { request, authenticated: false };
    Object.assign(request, { sessionID: id, sessionStore: socketStore(this.store) });
    const session = this.store.createSession(request, data);
    return { request, sessionId: id, authenticated: this.settings.isAuthenticated(session) };
  }

  /**
   * `true` when a handshake may open a connection with the cookie it carries: its `Origin` is the
   * application's own (scheme and `Host`) or one of `trustedOrigins`, or it has none (not a browser: browsers
   * send one with every WebSocket handshake). Checked before the session is loaded.
   */
  allowsOrigin(handshake: IncomingMessage): boolean {
    const { origin, host } = handshake.headers;
    if (origin === undefined) return true;
    const secure = (handshake.socket as Partial<TLSSocket> | null)?.encrypted === true;
    return isAllowedOrigin(origin, { host, secure, trusted: this.settings.trustedOrigins });
  }

  /** `true` when the `sockets.requireSession` option refuses this connection at the handshake. */
  refuses(connection: SocketConnection): boolean {
    return this.settings.sockets.requireSession && !connection.authenticated;
  }

  /**
   * Registers an accepted connection: its messages get its session, and `close` is called when the
   * session ends. Call `detach` when it closes.
   */
  attach(client: object, connection: SocketConnection, close: () => void): void {
    if (this.connections.has(client)) return;
    this.connections.set(client, connection);
    if (connection.sessionId === undefined) return;
    const key = storageKey(connection.sessionId);
    let entry = this.live.get(key);
    if (!entry) {
      const session = connection.request.session as object | undefined;
      entry = {
        handle: session ? this.store.handleOf(session) : sessionHandle(connection.sessionId),
        sockets: new Set(),
      };
      this.live.set(key, entry);
      const keys = this.keysByHandle.get(entry.handle) ?? new Set();
      this.keysByHandle.set(entry.handle, keys.add(key));
    }
    entry.sockets.add({ client, close });
    this.timer ??= setInterval(() => void this.check(), this.settings.sockets.checkInterval * 1000).unref();
  }

  /** Forgets a closed connection. */
  detach(client: object): void {
    const connection = this.connections.get(client);
    this.connections.delete(client);
    if (connection?.sessionId === undefined) return;
    const key = storageKey(connection.sessionId);
    const entry = this.live.get(key);
    for (const socket of entry?.sockets ?? []) if (socket.client === client) entry!.sockets.delete(socket);
    if (entry?.sockets.size === 0) this.forget(key, entry.handle);
    if (this.live.size === 0) this.stopTimer();
  }

  /**
   * Closes the sockets of the session with this id: for a session id that ended without an event, the old
   * id of a rotation (`login()`, `regenerate()`), so that its sockets reconnect with the new cookie at once
   * rather than at the next check.
   */
  closeSession(sessionId: string): void {
    this.end(storageKey(sessionId));
  }

  /** The connection registered for `client`. */
  connectionOf(client: object): SocketConnection | undefined {
    return this.connections.get(client);
  }

  /** The number of open connections that carry a session. */
  get liveCount(): number {
    let count = 0;
    for (const entry of this.live.values()) count += entry.sockets.size;
    return count;
  }

  /**
   * Runs a message's handler in the session context of the socket it came on (nothing for a socket that
   * was not registered: guards then refuse it). `request` is the request the handler is given, when it
   * has one of its own (a GraphQL operation's); it must derive from the connection's.
   */
  run<T>(client: object, handler: () => T, request?: Request): T {
    const connection = this.connections.get(client);
    if (!connection) return handler();
    const context: SocketSessionContext = {
      // Per message: what the service takes off a request (a failed write) stays in that message.
      req: request ?? (Object.create(connection.request) as Request),
      res: NO_RESPONSE,
      client,
    };
    if (connection.storeError !== undefined) context.storeError = connection.storeError;
    this.touch(connection);
    return sessionContext.run(context, handler);
  }

  /**
   * Checks the sessions of all open connections against MongoDB and closes those whose session is gone or
   * expired; what the timer runs every `sockets.checkInterval`. One query per 1000 sessions. An outage
   * closes nothing (it is logged once): it must not look like a logout.
   */
  check(): Promise<void> {
    this.checking ??= this.checkLive().finally(() => (this.checking = undefined));
    return this.checking;
  }

  onApplicationShutdown(): void {
    this.stopListening();
    this.stopRotations();
    this.stopTimer();
  }

  private async checkLive(): Promise<void> {
    const keys = [...this.live.keys()];
    try {
      for (let start = 0; start < keys.length; start += CHECK_BATCH) {
        const batch = keys.slice(start, start + CHECK_BATCH);
        const alive = await this.store.liveAmong(batch);
        for (const key of batch) if (!alive.has(key)) this.end(key);
      }
      if (this.checkFailed) this.logger.log('Open WebSocket sessions are checked again.');
      this.checkFailed = false;
    } catch (error) {
      if (!this.checkFailed) {
        this.logger.warn(
          `Could not check the sessions of open WebSocket connections (${describeError(error)}); ` +
            'they stay open and are checked again at the next interval.',
        );
      }
      this.checkFailed = true;
    }
  }

  /** A message counts as use: the session's expiry slides (throttled by `touchAfter`, as for HTTP). */
  private touch(connection: SocketConnection): void {
    const session = connection.request.session as (SessionData & { id: string }) | undefined;
    if (!session || connection.sessionId === undefined) return;
    this.store.touch(session.id, session, (error) => {
      if (error === null && this.store.wasEndedElsewhere(session)) this.end(storageKey(session.id));
    });
  }

  /** Closes every connection of the session with this handle, under its current id or an earlier one. */
  private endHandle(handle: string): void {
    for (const key of this.keysByHandle.get(handle) ?? []) this.end(key);
  }

  /** Closes every connection of the session stored under this key. */
  private end(key: string): void {
    const entry = this.live.get(key);
    if (!entry) return;
    this.forget(key, entry.handle);
    for (const socket of entry.sockets) {
      this.connections.delete(socket.client);
      try {
        socket.close();
      } catch (error) {
        this.logger.error(`Could not close a WebSocket whose session ended: ${describeError(error)}`);
      }
    }
    if (this.live.size === 0) this.stopTimer();
  }

  private forget(key: string, handle: string): void {
    this.live.delete(key);
    const keys = this.keysByHandle.get(handle);
    keys?.delete(key);
    if (keys?.size === 0) this.keysByHandle.delete(handle);
  }

  private stopTimer(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

type SocketStore = Pick<Store, 'get' | 'set' | 'touch' | 'destroy' | 'createSession' | 'regenerate'>;

/**
 * The store a socket's session saves and destroys itself through: the session store, except that it
 * cannot change the session's id (`login()`, `regenerate()`), since no cookie can carry the new one.
 */
function socketStore(store: SessionStore): SocketStore {
  return {
    get: (sid, callback) => store.get(sid, callback),
    set: (sid, session, callback) => store.set(sid, session, callback),
    touch: (sid, session, callback) => store.touch(sid, session, callback),
    destroy: (sid, callback) => store.destroy(sid, callback),
    createSession: (req, data) => store.createSession(req, data),
    regenerate: (_req, callback) => {
      callback(new SocketSessionRotationError());
    },
  };
}
