import type { SessionEventReason } from '../core/session.events.js';
import type { AppSessionData, SessionKey } from './session-data.interface.js';

/** Options of `SessionService.regenerate`. */
export interface RegenerateOptions<S extends object = AppSessionData> {
  /** Data to carry over to the new id: a list of keys, or `true` for all of it. Default: nothing. */
  keep?: readonly SessionKey<S>[] | true;
}

/** Options of `SessionService.login`. */
export interface LoginOptions {
  /**
   * "Remember me": this session gets the `rememberMe` timeouts (default: 30 days idle) and a persistent
   * cookie that follows them, whatever `cookie.persistent` says. Default `false`.
   */
  remember?: boolean;
}

/** Options of `SessionService.destroyAllForUser`. */
export interface DestroyAllOptions {
  /** Leave the session of the current request alive. Default `false`. */
  exceptCurrent?: boolean;
  /** The reason given in the `revoked` events. Default `'revoke-all'`. */
  reason?: SessionEventReason;
}
