import type { SessionModuleOptions } from '../interfaces/session-options.interface.js';
import { checkBoolean, checkName, fail, givenText } from './option-checks.util.js';
import type { ResolvedSessionOptions } from '../interfaces/resolved-session-options.interface.js';

const SAME_SITE_VALUES: readonly unknown[] = ['lax', 'strict', 'none', true, false];

/** The signing secrets: the first signs, all verify. */
export function resolveSecret(secret: unknown): string[] {
  const secrets = typeof secret === 'string' ? [secret] : secret;
  if (!Array.isArray(secrets) || secrets.length === 0 || secrets.some((s) => typeof s !== 'string' || s === '')) {
    fail(
      'secret',
      'is required: a non-empty string, or a non-empty array of them',
      'Read it from the environment, e.g. secret: process.env.SESSION_SECRET.',
    );
  }
  return secrets as string[];
}

type CookieSettings = Pick<ResolvedSessionOptions, 'name' | 'cookie' | 'rolling' | 'noStoreAuthenticated'>;

/** The session cookie: its name, its attributes (with the `__Host-` rules), when it is sent. */
export function resolveCookieOptions(options: SessionModuleOptions): CookieSettings {
  checkName('name', options.name);
  const cookie = options.cookie ?? {};
  const sameSite = cookie.sameSite ?? 'lax';
  if (!SAME_SITE_VALUES.includes(sameSite)) {
    fail(
      'cookie.sameSite',
      `must be 'lax', 'strict', 'none' or a boolean, got ${givenText(sameSite)}`,
      "Default: 'lax'.",
    );
  }
  const hostPrefix = cookie.hostPrefix ?? false;
  const secure = cookie.secure ?? (hostPrefix ? true : 'auto');
  if (secure !== 'auto' && typeof secure !== 'boolean') {
    fail('cookie.secure', `must be true, false or 'auto', got ${givenText(secure)}`, "Default: 'auto'.");
  }
  if (sameSite === 'none' && secure !== true) {
    fail(
      'cookie.sameSite',
      "is 'none' but cookie.secure is not true; browsers reject such cookies",
      "Set cookie.secure: true, or keep sameSite: 'lax'.",
    );
  }
  const path = cookie.path ?? '/';
  if (typeof path !== 'string' || !path.startsWith('/')) {
    fail('cookie.path', `must start with '/', got ${givenText(path)}`, "Default: '/'.");
  }
  if (hostPrefix) {
    if (secure === false)
      fail(
        'cookie.secure',
        'is false, but a __Host- cookie must be Secure',
        'Leave it out (true) or set cookie.hostPrefix: false.',
      );
    if (cookie.domain !== undefined)
      fail(
        'cookie.domain',
        'is set, but a __Host- cookie must have no Domain',
        'Remove cookie.domain or set cookie.hostPrefix: false.',
      );
    if (path !== '/')
      fail(
        'cookie.path',
        `is ${JSON.stringify(path)}, but a __Host- cookie must have Path=/`,
        "Use '/' or set cookie.hostPrefix: false.",
      );
  }
  checkBoolean('cookie.persistent', cookie.persistent, false);
  checkBoolean('noStoreAuthenticated', options.noStoreAuthenticated, true);
  return {
    name: `${hostPrefix ? '__Host-' : ''}${options.name ?? 'sid'}`,
    cookie: {
      path,
      domain: cookie.domain,
      httpOnly: cookie.httpOnly ?? true,
      sameSite,
      secure,
      persistent: cookie.persistent ?? false,
    },
    rolling: options.rolling ?? false,
    noStoreAuthenticated: options.noStoreAuthenticated ?? true,
  };
}
