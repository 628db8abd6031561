import { Controller, Get } from '@nestjs/common';
import { Public, Session, SessionService, type UserSession } from 'nestjs-typed-session';

@Controller()
export class MeController {
  constructor(private readonly sessions: SessionService) {}

  /** Who is logged in (guarded by the global AuthGuard). */
  @Get('me')
  me(@Session() session: UserSession) {
    return { userId: session.userId, username: session.username, role: session.role };
  }

  /** Counts visits in an anonymous session: a session with data but no user. */
  @Public()
  @Get('visits')
  visits() {
    const visits = (this.sessions.get('visits') ?? 0) + 1;
    this.sessions.set('visits', visits);
    return { visits };
  }

  /** A route that never needs the session: left out of session loading (`exclude`), so `@Public()`. */
  @Public()
  @Get('health')
  health() {
    return { ok: true };
  }
}
