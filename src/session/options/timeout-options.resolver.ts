import type { SessionModuleOptions } from '../interfaces/session-options.interface.js';
import { fail, positiveNumber, givenText } from './option-checks.util.js';
import type { ResolvedSessionOptions } from '../interfaces/resolved-session-options.interface.js';

type TimeoutSettings = Pick<
  ResolvedSessionOptions,
  'idleTimeout' | 'absoluteTimeout' | 'touchAfter' | 'rememberMe' | 'recentAuthSeconds'
>;

/** The timeouts: idle and absolute, touch throttling, "remember me", recent authentication. */
export function resolveTimeoutOptions(options: SessionModuleOptions): TimeoutSettings {
  if (options.touchAfter !== undefined && (typeof options.touchAfter !== 'number' || !(options.touchAfter >= 0))) {
    fail('touchAfter', `must be a number of seconds >= 0, got ${givenText(options.touchAfter)}`, 'Default: 60.');
  }
  if (options.ttl !== undefined && options.idleTimeout !== undefined) {
    fail('ttl', 'and `idleTimeout` are both given; ttl is the former name of idleTimeout', 'Keep idleTimeout.');
  }
  const idleTimeout = positiveNumber(
    options.ttl !== undefined ? 'ttl' : 'idleTimeout',
    options.ttl ?? options.idleTimeout,
    86_400,
    'seconds',
  );
  const touchAfter = options.touchAfter ?? Math.min(60, idleTimeout / 2);
  if (touchAfter >= idleTimeout) {
    fail(
      'touchAfter',
      `(${touchAfter} s) must be shorter than idleTimeout (${idleTimeout} s), or sessions expire while in use`,
      'Lower touchAfter.',
    );
  }
  const absoluteTimeout =
    options.absoluteTimeout === undefined
      ? undefined
      : positiveNumber('absoluteTimeout', options.absoluteTimeout, 0, 'seconds');
  const rememberMe = options.rememberMe ?? {};
  if (typeof rememberMe !== 'object' || rememberMe === null) {
    fail('rememberMe', `must be an object, got ${givenText(rememberMe)}`, 'E.g. { idleTimeout: 2592000 }.');
  }
  const rememberIdle = positiveNumber('rememberMe.idleTimeout', rememberMe.idleTimeout, 2_592_000, 'seconds');
  const rememberAbsolute =
    rememberMe.absoluteTimeout === undefined
      ? undefined
      : positiveNumber('rememberMe.absoluteTimeout', rememberMe.absoluteTimeout, 0, 'seconds');
  return {
    idleTimeout,
    absoluteTimeout,
    touchAfter,
    rememberMe: { idleTimeout: rememberIdle, absoluteTimeout: rememberAbsolute },
    recentAuthSeconds: positiveNumber('recentAuthSeconds', options.recentAuthSeconds, 900, 'seconds'),
  };
}
