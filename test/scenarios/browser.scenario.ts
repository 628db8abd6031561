import '../../example/session-data.types.js';
import {
  BadRequestException,
  Body,
  Controller,
  Get,
  Header,
  Module,
  Post,
  Redirect,
  UseGuards,
  UseInterceptors,
  type INestApplication,
  type LoggerService,
} from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Test } from '@nestjs/testing';
import type { NextFunction, Request, Response } from 'express';
import type { AddressInfo } from 'node:net';
import {
  AuthGuard,
  CsrfGuard,
  LogoutInterceptor,
  Session,
  SessionModule,
  SessionService,
  type SessionEvent,
  type SessionModuleOptions,
  type SessionValue,
} from 'nestjs-typed-session';
import { autoRemoveMode, mongoUri, type TestDatabase } from '../support/database.js';

/** The secret the browser scenario signs its cookies with (tests forge cookies with it). */
export const BROWSER_SECRET = 'browser-scenario-secret';

const HTML = 'text/html; charset=utf-8';

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function htmlPage(title: string, body: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head><body>${body}</body></html>`;
}

/**
 * Pages a browser can use: a login form, a private page, a logout page and a profile form that changes
 * session data (protected by the global `CsrfGuard`, carrying its token).
 */
@Controller()
class BrowserController {
  constructor(private readonly sessions: SessionService) {}

  /**
   * The login form. A logged-in browser's form carries the session's CSRF token; a browser without a
   * session needs none (`CsrfGuard` judges it by `Sec-Fetch-Site`), so visiting it stores nothing.
   */
  @Get('login')
  @Header('Content-Type', HTML)
  loginForm() {
    const token = this.sessions.isAuthenticated() ? this.sessions.csrfToken() : undefined;
    return htmlPage(
      'Log in',
      '<form method="post" action="/login">' +
        '<input name="userId"> <label><input type="checkbox" name="remember" value="1"> remember me</label>' +
        (token === undefined ? '' : `<input type="hidden" name="_csrf" value="${escapeHtml(token)}">`) +
        '<button id="login" type="submit">Log in</button></form>',
    );
  }

  @Post('login')
  @Redirect('/private', 303)
  async login(@Body() body: { userId?: string; remember?: string }) {
    if (!body.userId) throw new BadRequestException('userId is required');
    const user = { userId: body.userId, username: body.userId, role: 'member' as const };
    await this.sessions.login(user, { remember: body.remember === '1' });
  }

  @Get('private')
  @Header('Content-Type', HTML)
  @UseGuards(AuthGuard)
  privatePage(@Session('userId') userId: SessionValue<'userId'>, @Session('username') name: SessionValue<'username'>) {
    return htmlPage('Private', `<p id="user">${escapeHtml(userId!)}</p><p id="username">${escapeHtml(name!)}</p>`);
  }

  @Get('logout')
  @Header('Content-Type', HTML)
  @UseInterceptors(LogoutInterceptor)
  logout() {
    return htmlPage('Logged out', '<p id="logged-out">logged out</p>');
  }

  /** A state-changing form with the session's CSRF token, also in a meta tag for scripts. */
  @Get('profile')
  @Header('Content-Type', HTML)
  @UseGuards(AuthGuard)
  profileForm() {
    const token = escapeHtml(this.sessions.csrfToken());
    return htmlPage(
      'Profile',
      `<meta name="csrf-token" content="${token}"><form method="post" action="/profile">` +
        `<input type="hidden" name="_csrf" value="${token}"><input name="username">` +
        '<button id="save" type="submit">Save</button></form>',
    );
  }

  /**
   * Changes the session's username, then redirects. Saved before answering: the browser follows a redirect
   * as soon as it has the headers, before express-session's own save at the end of the answer is done.
   */
  @Post('profile')
  @Redirect('/private', 303)
  @UseGuards(AuthGuard)
  async profile(@Body() body: { username?: string }) {
    if (!body.username) throw new BadRequestException('username is required');
    this.sessions.set('username', body.username);
    await this.sessions.save();
  }
}

/** One request as the app received it: what the browser sent, and the status it got. */
export interface ReceivedRequest {
  method: string;
  path: string;
  /** The request carried the session cookie (`sid` or `__Host-sid`). */
  sessionCookie: boolean;
  /** The browser's `Sec-Fetch-Site` header. */
  fetchSite?: string;
  status?: number;
}

/** A browser scenario app listening on loopback. */
export interface BrowserApp {
  app: INestApplication;
  /** `http(s)://127.0.0.1:<port>` */
  url: string;
  requests: ReceivedRequest[];
  events: SessionEvent[];
  /** Every message the app logged (errors included). */
  logs: string[];
}

/** Keeps every log line, to check what the app warned about. */
class KeepingLogger implements LoggerService {
  constructor(private readonly lines: string[]) {}
  log(message: unknown) {
    this.lines.push(String(message));
  }
  warn(message: unknown) {
    this.lines.push(String(message));
  }
  error(message: unknown, ...rest: unknown[]) {
    this.lines.push([message, ...rest].map(String).join(' '));
  }
}

/** How the browser scenario is served. */
export interface BrowserAppOptions {
  /** Serve HTTPS with this key and certificate. Default: plain HTTP. */
  https?: { key: Buffer; cert: Buffer };
  /**
   * How the global `CsrfGuard` is registered: `useExisting` (the instance `SessionModule` exports, the
   * default here) or `useClass` (a new instance in this module, as the guard's JSDoc example shows).
   */
  csrfGuard?: 'useExisting' | 'useClass';
}

/**
 * Starts the browser scenario on `db` with `SessionModule` configured by `overrides`, listening on
 * 127.0.0.1. `CsrfGuard` is global; lifecycle events, log lines and requests are recorded.
 */
export async function startBrowserApp(
  db: TestDatabase,
  overrides: Partial<SessionModuleOptions> = {},
  { https, csrfGuard = 'useExisting' }: BrowserAppOptions = {},
): Promise<BrowserApp> {
  const events: SessionEvent[] = [];
  const requests: ReceivedRequest[] = [];
  const logs: string[] = [];
  const options: SessionModuleOptions = {
    secret: BROWSER_SECRET,
    uri: mongoUri(),
    dbName: db.name,
    autoRemove: autoRemoveMode(),
    onEvent: (event) => events.push(event),
    ...overrides,
  };

  const guard = csrfGuard === 'useClass' ? { useClass: CsrfGuard } : { useExisting: CsrfGuard };

  @Module({
    imports: [SessionModule.forRoot(options)],
    controllers: [BrowserController],
    providers: [{ provide: APP_GUARD, ...guard }],
  })
  class BrowserScenarioModule {}

  const moduleRef = await Test.createTestingModule({ imports: [BrowserScenarioModule] }).compile();
  const app = moduleRef.createNestApplication<NestExpressApplication>({
    logger: new KeepingLogger(logs),
    httpsOptions: https,
  });
  app.use((req: Request, res: Response, next: NextFunction) => {
    const received: ReceivedRequest = {
      method: req.method,
      path: req.path,
      sessionCookie: /(?:^|;\s*)(?:__Host-)?sid=/.test(req.headers.cookie ?? ''),
      fetchSite: req.get('sec-fetch-site'),
    };
    requests.push(received);
    res.on('finish', () => (received.status = res.statusCode));
    next();
  });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  return { app, url: `${https ? 'https' : 'http'}://127.0.0.1:${port}`, requests, events, logs };
}
