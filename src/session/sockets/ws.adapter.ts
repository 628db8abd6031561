import type { INestApplicationContext } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import type { MessageMappingProperties } from '@nestjs/websockets';
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Observable } from 'rxjs';
import type { WebSocket, WebSocketServer } from 'ws';
import './ws-exception.presenter.js';
import { withSession } from './socket-handlers.util.js';
import { SESSION_ENDED_CLOSE_CODE } from './socket.context.js';
import { SessionSockets, type SocketConnection } from './session-sockets.service.js';

type VerifyCallback = (result: boolean, code?: number, message?: string, headers?: OutgoingHttpHeaders) => void;
interface VerifyInfo {
  origin?: string;
  secure: boolean;
  req: IncomingMessage;
}
/** A gateway's own `verifyClient`, in either of the forms `ws` takes. */
type GatewayVerifyClient = ((info: VerifyInfo) => boolean) | ((info: VerifyInfo, done: VerifyCallback) => void);

/**
 * `ws` (platform-ws) adapter that gives every gateway connection the session of its upgrade request's
 * cookie (or, with `'header'` in `idSource`, of its token header): `AuthGuard`, `@Public()`, `@Session()`
 * and `SessionService` work in `@SubscribeMessage` handlers as in controllers. An upgrade from a page of
 * another origin than the application's own and the `trustedOrigins` is answered 403; then the gateway's
 * own `verifyClient` runs, as `ws` would run it; then the session is loaded, before the upgrade is accepted.
 * With `sockets: { requireSession: true }` an upgrade without an authenticated session is answered 401 (503
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
    const gatewayCheck = options.verifyClient as GatewayVerifyClient | undefined;
    const verifyClient = (info: VerifyInfo, done: VerifyCallback) => {
      if (!this.sockets.allowsOrigin(info.req)) return done(false, 403, 'Origin not allowed');
      runGatewayCheck(gatewayCheck, info, (verified, code, message, headers) => {
        if (!verified) return done(false, code ?? 401, message, headers);
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
      });
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

/** Runs the gateway's own `verifyClient` as `ws` does: with a callback when it takes two arguments. */
function runGatewayCheck(check: GatewayVerifyClient | undefined, info: VerifyInfo, done: VerifyCallback): void {
  if (check === undefined) return done(true);
  if (check.length === 2) return void check(info, done);
  done((check as (info: VerifyInfo) => boolean)(info));
}
