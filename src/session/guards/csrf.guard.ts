import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { timingSafeEqual } from 'node:crypto';
import { CSRF_KEY, asRecord } from '../core/session-data.util.js';
import type { Request } from 'express';
import { sessionCookieCount } from '../http/session-cookie.util.js';
import { CsrfTokenError } from '../session.errors.js';
import { claimedOrigin, isAllowedOrigin } from '../http/origin.util.js';
import { RESOLVED_SESSION_OPTIONS, SESSION_STORE } from '../session.constants.js';
import { sessionLogger } from '../core/session.logger.js';
import type { ResolvedSessionOptions } from '../interfaces/resolved-session-options.interface.js';
import { httpRequestOf, sessionContextOf, throwIfLoadFailed } from '../core/session.context.js';
import type { SessionStore } from '../store/session-store.interface.js';

/** Methods that must not change state, and so are never checked (TRACE is checked: Express routes it). */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** `Sec-Fetch-Site` values of a request a page of this very origin made, or the user typed. */
const FIRST_PARTY = new Set(['same-origin', 'none']);
/** The other `Sec-Fetch-Site` values, named in the refusal. */
const SITES = new Set(['same-site', 'cross-site']);

/**
 * Cross-site request forgery protection tied to the session (the synchronizer-token pattern, as Spring
 * Security's `CsrfFilter` and Django's `CsrfViewMiddleware` apply it). An unsafe request (POST, PUT, PATCH,
 * DELETE, TRACE) is refused when:
 * - it carries two cookies of the session's name (one planted by a sibling subdomain: cookie tossing);
 * - its `Origin` (else the origin of its `Referer`) is not the application's own (the request's scheme and
 *   host, as Express reads them behind a trusted proxy) nor one of `trustedOrigins`; without either header,
 *   its `Sec-Fetch-Site` says another site sent it. A request with none of the three (not a browser) passes
 *   this step;
 * - it belongs to a stored session and does not carry that session's token, `SessionService.csrfToken()`,
 *   in the `X-CSRF-Token` header or the `_csrf` form field (see the `csrf` option).
 * The first two steps judge requests without a session too (a forged login). A request judged by a header
 * token (the `idSource` option) is not checked at all: a browser never sends that token by itself, so a
 * forged request cannot carry it; a cookie-borne request still is. Safe methods are never checked,
 * `@Public()` routes are. Answers 403 `CsrfTokenError`. HTTP routes and GraphQL over HTTP are checked;
 * WebSocket messages pass (their handshake's Origin is checked by the adapters).
 *
 * @example
 * providers: [{ provide: APP_GUARD, useClass: CsrfGuard }]
 */
@Injectable()
export class CsrfGuard implements CanActivate {
  /** Whether the application still has to be told, at its first HTTPS request, to use `cookie.hostPrefix`. */
  private hostPrefixAdvice: boolean;

  constructor(
    @Inject(RESOLVED_SESSION_OPTIONS) private readonly settings: ResolvedSessionOptions,
    @Inject(SESSION_STORE) private readonly store: SessionStore,
  ) {
    this.hostPrefixAdvice = !settings.name.startsWith('__Host-') && settings.cookie.domain === undefined;
  }

  canActivate(context: ExecutionContext): boolean {
    const req = httpRequestOf(context);
    if (!req || SAFE_METHODS.has(req.method)) return true;
    if (sessionContextOf(context)?.headerToken) return true; // no ambient credential to forge with
    if (this.hostPrefixAdvice && req.secure) this.adviseHostPrefix();
    if (sessionCookieCount(req, this.settings) > 1) {
      throw new CsrfTokenError('the request carries two session cookies (one may have been planted by another site)');
    }
    this.checkOrigin(req);
    const current = sessionContextOf(context);
    throwIfLoadFailed(current);
    const session = current?.req.session;
    if (!session || !this.store.isStored(session)) return true;
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

  /** Refuses a request a browser says a page of another origin sent (`Origin`, `Referer`, `Sec-Fetch-Site`). */
  protected checkOrigin(req: Request): void {
    const origin = claimedOrigin(req.headers);
    if (origin !== undefined) {
      const request = { host: req.host, secure: req.secure, trusted: this.settings.trustedOrigins };
      if (!isAllowedOrigin(origin, request)) throw new CsrfTokenError('a request from another origin');
      return;
    }
    const site = req.headers['sec-fetch-site'];
    if (typeof site === 'string' && !FIRST_PARTY.has(site)) {
      throw new CsrfTokenError(`a ${SITES.has(site) ? site : 'cross-site'} request`);
    }
  }

  /** Once: on HTTPS, only a `__Host-` cookie keeps sibling subdomains from planting one of its name. */
  private adviseHostPrefix(): void {
    this.hostPrefixAdvice = false;
    sessionLogger.warn(
      `The session cookie "${this.settings.name}" has no __Host- prefix, so a page of a sibling subdomain can plant ` +
        'a cookie of that name (cookie tossing); CsrfGuard refuses requests that carry two, not a planted one alone. ' +
        'This application is on HTTPS: set cookie: { hostPrefix: true } (the cookie is renamed, so sessions open ' +
        'now end: their users log in again).',
    );
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
