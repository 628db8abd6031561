import '../../example/session-data.types.js';
import {
  Body,
  Controller,
  Delete,
  Get,
  Headers,
  HttpCode,
  Module,
  Param,
  Post,
  Query,
  UseGuards,
  UseInterceptors,
  type INestApplication,
} from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  AuthGuard,
  LogoutInterceptor,
  PasswordChange,
  Session,
  SessionModule,
  SessionService,
  type SessionModuleOptions,
  type SessionValue,
} from 'nestjs-typed-session';

/** The header by which the model test names a request (an operation of a batch). */
export const OPERATION_HEADER = 'x-model-op';

let logicalTime = 0;

/**
 * A logical clock shared by the test and the app, which run in one process: it orders events (this happened
 * before that) without reading the time.
 */
export function tick(): number {
  return (logicalTime += 1);
}

/**
 * For each named request (`OPERATION_HEADER`) whose handler ran: the logical time at which it was done waiting
 * and about to use its session's document (rotate it, or have it saved or touched at the end of the request).
 * The first time only: an operation of two requests keeps its earlier one.
 */
export const handlersRun = new Map<string, number>();

function handlerRuns(operation: string | undefined): void {
  if (operation && !handlersRun.has(operation)) handlersRun.set(operation, tick());
}

/** The longest a slow handler may hold its session, in milliseconds. */
const MAX_HOLD_MS = 50;

/** Waits `hold` milliseconds (a query parameter), at most `MAX_HOLD_MS`: a slow handler. */
function holdFor(hold: string | undefined): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.min(Number(hold) || 0, MAX_HOLD_MS)));
}

/** Routes for the model-based concurrency test: every one but login and logout needs a live session. */
@Controller('m')
class ModelController {
  constructor(private readonly sessions: SessionService) {}

  @Post('login')
  @HttpCode(200)
  async login(@Body() body: { userId: string }) {
    await this.sessions.login({ userId: body.userId, username: body.userId, role: 'member' });
    return { ok: true };
  }

  @Get('whoami')
  @UseGuards(AuthGuard)
  whoami(@Session('userId') userId: SessionValue<'userId'>, @Headers(OPERATION_HEADER) operation?: string) {
    handlerRuns(operation);
    return { userId };
  }

  /** A write that holds its loaded session for `hold` ms first (a slow handler). */
  @Post('write')
  @HttpCode(200)
  @UseGuards(AuthGuard)
  async write(@Query('hold') hold: string | undefined, @Headers(OPERATION_HEADER) operation?: string) {
    await holdFor(hold);
    handlerRuns(operation);
    this.sessions.set('visits', (this.sessions.get('visits') ?? 0) + 1);
    return { userId: this.sessions.userId() };
  }

  /** A new id for the current session, keeping the login (`regenerate({ keep })`), after `hold` ms. */
  @Post('rotate')
  @HttpCode(200)
  @UseGuards(AuthGuard)
  async rotate(@Query('hold') hold: string | undefined, @Headers(OPERATION_HEADER) operation?: string) {
    await holdFor(hold);
    handlerRuns(operation);
    await this.sessions.regenerate({ keep: ['userId', 'username', 'role', 'visits'] });
    return { userId: this.sessions.userId() };
  }

  @Post('logout')
  @HttpCode(200)
  @UseInterceptors(LogoutInterceptor)
  logout() {
    return { ok: true };
  }

  @Post('logout-everywhere')
  @HttpCode(200)
  @UseGuards(AuthGuard)
  async logoutEverywhere(
    @Session('userId') userId: SessionValue<'userId'>,
    @Headers(OPERATION_HEADER) operation?: string,
  ) {
    handlerRuns(operation);
    return { ended: await this.sessions.destroyAllForUser(userId!) };
  }

  /** A password change taking `hold` ms (as hashing the new password would); the interceptor runs after it. */
  @Post('password')
  @HttpCode(200)
  @UseGuards(AuthGuard)
  @PasswordChange()
  async changePassword(@Query('hold') hold: string | undefined, @Headers(OPERATION_HEADER) operation?: string) {
    await holdFor(hold);
    handlerRuns(operation);
    return { changed: true };
  }

  @Get('sessions')
  @UseGuards(AuthGuard)
  listSessions(@Session('userId') userId: SessionValue<'userId'>, @Headers(OPERATION_HEADER) operation?: string) {
    handlerRuns(operation);
    return this.sessions.listForUser(userId!);
  }

