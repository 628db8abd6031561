import { newHandle } from '../../core/session-id.util.js';
import type { SessionMeta } from '../session-store.interface.js';

export type { SessionDocument, SessionMeta } from '../session-store.interface.js';

/** Times of a session created now. */
export function freshMeta(): SessionMeta {
  const now = new Date();
  return { handle: newHandle(), createdAt: now, lastSeenAt: now };
}
