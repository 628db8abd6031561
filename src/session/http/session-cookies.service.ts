import { Inject, Injectable } from '@nestjs/common';
import type { SessionCookies } from '../core/session-cookies.interface.js';
import type { SessionContext } from '../core/session.context.js';
import type { ResolvedSessionOptions } from '../interfaces/resolved-session-options.interface.js';
import { RESOLVED_SESSION_OPTIONS, SESSION_STORE } from '../session.constants.js';
import type { SessionStore } from '../store/session-store.interface.js';
import { clearSessionCookie, fitCookieLifetime } from './session-cookie.util.js';

/** The session cookie of an HTTP response, as `SessionService` changes it (`SESSION_COOKIES`). */
@Injectable()
export class HttpSessionCookies implements SessionCookies {
  constructor(
    @Inject(RESOLVED_SESSION_OPTIONS) private readonly settings: ResolvedSessionOptions,
    @Inject(SESSION_STORE) private readonly store: SessionStore,
  ) {}

  clear(context: SessionContext): void {
    clearSessionCookie(context.req, context.res, this.settings);
  }

  fitLifetime(context: SessionContext): void {
    fitCookieLifetime(context, this.store);
  }
}
