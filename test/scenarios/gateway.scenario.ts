import '../../example/session-data.types.js';
import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Module,
  Param,
  Post,
  UseGuards,
  UseInterceptors,
  type DynamicModule,
  type INestApplication,
} from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { IncomingMessage } from 'node:http';
import { Test } from '@nestjs/testing';
import { MessageBody, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import {
  AuthGuard,
  LogoutInterceptor,
  PasswordChange,
  Public,
  Session,
  SessionService,
  type SessionValue,
} from 'nestjs-typed-session';
import { SessionIoAdapter } from 'nestjs-typed-session/socket.io';
import { SessionWsAdapter } from 'nestjs-typed-session/ws';

/** The gateway's path, for both adapters (socket.io's `path` option, `ws`'s upgrade path). */
export const GATEWAY_PATH = '/live';

/** Handshakes with this header are refused by the gateways' own checks (`verifyClient`, `allowRequest`). */
export const REFUSED_BY_GATEWAY = 'x-refused-by-gateway';

/** The path of a second `ws` gateway, whose own `verifyClient` is of the synchronous form. */
export const SYNC_CHECKED_PATH = '/live-sync';

type Verified = (result: boolean, code?: number, message?: string) => void;

/**
 * Message handlers under `AuthGuard` (on the class): `whoami`, `visit`, `logout`, `login` need a session;
 * `ping` is `@Public()`. Answers carry what both `@Session()` and `SessionService` saw.
 */
@WebSocketGateway({
  path: GATEWAY_PATH,
  // The gateway's own handshake checks, as an app writes them: the ws adapter's (callback form), socket.io's.
  verifyClient: (info: { req: IncomingMessage }, done: Verified) =>
    setImmediate(() =>
      info.req.headers[REFUSED_BY_GATEWAY] ? done(false, 418, 'Refused by the gateway') : done(true),
    ),
  allowRequest: (req: IncomingMessage, done: (error: string | null, success: boolean) => void) =>
    req.headers[REFUSED_BY_GATEWAY] ? done('Refused by the gateway', false) : done(null, true),
})
@UseGuards(AuthGuard)
class SessionGateway {
  constructor(private readonly sessions: SessionService) {}

  @SubscribeMessage('whoami')
  async whoami(@Session('userId') userId: SessionValue<'userId'>, @MessageBody() body: { tag?: number } = {}) {
    // A turn of the event loop between reading the decorator and the service, to mix concurrent messages.
    await new Promise((resolve) => setImmediate(resolve));
    return { event: 'whoami', data: { userId, service: this.sessions.userId() ?? null, tag: body?.tag ?? null } };
  }

  @Public()
  @SubscribeMessage('ping')
  ping() {
    return { event: 'pong', data: { userId: this.sessions.userId() ?? null } };
  }

  @SubscribeMessage('visit')
  async visit() {
    const visits = (this.sessions.get('visits') ?? 0) + 1;
    this.sessions.set('visits', visits);
    await this.sessions.save();
    return { event: 'visited', data: { visits } };
  }

  @SubscribeMessage('logout')
  async logout() {
    await this.sessions.destroy();
    return { event: 'logged-out', data: {} };
  }

  @SubscribeMessage('rotate')
  async rotate() {
    try {
      await this.sessions.regenerate({ keep: true });
      return { event: 'rotate', data: { error: null } };
    } catch (error) {
      return { event: 'rotate', data: { error: (error as Error).name } };
    }
  }

  @SubscribeMessage('login')
  async login() {
    try {
      await this.sessions.login({ userId: 'intruder', username: 'intruder', role: 'admin' });
      return { event: 'login', data: { error: null } };
    } catch (error) {
      const cause = (error as { cause?: { name?: string } }).cause;
      return { event: 'login', data: { error: cause?.name ?? (error as Error).name } };
    }
  }
}

/** A `ws` gateway whose own `verifyClient` answers synchronously (`ws` then refuses with 401). */
@WebSocketGateway({
  path: SYNC_CHECKED_PATH,
  verifyClient: (info: { req: IncomingMessage }) => info.req.headers[REFUSED_BY_GATEWAY] === undefined,
})
class SyncCheckedGateway {
  constructor(private readonly sessions: SessionService) {}

  @SubscribeMessage('ping')
  ping() {
    return { event: 'pong', data: { userId: this.sessions.userId() ?? null } };
  }
}

/** REST routes of the same application, to log in and to end sessions while sockets are open. */
@Controller('auth')
class GatewayAuthController {
  constructor(private readonly sessions: SessionService) {}

  @Post('login')
  @HttpCode(200)
  async login(@Body() body: { userId: string }) {
    await this.sessions.login({ userId: body.userId, username: body.userId, role: 'member' });
    return { userId: body.userId };
  }

  @Post('logout')
  @HttpCode(200)
  @UseInterceptors(LogoutInterceptor)
  logout() {
    return { loggedOut: true };
  }

  @Post('password')
  @HttpCode(200)
  @UseGuards(AuthGuard)
  @PasswordChange()
  password() {
    return { changed: true };
  }

  @Post('logout-everywhere')
  @HttpCode(200)
  @UseGuards(AuthGuard)
  async logoutEverywhere(@Session('userId') userId: SessionValue<'userId'>) {
    return { ended: await this.sessions.destroyAllForUser(userId!) };
  }

  @Post('rotate')
  @HttpCode(200)
  @UseGuards(AuthGuard)
  async rotate() {
    await this.sessions.regenerate({ keep: true });
    return { rotated: true };
  }

  @Get('sessions')
  @UseGuards(AuthGuard)
  list(@Session('userId') userId: SessionValue<'userId'>) {
    return this.sessions.listForUser(userId!);
  }

  @Delete('sessions/:handle')
  @UseGuards(AuthGuard)
  async revoke(@Session('userId') userId: SessionValue<'userId'>, @Param('handle') handle: string) {
    return { revoked: await this.sessions.revoke(userId!, handle) };
  }
}

/** Which WebSocket adapter the app uses. */
export type GatewayTransport = 'socket.io' | 'ws';

/** An app with `SessionModule` as given, the gateway above on `transport`, and the REST routes; listening. */
export async function startGatewayApp(
  sessionModule: DynamicModule,
  transport: GatewayTransport,
): Promise<INestApplication> {
  const gateways = transport === 'ws' ? [SessionGateway, SyncCheckedGateway] : [SessionGateway];
  @Module({ imports: [sessionModule], controllers: [GatewayAuthController], providers: gateways })
  class GatewayScenarioModule {}

  const moduleRef = await Test.createTestingModule({ imports: [GatewayScenarioModule] }).compile();
  const app = moduleRef.createNestApplication<NestExpressApplication>({ logger: false });
  app.useWebSocketAdapter(transport === 'socket.io' ? new SessionIoAdapter(app) : new SessionWsAdapter(app));
  await app.listen(0, '127.0.0.1');
  return app;
}
