import '../../src/app/session-data.js';
import {
  BadRequestException,
  Body,
  Controller,
  Get,
  HttpCode,
  Module,
  Post,
  UseGuards,
  UseInterceptors,
  type DynamicModule,
  type INestApplication,
} from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  AuthGuard,
  LogoutInterceptor,
  Session,
  SessionModule,
  SessionService,
  type SessionModuleOptions,
  type SessionValue,
} from 'nestjs-typed-session';
import { autoRemoveMode, mongoUri, type TestDatabase } from '../support/database.js';

/** A promise a test resolves, to hold a request open in its handler. */
export class Gate {
  private release!: () => void;
  readonly opened = new Promise<void>((resolve) => (this.release = resolve));
  private arrive!: () => void;
  /** Resolves once a handler waits at the gate. */
  readonly reached = new Promise<void>((resolve) => (this.arrive = resolve));
  wait(): Promise<void> {
    this.arrive();
    return this.opened;
  }
  open(): void {
    this.release();
  }
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

  @Post('bad-key')
  @HttpCode(200)
  badKey(@Body() body: { key: string }) {
    (this.sessions as SessionService<Record<string, unknown>>).set(body.key, 'x');
    return { stored: true };
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

/** A Nest app with `SessionModule` as given and the scenario routes. */
export async function startScenarioApp(sessionModule: DynamicModule): Promise<INestApplication> {
  @Module({ imports: [sessionModule], controllers: [ScenarioController] })
  class ScenarioModule {}

  const moduleRef = await Test.createTestingModule({ imports: [ScenarioModule] }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return app;
}
