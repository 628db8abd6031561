import '../../example/session-data.types.js';
import {
  BadRequestException,
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Module,
  Param,
  Post,
  Req,
  UseGuards,
  UseInterceptors,
  type DynamicModule,
  type INestApplication,
  type LoggerService,
  type Type,
} from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { Request } from 'express';
import { Test } from '@nestjs/testing';
import {
  AuthGuard,
  LogoutInterceptor,
  PasswordChange,
  Session,
  SessionService,
  type SessionModuleOptions,
  type SessionValue,
} from 'nestjs-typed-session';
import { autoRemoveMode, mongoUri, type TestDatabase } from '../support/database.js';

/** A promise a test resolves, to hold requests open in their handlers. */
export class Gate {
  private release!: () => void;
  private readonly opened = new Promise<void>((resolve) => (this.release = resolve));
  private arrived = 0;
  private readonly waiters: { count: number; resolve: () => void }[] = [];

  /** Called by a handler: resolves when the test opens the gate. */
  wait(): Promise<void> {
    this.arrived += 1;
    for (const waiter of this.waiters.filter((w) => w.count <= this.arrived)) waiter.resolve();
    return this.opened;
  }

  /** Resolves once `count` handlers wait at the gate (their sessions are loaded by then). */
  reached(count = 1): Promise<void> {
    if (this.arrived >= count) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ count, resolve }));
  }

  open(): void {
    this.release();
  }
}

/** A few milliseconds of server-side jitter between loading a session and saving it, to mix interleavings. */
function jitter(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.random() * 4));
}

export const gates: { current?: Gate } = {};

/** Routes that drive each `SessionService` call directly; no global guard. */
@Controller('s')
class ScenarioController {
  constructor(private readonly sessions: SessionService) {}

  @Post('login')
  @HttpCode(200)
  async login(@Body() body: { userId: string; role?: 'admin' | 'member' }) {
    await this.sessions.login({ userId: body.userId, username: body.userId, role: body.role ?? 'member' });
    return { id: this.sessions.id };
  }

  @Get('guarded')
  @UseGuards(AuthGuard)
  guarded(@Session('userId') userId: SessionValue<'userId'>) {
    return { userId };
  }

  @Get('state')
  state() {
    return { authenticated: this.sessions.isAuthenticated(), data: this.sessions.data() ?? null };
  }

  @Post('visit')
  @HttpCode(200)
  visit() {
    this.sessions.set('visits', (this.sessions.get('visits') ?? 0) + 1);
    return { visits: this.sessions.get('visits') };
  }

  @Post('patch')
  @HttpCode(200)
  async patch(@Body() body: { visits?: number; role?: 'admin' | 'member'; unsetVisits?: boolean }) {
    if (body.unsetVisits) this.sessions.unset('visits');
    else this.sessions.patch({ visits: body.visits, role: body.role });
    await this.sessions.save();
    return this.sessions.data();
  }

  @Post('regenerate')
  @HttpCode(200)
  async regenerate() {
    await this.sessions.regenerate({ keep: ['visits'] });
    return { id: this.sessions.id, data: this.sessions.data() };
  }

  @Post('destroy-twice')
  @HttpCode(200)
  async destroyTwice() {
    await this.sessions.destroy();
    await this.sessions.destroy();
    return { session: this.sessions.session ?? null };
  }

  @Post('logout-fails')
  @UseInterceptors(LogoutInterceptor)
  logoutFails() {
    throw new BadRequestException('the handler failed');
  }

  @Post('logout-everywhere')
  @HttpCode(200)
  async logoutEverywhere(@Session('userId') userId: SessionValue<'userId'>) {
    return { ended: await this.sessions.destroyAllForUser(userId!) };
  }

  @Post('logout-others')
  @HttpCode(200)
  async logoutOthers(@Session('userId') userId: SessionValue<'userId'>) {
    return { ended: await this.sessions.destroyAllForUser(userId!, { exceptCurrent: true }) };
  }

  @Post('raw-patch')
  @HttpCode(200)
  rawPatch(@Body() body: Record<string, unknown>) {
    this.sessions.patch(body);
    return { data: this.sessions.data() };
  }

  @Post('weird')
  @HttpCode(200)
  weird(@Body() body: { kind: string }) {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const values: Record<string, unknown> = {
      function: () => 1,
      bigint: 10n,
      circular,
      map: new Map([['a', 1]]),
      nan: Number.NaN,
      nested$: { filter: { $where: 'sleep(1000)' } },
    };
    (this.sessions as SessionService<Record<string, unknown>>).set('visits', values[body.kind]);
    return { stored: true };
  }

  @Post('bad-key')
  @HttpCode(200)
  badKey(@Body() body: { key: string }) {
    (this.sessions as SessionService<Record<string, unknown>>).set(body.key, 'x');
    return { stored: true };
  }

  @Get('held-read')
  async heldRead() {
    await gates.current?.wait();
    return { read: true };
  }

  @Post('held-write')
  @HttpCode(200)
  async heldWrite() {
    await gates.current?.wait();
    this.sessions.set('visits', (this.sessions.get('visits') ?? 0) + 1);
    return { written: true };
  }

  @Post('held-regenerate')
  @HttpCode(200)
  async heldRegenerate() {
    await gates.current?.wait();
    await this.sessions.regenerate({ keep: true });
    return { rotated: true };
  }

