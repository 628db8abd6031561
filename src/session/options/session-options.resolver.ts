import type { ResolvedSessionOptions } from '../interfaces/resolved-session-options.interface.js';
import type { SessionModuleOptions } from '../interfaces/session-options.interface.js';
import { resolveCookieOptions, resolveSecret } from './cookie-options.resolver.js';
import { resolveCsrfOptions } from './csrf-options.resolver.js';
import { resolveDataOptions } from './data-options.resolver.js';
import { resolveExcludeOptions } from './exclude-options.resolver.js';
import { resolveIdSourceOptions } from './id-source-options.resolver.js';
import { fail } from './option-checks.util.js';
import { resolveSocketOptions } from './socket-options.resolver.js';
import { resolveStoreOptions } from './store-options.resolver.js';
import { resolveTimeoutOptions } from './timeout-options.resolver.js';

/**
 * Validates the module options and applies the defaults, once, at start-up: one resolver per group, each
 * checking its options in turn.
 *
 * @throws SessionOptionsError naming the first wrong or missing option.
 */
export function resolveSessionOptions(options: SessionModuleOptions | undefined): ResolvedSessionOptions {
  if (!options || typeof options !== 'object') {
    fail('options', 'SessionModule needs an options object', 'Pass at least { secret, uri }.');
  }
  const secret = resolveSecret(options.secret);
  const store = resolveStoreOptions(options);
  const cookie = resolveCookieOptions(options);
  const data = resolveDataOptions(options);
  const timeouts = resolveTimeoutOptions(options);
  const exclude = resolveExcludeOptions(options.exclude);
  const csrf = resolveCsrfOptions(options);
  if (options.onEvent !== undefined && typeof options.onEvent !== 'function') {
    fail('onEvent', 'must be a function (event) => void', 'Leave it out, or use @nestjs/event-emitter.');
  }
  const sockets = resolveSocketOptions(options.sockets);
  const idSource = resolveIdSourceOptions(options, csrf.csrf.headerName);
  return {
    secret,
    ...store,
    ...cookie,
    ...data,
    ...timeouts,
    ...csrf,
    exclude,
    sockets,
    ...idSource,
    onEvent: options.onEvent,
  };
}
