import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { timingSafeEqual } from 'node:crypto';
import { CSRF_KEY, asRecord } from './session.data.js';
import { CsrfTokenError } from './session.errors.js';
import { RESOLVED_SESSION_OPTIONS } from './session.internal-constants.js';
import type { ResolvedSessionOptions } from './session.options.js';
import { httpRequestOf, sessionContextOf, throwIfLoadFailed } from './session.request.js';
import { SessionStore } from './session.store.js';

/** Methods that must not change state, and so are never checked. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

/** `Sec-Fetch-Site` values of a request a page of this very origin made, or the user typed. */
const FIRST_PARTY = new Set(['same-origin', 'none']);

/**
 * Cross-site request forgery protection tied to the session (the synchronizer-token pattern, as Spring
 * Security's `CsrfFilter` and Django's `CsrfViewMiddleware` apply it). An unsafe request (POST, PUT, PATCH,
 * DELETE) of a stored session must carry that session's token, `SessionService.csrfToken()`, in the
 * `X-CSRF-Token` header or the `_csrf` form field (see the `csrf` option); a request without a session is
 * refused when the browser says another site sent it (`Sec-Fetch-Site`), which covers login forgery. Safe
 * methods are never checked, `@Public()` routes are (a login form can be forged too). Answers 403
 * `CsrfTokenError`. HTTP routes and GraphQL over HTTP are checked; other transports carry no cookie to forge
 * and pass.
 *
 * @example
 * providers: [{ provide: APP_GUARD, useClass: CsrfGuard }]
 */
@Injectable()
export class CsrfGuard implements CanActivate {
  constructor(
    @Inject(RESOLVED_SESSION_OPTIONS) private readonly settings: ResolvedSessionOptions,
    private readonly store: SessionStore,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const req = httpRequestOf(context);
    if (!req || SAFE_METHODS.has(req.method)) return true;
    const current = sessionContextOf(context);
    throwIfLoadFailed(current);
    const session = current?.req.session;
    if (!session || !this.store.isStored(session)) {
      const site = req.get('sec-fetch-site');
      if (site !== undefined && !FIRST_PARTY.has(site)) throw new CsrfTokenError(`a ${site} request without a session`);
      return true;
    }
    const expected = asRecord(session)[CSRF_KEY];
    if (typeof expected !== 'string') {
      throw new CsrfTokenError('this session has no token yet; render csrfToken() in the page that sends the request');
    }
    const sent = this.tokenOf(req.get(this.settings.csrf.headerName), req.body as Record<string, unknown> | undefined);
    if (sent === undefined) {
      throw new CsrfTokenError(
        `no token; send it in the ${this.settings.csrf.headerName} header or the ${this.settings.csrf.fieldName} field`,
      );
    }
    if (!sameToken(sent, expected)) throw new CsrfTokenError('the token does not match this session');
    return true;
  }

  /** The token the request carries: the header, else the body field. */
  protected tokenOf(header: string | undefined, body: Record<string, unknown> | undefined): string | undefined {
    if (header !== undefined && header !== '') return header;
    const field = body !== null && typeof body === 'object' ? body[this.settings.csrf.fieldName] : undefined;
    return typeof field === 'string' && field !== '' ? field : undefined;
  }
}

function sameToken(sent: string, expected: string): boolean {
  const a = Buffer.from(sent);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
