import type { SessionSocketOptions } from '../interfaces/session-options.interface.js';
import { checkBoolean, fail, positiveNumber, givenText } from './option-checks.util.js';

/** The `sockets` options, checked, with their defaults. */
export function resolveSocketOptions(sockets: SessionSocketOptions | undefined): Required<SessionSocketOptions> {
  if (sockets !== undefined && (typeof sockets !== 'object' || sockets === null)) {
    fail('sockets', `must be an object, got ${givenText(sockets)}`, 'E.g. sockets: { requireSession: true }.');
  }
  checkBoolean('sockets.requireSession', sockets?.requireSession, false);
  const checkInterval = positiveNumber('sockets.checkInterval', sockets?.checkInterval, 10, 'seconds');
  return { requireSession: sockets?.requireSession ?? false, checkInterval };
}