  @Delete('sessions/:handle')
  @UseGuards(AuthGuard)
  async revoke(
    @Session('userId') userId: SessionValue<'userId'>,
    @Param('handle') handle: string,
    @Headers(OPERATION_HEADER) operation?: string,
  ) {
    handlerRuns(operation);
    return { revoked: await this.sessions.revoke(userId!, handle) };
  }
}

/** A Nest app with `SessionModule.forRoot(options)` and the model routes under `/m`, listening on loopback. */
export async function startModelApp(options: SessionModuleOptions): Promise<{ app: INestApplication; url: string }> {
  @Module({ imports: [SessionModule.forRoot(options)], controllers: [ModelController] })
  class ModelModule {}

  const moduleRef = await Test.createTestingModule({ imports: [ModelModule] }).compile();
  const app = moduleRef.createNestApplication({ logger: ['error'] });
  await app.listen(0, '127.0.0.1');
  return { app, url: await app.getUrl() };
}

/** Free-form session keys, for the tabs of one session. */
type TabData = Record<string, unknown>;

/**
 * Routes for several tabs of one session: set, unset and change in place any key, rotate the id, log out; each
 * after holding the loaded session `hold` ms.
 */
@Controller('t')
class TabsController {
  constructor(private readonly sessions: SessionService<TabData>) {}

  @Post('login')
  @HttpCode(200)
  async login(@Body() body: { userId: string }) {
    await this.sessions.login({ userId: body.userId, username: body.userId, role: 'member' });
    return { ok: true };
  }

  @Get('whoami')
  @UseGuards(AuthGuard)
  whoami(@Session('userId') userId: unknown) {
    return { userId };
  }

  @Post('set/:key')
  @HttpCode(200)
  @UseGuards(AuthGuard)
  async set(
    @Param('key') key: string,
    @Body() body: { value: unknown },
    @Query('hold') hold?: string,
    @Headers(OPERATION_HEADER) operation?: string,
  ) {
    await holdFor(hold);
    handlerRuns(operation);
    this.sessions.set(key, body.value);
    return { set: key };
  }

  @Post('unset/:key')
  @HttpCode(200)
  @UseGuards(AuthGuard)
  async unset(@Param('key') key: string, @Query('hold') hold?: string, @Headers(OPERATION_HEADER) operation?: string) {
    await holdFor(hold);
    handlerRuns(operation);
    this.sessions.unset(key);
    return { unset: key };
  }

  /** An in-place change: appends to the list under `key` through the loaded value (a new list when none). */
  @Post('push/:key')
  @HttpCode(200)
  @UseGuards(AuthGuard)
  async push(
    @Param('key') key: string,
    @Body() body: { value: unknown },
    @Query('hold') hold?: string,
    @Headers(OPERATION_HEADER) operation?: string,
  ) {
    await holdFor(hold);
    handlerRuns(operation);
    const list = this.sessions.get(key);
    if (Array.isArray(list)) list.push(body.value);
    else this.sessions.set(key, [body.value]);
    return { pushed: key };
  }

  /**
   * A new id for the session (`regenerate({ keep })`), after `hold` ms: keeping the login and the keys named in
   * `keep` (comma-separated), or all of its data without `keep`.
   */
  @Post('rotate')
  @HttpCode(200)
  @UseGuards(AuthGuard)
  async rotate(
    @Query('hold') hold?: string,
    @Query('keep') keep?: string,
    @Headers(OPERATION_HEADER) operation?: string,
  ) {
    await holdFor(hold);
    handlerRuns(operation);
    const kept = keep === undefined ? true : ['userId', 'username', 'role', ...keep.split(',').filter(Boolean)];
    await this.sessions.regenerate({ keep: kept });
    return { rotated: true };
  }

  @Post('logout')
  @HttpCode(200)
  @UseInterceptors(LogoutInterceptor)
  logout(@Headers(OPERATION_HEADER) operation?: string) {
    handlerRuns(operation);
    return { ok: true };
  }
}

/** A Nest app with `SessionModule.forRoot(options)` and the tab routes under `/t`, listening on loopback. */
export async function startTabsApp(options: SessionModuleOptions): Promise<{ app: INestApplication; url: string }> {
  @Module({ imports: [SessionModule.forRoot(options)], controllers: [TabsController] })
  class TabsModule {}

  const moduleRef = await Test.createTestingModule({ imports: [TabsModule] }).compile();
  const app = moduleRef.createNestApplication({ logger: ['error'] });
  await app.listen(0, '127.0.0.1');
  return { app, url: await app.getUrl() };
}
