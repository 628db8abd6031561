import type { INestApplicationContext } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import type { MessageMappingProperties } from '@nestjs/websockets';
import type { Observable } from 'rxjs';
import type { ServerOptions, Socket } from 'socket.io';
import './ws-exception.presenter.js';
import { withSession } from './socket-handlers.util.js';
import { SessionSockets } from './session-sockets.service.js';

type IoOptions = NonNullable<Parameters<IoAdapter['create']>[1]>;
/** What the base adapter's `create` returns: Nest 12 types it `Server | Namespace`, Nest 11 `Server`. */
type IoServer = ReturnType<IoAdapter['create']>;

/**
 * socket.io adapter that gives every gateway connection the session of its handshake cookie: `AuthGuard`,
 * `@Public()`, `@Session()` and `SessionService` work in `@SubscribeMessage` handlers as in controllers.
 * With `'header'` in `idSource`, the session token may come instead in `auth.token` or the handshake's headers.
 * A handshake from a page of another origin than the application's own and the `trustedOrigins` is refused
 * before the gateway's own `allowRequest` runs, and no session is loaded for it.
 * With `sockets: { requireSession: true }`, a handshake without an authenticated session is refused (the
 * client's `connect_error` says `Authentication required`). A socket is disconnected when its session ends.
 *
 * @example
 * const app = await NestFactory.create(AppModule);
 * app.useWebSocketAdapter(new SessionIoAdapter(app));
 */
export class SessionIoAdapter extends IoAdapter {
  private readonly sockets: SessionSockets;

  constructor(app: INestApplicationContext) {
    super(app);
    this.sockets = app.get(SessionSockets, { strict: false });
  }

  override create(port: number, options?: IoOptions): IoServer {
    // A namespace of a server created before shares its engine, and so its check.
    const ownEngine = !(options?.server && options.namespace);
    const checked = ownEngine ? ({ ...options, allowRequest: this.allowRequest(options) } as IoOptions) : options;
    const server = super.create(port, checked);
    server.use((socket, next) => {
      const { token } = (socket.handshake.auth ?? {}) as { token?: unknown };
      this.sockets.open(socket.request, token).then((connection) => {
        if (this.sockets.refuses(connection)) return next(refusal(connection.storeError !== undefined));
        this.sockets.attach(socket, connection, () => socket.disconnect(true));
        socket.once('disconnect', () => this.sockets.detach(socket));
        next();
      }, next);
    });
    return server;
  }

  /**
   * The engine's handshake check: the Origin first (refused: 403 over HTTP long-polling, engine.io's 400
   * on a WebSocket upgrade, with `Origin not allowed`), then the gateway's own `allowRequest`.
   */
  private allowRequest(options: Partial<ServerOptions> | undefined): ServerOptions['allowRequest'] {
    const gatewayCheck = options?.allowRequest;
    return (req, done) => {
      if (!this.sockets.allowsOrigin(req)) return done('Origin not allowed', false);
      if (gatewayCheck) return gatewayCheck(req, done);
      done(null, true);
    };
  }

  override bindMessageHandlers(
    socket: Socket,
    handlers: MessageMappingProperties[],
    transform: (data: unknown) => Observable<unknown>,
  ): void {
    super.bindMessageHandlers(socket, withSession(this.sockets, socket, handlers), transform);
  }
}

/** The `connect_error` a refused client gets: its message, and the HTTP status in `data`. */
function refusal(storeFailed: boolean): Error {
  const message = storeFailed ? 'Session store unavailable' : 'Authentication required';
  return Object.assign(new Error(message), { data: { statusCode: storeFailed ? 503 : 401 } });
}
