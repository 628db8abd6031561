import {
  BadRequestException,
  Body,
  Controller,
  Delete,
  ForbiddenException,
  Get,
  HttpCode,
  NotFoundException,
  Param,
  Post,
  UnauthorizedException,
  UseInterceptors,
} from '@nestjs/common';
import {
  LogoutInterceptor,
  PasswordChange,
  Public,
  RequireRecentAuth,
  Session,
  SessionService,
  type SessionValue,
} from 'nestjs-typed-session';
import { UsersService } from './users.service.js';

function requireString(body: unknown, field: string, max = 200): string {
  const value = (body as Record<string, unknown> | undefined)?.[field];
  if (typeof value !== 'string' || value.length === 0 || value.length > max) {
    throw new BadRequestException(`"${field}" must be a non-empty string of at most ${max} characters`);
  }
  return value;
}

@Controller('auth')
export class AuthController {
  constructor(
    private readonly users: UsersService,
    private readonly sessions: SessionService,
  ) {}

  /** Checks the credentials, then logs in: a new session id, the user's data stored. */
  @Public()
  @Post('login')
  @HttpCode(200)
  async login(@Body() body: unknown) {
    const user = this.users.verify(requireString(body, 'username'), requireString(body, 'password'));
    if (!user) throw new UnauthorizedException('Invalid username or password');
    await this.sessions.login({ userId: user.id, username: user.username, role: user.role });
    return { userId: user.id, username: user.username };
  }

  /** Ends the session (document deleted, cookie cleared); harmless without one. */
  @Public()
  @Post('logout')
  @HttpCode(200)
  @UseInterceptors(LogoutInterceptor)
  logout() {
    return { loggedOut: true };
  }

  /** Changes the password; the other devices are logged out and this session gets a new id. */
  @Post('password')
  @HttpCode(200)
  @PasswordChange()
  changePassword(@Body() body: unknown, @Session('username') username: SessionValue<'username'>) {
    const current = requireString(body, 'currentPassword');
    const next = requireString(body, 'newPassword');
    if (next.length < 8) throw new BadRequestException('"newPassword" must have at least 8 characters');
    if (!username || !this.users.changePassword(username, current, next)) {
      throw new ForbiddenException('The current password is wrong');
    }
    return { changed: true };
  }

  /** Step-up ("sudo mode"): the password again, then routes under `@RequireRecentAuth()` work for 15 min. */
  @Post('confirm')
  @HttpCode(200)
  async confirm(@Body() body: unknown, @Session('username') username: SessionValue<'username'>) {
    const password = requireString(body, 'password');
    if (!username || !this.users.verify(username, password)) throw new ForbiddenException('The password is wrong');
    await this.sessions.confirmAuthentication();
    return { confirmed: true };
  }

  /** A sensitive page: only within 15 minutes of the login or of `POST /auth/confirm`. */
  @Get('recovery-codes')
  @RequireRecentAuth()
  recoveryCodes(@Session('userId') userId: SessionValue<'userId'>) {
    return { userId, codes: ['7f3a-91c2', 'b0d4-5e6f'] };
  }

  /** Logs the user out everywhere: every one of the user's sessions ends, this one included (cookie cleared). */
  @Post('logout-everywhere')
  @HttpCode(200)
  async logoutEverywhere() {
    const ended = await this.sessions.destroyAllForUser(this.sessions.requireUserId());
    return { ended };
  }

  /** The user's live sessions (devices), by public handle. */
  @Get('sessions')
  async list(@Session('userId') userId: SessionValue<'userId'>) {
    const sessions = await this.sessions.listForUser(userId!);
    return sessions.map(({ handle, current, createdAt, lastSeenAt, expiresAt, userAgent, ip }) => ({
      handle,
      current,
      createdAt,
      lastSeenAt,
      expiresAt,
      userAgent,
      ip,
    }));
  }

  /** Ends one of the user's sessions; another user's handle is "not found", like an unknown one. */
  @Delete('sessions/:handle')
  @HttpCode(204)
  async revoke(@Session('userId') userId: SessionValue<'userId'>, @Param('handle') handle: string) {
    if (!(await this.sessions.revoke(userId!, handle))) throw new NotFoundException('No such session');
  }
}
