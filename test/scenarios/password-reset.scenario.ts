import '../../example/session-data.types.js';
import {
  BadRequestException,
  Body,
  Controller,
  Get,
  HttpCode,
  Module,
  Param,
  Post,
  UseGuards,
  type DynamicModule,
  type INestApplication,
} from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { Request } from 'express';
import { AuthGuard, PasswordChange, SessionService } from 'nestjs-typed-session';

/** What the password routes did, for tests that check a handler ran or did not. */
export const passwordChanges: string[] = [];

/**
 * Password changes from requests that have no session of the user: a reset by an e-mailed link (the user
 * comes from the link's token, so from the handler's result) and an administrator's change of another
 * user's password (the user comes from the route). The reset link's token is `reset-<userId>` here.
 */
@Controller('r')
class PasswordController {
  constructor(private readonly sessions: SessionService) {}

  @Post('login')
  @HttpCode(200)
  async login(@Body() body: { userId: string; role?: 'admin' | 'member' }) {
    await this.sessions.login({ userId: body.userId, username: body.userId, role: body.role ?? 'member' });
    return { loggedIn: true };
  }

  @Get('me')
  @UseGuards(AuthGuard)
  me() {
    return { userId: this.sessions.requireUserId() };
  }

  /** A reset by link: the user is the one the token names, known only once the handler checked it. */
  @Post('reset')
  @HttpCode(200)
  @PasswordChange({ userId: ({ result }) => (result as { userId: string }).userId })
  reset(@Body() body: { token: string }) {
    if (!body.token?.startsWith('reset-')) throw new BadRequestException('The reset link is not valid');
    const userId = body.token.slice('reset-'.length);
    passwordChanges.push(`reset ${userId}`);
    return { userId };
  }

  /** An administrator sets another user's password: the user is the route's. */
  @Post('admin/users/:id/password')
  @HttpCode(200)
  @UseGuards(AuthGuard)
  @PasswordChange({ userId: ({ request }) => (request as Request).params.id })
  adminSetPassword(@Param('id') id: string) {
    if (this.sessions.data()?.role !== 'admin') throw new BadRequestException('Administrators only');
    passwordChanges.push(`admin ${id}`);
    return { changed: id };
  }

  /** A reset whose user comes from the body as the client sent it: whatever it holds is judged. */
  @Post('reset-as-sent')
  @HttpCode(200)
  @PasswordChange({ userId: ({ request }) => (request as Request).body.userId })
  resetAsSent() {
    passwordChanges.push('reset as sent');
    return { reset: true };
  }

  /** `@PasswordChange()` without `userId`, on a route a request without a session can reach. */
  @Post('unguarded-change')
  @HttpCode(200)
  @PasswordChange()
  unguardedChange() {
    passwordChanges.push('unguarded change');
    return { changed: true };
  }
}

/** A Nest app with `SessionModule` as given and the password routes. */
export async function startPasswordApp(sessionModule: DynamicModule): Promise<INestApplication> {
  @Module({ imports: [sessionModule], controllers: [PasswordController] })
  class PasswordModule {}

  const moduleRef = await Test.createTestingModule({ imports: [PasswordModule] }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return app;
}
