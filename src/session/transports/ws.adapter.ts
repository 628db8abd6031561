import type { INestApplicationContext } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import type { MessageMappingProperties } from '@nestjs/websockets';
import type { IncomingMessage } from 'node:http';
import type { Observable } from 'rxjs';
import type { WebSocket, WebSocketServer } from 'ws';
import './ws-exception.presenter.js';
import { withSession } from './socket-handlers.js';
import { SESSION_ENDED_CLOSE_CODE } from './socket.context.js';
import { SessionSockets, type SocketConnection } from './socket-sessions.service.js';

type VerifyCallback = (result: boolean, code?: number, message?: string) => void;

/**
 * `ws` (platform-ws) adapter that gives every gateway connection the session of its upgrade request's
 * cookie: `AuthGuard`, `@Public()`, `@Session()` and `SessionService` work in `@SubscribeMessage` handlers
 * as in controllers. The session is loaded before the upgrade is accepted; with
 * `sockets: { requireSession: true }` an upgrade without an authenticated session is answered 401 (503
 * when MongoDB is unreachable). A socket is closed with code 4401 when its session ends.
 *
 * @example
 * const app = await NestFactory.create(AppModule);
 * app.useWebSocketAdapter(new SessionWsAdapter(app));
 */
export class SessionWsAdapter extends WsAdapter {
  private readonly sockets: SessionSockets;
  /** Connections loaded at the upgrade, until the socket is open. */
  private readonly upgrades = new WeakMap<IncomingMessage, SocketConnection>();

  constructor(app: INestApplicationContext, options?: ConstructorParameters<typeof WsAdapter>[1]) {
    super(app, options);
    this.sockets = app.get(SessionSockets, { strict: false });
  }

  override create(port: number, options: Record<string, unknown> & { path?: string } = {}): WebSocketServer {
    const verifyClient = (info: { req: IncomingMessage }, done: VerifyCallback) => {
      this.sockets.open(info.req).then(
        (connection) => {
          if (!this.sockets.refuses(connection)) {
            this.upgrades.set(info.req, connection);
            return done(true);
          }
          if (connection.storeError !== undefined) return done(false, 503, 'Session store unavailable');
          done(false, 401, 'Authentication required');
        },
        () => done(false, 500),
      );
    };
    const server = super.create(port, { ...options, verifyClient }) as WebSocketServer;
    // Registered before Nest's own listener: the session is in place when handleConnection runs.
    server.on('connection', (client: WebSocket, request: IncomingMessage) => {
      const connection = this.upgrades.get(request);
      if (!connection) return;
      this.upgrades.delete(request);
      this.sockets.attach(client, connection, () => client.close(SESSION_ENDED_CLOSE_CODE, 'Session ended'));
      client.once('close', () => this.sockets.detach(client));
    });
    return server;
  }

  override bindMessageHandlers(
    client: WebSocket,
    handlers: MessageMappingProperties[],
    transform: (data: unknown) => Observable<unknown>,
  ): void {
    super.bindMessageHandlers(client, withSession(this.sockets, client, handlers), transform);
  }
}