  @Get('jitter-read')
  async jitterRead() {
    await jitter();
    return { read: true };
  }

  @Post('jitter-write')
  @HttpCode(200)
  async jitterWrite() {
    await jitter();
    this.sessions.set('visits', (this.sessions.get('visits') ?? 0) + 1);
    return { written: true };
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
  changePassword() {
    return { changed: true };
  }

  @Get('whoami')
  whoami() {
    return { userId: this.sessions.requireUserId() }; // unguarded on purpose: 401 without a login
  }

  @Get('health')
  health() {
    return { ok: true };
  }

  @Get('sessions')
  @UseGuards(AuthGuard)
  listSessions() {
    return this.sessions.listForUser(this.sessions.requireUserId());
  }

  @Delete('sessions/:handle')
  @UseGuards(AuthGuard)
  async revokeSession(@Session('userId') userId: SessionValue<'userId'>, @Param('handle') handle: string) {
    return { revoked: await this.sessions.revoke(userId!, handle) };
  }

  // Hostile routes, written the way real apps write them: an admin console that passes a JSON body's user id
  // and handle straight to the per-user APIs, a profile form whose body is patched into the session, a login
  // and a rotation that take their data from the body.

  @Post('admin/list')
  @HttpCode(200)
  adminList(@Body() body: { userId: SessionValue<'userId'> }) {
    return this.sessions.listForUser(body.userId!);
  }

  @Post('admin/revoke')
  @HttpCode(200)
  async adminRevoke(@Body() body: { userId: SessionValue<'userId'>; handle: string }) {
    return { revoked: await this.sessions.revoke(body.userId!, body.handle) };
  }

  @Post('admin/destroy-all')
  @HttpCode(200)
  async adminDestroyAll(@Body() body: { userId: SessionValue<'userId'> }) {
    return { ended: await this.sessions.destroyAllForUser(body.userId!) };
  }

  @Post('profile')
  @HttpCode(200)
  async profile(@Body() body: Record<string, unknown>) {
    this.sessions.patch(body);
    await this.sessions.save();
    return { data: this.sessions.data() };
  }

  @Post('raw-write')
  @HttpCode(200)
  async rawWrite(@Body() body: { key: string; value: unknown }, @Req() req: Request) {
    (req.session as unknown as Record<string, unknown>)[body.key] = body.value; // past SessionService's checks
    await this.sessions.save();
    return { data: this.sessions.data() };
  }

  @Post('raw-write-unsaved')
  @HttpCode(200)
  rawWriteUnsaved(@Body() body: { key: string; value: unknown }, @Req() req: Request) {
    (req.session as unknown as Record<string, unknown>)[body.key] = body.value; // committed before the answer
    return { written: body.key };
  }

  @Post('login-with')
  @HttpCode(200)
  async loginWith(@Body() body: Record<string, unknown> & { userId: string }) {
    await (this.sessions as SessionService<Record<string, unknown>>).login(body);
    return { id: this.sessions.id };
  }

  @Post('regenerate-keep')
  @HttpCode(200)
  async regenerateKeep(@Body() body: { keep: string[] }) {
    await (this.sessions as SessionService<Record<string, unknown>>).regenerate({ keep: body.keep });
    return { data: this.sessions.data() };
  }

  @Post('held-logout')
  @HttpCode(200)
  @UseInterceptors(LogoutInterceptor)
  async heldLogout() {
    await gates.current?.wait();
    return { loggedOut: true };
  }
}

/** Session options for a test database, with the cleanup mode the server supports. */
export function scenarioOptions(db: TestDatabase, overrides: Partial<SessionModuleOptions> = {}): SessionModuleOptions {
  return {
    secret: 'scenario-test-secret',
    uri: mongoUri(),
    dbName: db.name,
    autoRemove: autoRemoveMode(),
    ...overrides,
  };
}

/**
 * A Nest app with `SessionModule` as given and the scenario routes (and `controllers` beside them); logs go
 * to `logger` when given. `trustProxy` lets tests act as HTTPS clients behind a proxy (`X-Forwarded-Proto`,
 * `X-Forwarded-For`).
 */
export async function startScenarioApp(
  sessionModule: DynamicModule,
  logger?: LoggerService,
  options: { trustProxy?: boolean; globalPrefix?: string; controllers?: Type[] } = {},
): Promise<INestApplication> {
  @Module({ imports: [sessionModule], controllers: [ScenarioController, ...(options.controllers ?? [])] })
  class ScenarioModule {}

  const moduleRef = await Test.createTestingModule({ imports: [ScenarioModule] }).compile();
  const app = moduleRef.createNestApplication<NestExpressApplication>({ logger: logger ?? false });
  if (options.trustProxy) app.set('trust proxy', 1);
  if (options.globalPrefix) app.setGlobalPrefix(options.globalPrefix);
  await app.init();
  return app;
}

/** Keeps what the application logs, for tests that check a log line. */
export class CapturingLogger implements LoggerService {
  readonly lines: { level: string; message: string }[] = [];
  log(message: unknown) {
    this.lines.push({ level: 'log', message: String(message) });
  }
  warn(message: unknown) {
    this.lines.push({ level: 'warn', message: String(message) });
  }
  error(message: unknown) {
    this.lines.push({ level: 'error', message: String(message) });
  }
}
