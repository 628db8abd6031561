import { normalizedOrigin } from '../http/origin.util.js';
import type { SessionModuleOptions } from '../interfaces/session-options.interface.js';
import { fail, givenText } from './option-checks.util.js';
import type { ResolvedSessionOptions } from '../interfaces/resolved-session-options.interface.js';

/** Where `CsrfGuard` reads the token, and the origins besides the application's own it trusts. */
export function resolveCsrfOptions(
  options: SessionModuleOptions,
): Pick<ResolvedSessionOptions, 'csrf' | 'trustedOrigins'> {
  const csrf = options.csrf ?? {};
  for (const key of ['headerName', 'fieldName'] as const) {
    const value = csrf[key];
    if (value !== undefined && (typeof value !== 'string' || !/^[A-Za-z0-9_-]+$/.test(value))) {
      fail(
        `csrf.${key}`,
        `must be a plain header or field name, got ${givenText(value)}`,
        'Leave it out for the default.',
      );
    }
  }
  return {
    csrf: { headerName: (csrf.headerName ?? 'x-csrf-token').toLowerCase(), fieldName: csrf.fieldName ?? '_csrf' },
    trustedOrigins: resolveTrustedOrigins(options.trustedOrigins),
  };
}

/** The `trustedOrigins` option, checked and normalized. */
function resolveTrustedOrigins(origins: unknown): ReadonlySet<string> {
  if (origins === undefined) return new Set();
  if (!Array.isArray(origins)) {
    fail(
      'trustedOrigins',
      `must be an array of origins, got ${givenText(origins)}`,
      "E.g. ['https://app.example.com'].",
    );
  }
  return new Set(
    origins.map((origin: unknown) => {
      const normalized = normalizedOrigin(origin);
      if (normalized === undefined) {
        fail(
          'trustedOrigins',
          `${JSON.stringify(origin)} is not an origin`,
          "Give scheme, host and port only, as a browser's Origin header writes them: 'https://app.example.com'.",
        );
      }
      return normalized;
    }),
  );
}
