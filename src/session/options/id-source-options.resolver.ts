import type { ResolvedSessionOptions } from '../interfaces/resolved-session-options.interface.js';
import type { IdSource, SessionModuleOptions } from '../interfaces/session-options.interface.js';
import { fail, givenText } from './option-checks.util.js';

const SOURCES: readonly unknown[] = ['cookie', 'header'];
/** Headers that carry something else, and so cannot carry the token. */
const TAKEN_HEADERS = new Set(['authorization', 'cookie', 'set-cookie', 'host', 'origin', 'referer']);

/**
 * Where a request presents its session (`idSource`) and the header its token travels in (`tokenHeader`),
 * checked, with their defaults. `csrfHeader` is the CSRF token's header, lowercased: it cannot be both.
 */
export function resolveIdSourceOptions(
  options: Pick<SessionModuleOptions, 'idSource' | 'tokenHeader'>,
  csrfHeader: string,
): Pick<ResolvedSessionOptions, 'idSource' | 'tokenHeader'> {
  const given: unknown = options.idSource ?? 'cookie';
  const list: unknown[] = Array.isArray(given) ? given : [given];
  if (list.length === 0 || !list.every((source) => SOURCES.includes(source))) {
    fail(
      'idSource',
      `must be 'cookie', 'header' or an array of them, got ${givenText(given)}`,
      "Default: 'cookie'; ['cookie', 'header'] serves browsers and clients without cookies side by side.",
    );
  }
  const tokenHeader: unknown = options.tokenHeader ?? 'X-Session-Token';
  if (typeof tokenHeader !== 'string' || !/^[A-Za-z0-9-]+$/.test(tokenHeader)) {
    fail('tokenHeader', `must be a plain header name, got ${givenText(tokenHeader)}`, "Default: 'X-Session-Token'.");
  }
  const lower = tokenHeader.toLowerCase();
  if (TAKEN_HEADERS.has(lower) || lower === csrfHeader) {
    fail(
      'tokenHeader',
      `cannot be ${JSON.stringify(tokenHeader)}: that header carries something else (Authorization: Bearer is read anyway)`,
      'Default: X-Session-Token.',
    );
  }
  return { idSource: [...new Set(list as IdSource[])], tokenHeader };
}
