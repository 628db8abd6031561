// The routes of the two hand-wired Nest setups: a guard and controller as a user writes them by hand.
import {
  type CanActivate,
  Controller,
  type ExecutionContext,
  Get,
  HttpCode,
  Injectable,
  Post,
  Req,
  Res,
  Session,
  UnauthorizedException,
  UseGuards,
} from '@nestjs/common';
import type { Request, Response } from 'express';
import type { SessionData } from 'express-session';
import './session-data.js';
import { BENCH_LOGIN, BENCH_SETTINGS } from './settings.js';

/** Lets a request through when its session holds a user id. */
@Injectable()
export class SessionAuthGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<Request>();
    if (!request.session?.userId) throw new UnauthorizedException();
    return true;
  }
}

@Controller()
export class BenchController {
  @Post('login')
  @HttpCode(200)
  async login(@Req() request: Request) {
    await new Promise<void>((resolve, reject) =>
      request.session.regenerate((error) => (error ? reject(error) : resolve())),
    );
    Object.assign(request.session, BENCH_LOGIN);
    return { userId: BENCH_LOGIN.userId };
  }

  /** Ends the session as a user does by hand: the document deleted, the cookie cleared. */
  @Post('logout')
  @HttpCode(200)
  async logout(@Req() request: Request, @Res({ passthrough: true }) response: Response) {
    await new Promise<void>((resolve, reject) =>
      request.session.destroy((error) => (error ? reject(error) : resolve())),
    );
    response.clearCookie(BENCH_SETTINGS.cookieName);
    return { loggedOut: true };
  }

  @Get('me')
  @UseGuards(SessionAuthGuard)
  me(@Session() session: SessionData) {
    return { userId: session.userId, username: session.username, role: session.role };
  }

  /** The write route: one key of the session changed on every request. */
  @Post('me/visits')
  @HttpCode(200)
  @UseGuards(SessionAuthGuard)
  visit(@Session() session: SessionData) {
    session.visits = (session.visits ?? 0) + 1;
    return { visits: session.visits };
  }
}
