import '../../example/session-data.types.js';
import {
  All,
  Body,
  Controller,
  Get,
  Header,
  HttpCode,
  Module,
  Post,
  UseGuards,
  type INestApplication,
} from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Test } from '@nestjs/testing';
import {
  AuthGuard,
  CsrfGuard,
  Public,
  SessionModule,
  SessionService,
  type SessionModuleOptions,
} from 'nestjs-typed-session';
import { autoRemoveMode, mongoUri, type TestDatabase } from '../support/database.js';

/** Routes for what a browser does with the session cookie: lifetimes, caching, CSRF. */
@Controller('c')
@UseGuards(CsrfGuard)
class CookieController {
  constructor(private readonly sessions: SessionService) {}

  @Post('login')
  @HttpCode(200)
  async login(@Body() body: { userId: string; remember?: boolean }) {
    await this.sessions.login(
      { userId: body.userId, username: body.userId, role: 'member' },
      { remember: body.remember },
    );
    return { token: this.sessions.csrfToken() };
  }

  @Get('me')
  @UseGuards(AuthGuard)
  me() {
    return { userId: this.sessions.userId() };
  }

  @Get('cached')
  @UseGuards(AuthGuard)
  @Header('Cache-Control', 'private, max-age=60')
  cached() {
    return { cached: true };
  }

  @Get('token')
  token() {
    return { token: this.sessions.csrfToken() };
  }

  @Post('change')
  @HttpCode(200)
  change() {
    this.sessions.set('visits', (this.sessions.get('visits') ?? 0) + 1);
    return { visits: this.sessions.get('visits') };
  }

  /** Any method, TRACE included: changes the session like `change`. */
  @All('any')
  @HttpCode(200)
  any() {
    return this.change();
  }

  /** A page with a form that also writes the session: the token is stored with it. */
  @Get('welcome')
  welcome() {
    const token = this.sessions.csrfToken();
    this.sessions.set('visits', 0);
    return { token };
  }

  @Public()
  @Get('public')
  open() {
    return { open: true };
  }
}

/** Session options for a test database, with the cleanup mode the server supports. */
export function cookieOptions(db: TestDatabase, overrides: Partial<SessionModuleOptions> = {}): SessionModuleOptions {
  return { secret: 'cookie-test-secret', uri: mongoUri(), dbName: db.name, autoRemove: autoRemoveMode(), ...overrides };
}

/** A Nest app with the cookie routes; `trustProxy` lets tests act as HTTPS clients behind a proxy. */
export async function startCookieApp(
  options: SessionModuleOptions,
  settings: { trustProxy?: boolean; logger?: import('@nestjs/common').LoggerService } = {},
): Promise<INestApplication> {
  @Module({ imports: [SessionModule.forRoot(options)], controllers: [CookieController] })
  class CookieModule {}

  const moduleRef = await Test.createTestingModule({ imports: [CookieModule] }).compile();
  const app = moduleRef.createNestApplication<NestExpressApplication>({ logger: settings.logger ?? false });
  if (settings.trustProxy) app.set('trust proxy', 1);
  await app.init();
  return app;
}
