import '../../example/session-data.types.js';
import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Module,
  Post,
  UnauthorizedException,
  type DynamicModule,
  type INestApplication,
} from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { RequireRecentAuth, SessionService } from 'nestjs-typed-session';

/** The password every test user has. */
export const PASSWORD = 'correct horse';

/** Sensitive routes ("sudo mode") behind `@RequireRecentAuth()`, and the routes that log in and confirm. */
@Controller('a')
class AccountController {
  constructor(private readonly sessions: SessionService) {}

  @Post('login')
  @HttpCode(200)
  async login(@Body() body: { userId: string }) {
    await this.sessions.login({ userId: body.userId, username: body.userId, role: 'member' });
    return { loggedIn: true };
  }

  /** Step-up: the password again, then the session counts as freshly authenticated. */
  @Post('confirm')
  @HttpCode(200)
  async confirm(@Body() body: { password: string }) {
    this.sessions.requireUserId();
    if (body.password !== PASSWORD) throw new UnauthorizedException('Wrong password');
    await this.sessions.confirmAuthentication();
    return { confirmed: true };
  }

  /** Under the `recentAuthSeconds` option. */
  @Delete('account')
  @RequireRecentAuth()
  deleteAccount() {
    return { deleted: true };
  }

  /** Under its own, shorter age. */
  @Post('email')
  @HttpCode(200)
  @RequireRecentAuth(60)
  changeEmail() {
    return { changed: true };
  }

  /** A profile form whose body is patched into the session, as careless apps write it. */
  @Post('profile')
  @HttpCode(200)
  async profile(@Body() body: Record<string, unknown>) {
    (this.sessions as SessionService<Record<string, unknown>>).patch(body);
    await this.sessions.save();
    return { data: this.sessions.data() };
  }

  @Post('rotate')
  @HttpCode(200)
  async rotate() {
    await this.sessions.regenerate({ keep: true });
    return { rotated: true };
  }

  @Post('visit')
  @HttpCode(200)
  visit() {
    this.sessions.set('visits', 1);
    return { visits: 1 };
  }

  @Get('csrf')
  csrf() {
    return { token: this.sessions.csrfToken() };
  }

  @Post('logout-everywhere')
  @HttpCode(200)
  async logoutEverywhere() {
    return { ended: await this.sessions.destroyAllForUser(this.sessions.requireUserId()) };
  }
}

/** A controller wholly in sudo mode, with one route stricter than the rest. */
@Controller('vault')
@RequireRecentAuth(600)
class VaultController {
  @Get('codes')
  recoveryCodes() {
    return { codes: ['a1b2', 'c3d4'] };
  }

  @Post('codes')
  @HttpCode(200)
  @RequireRecentAuth(30)
  renewCodes() {
    return { renewed: true };
  }
}

/** A Nest app with `SessionModule` as given and the sudo-mode routes. */
export async function startRecentAuthApp(sessionModule: DynamicModule): Promise<INestApplication> {
  @Module({ imports: [sessionModule], controllers: [AccountController, VaultController] })
  class RecentAuthModule {}

  const moduleRef = await Test.createTestingModule({ imports: [RecentAuthModule] }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return app;
}
