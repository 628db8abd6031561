import type { SessionMeta } from '../store/session-store.interface.js';

/** How far in the future a stamp may lie and still count (clocks of several instances differ a little). */
const CLOCK_SKEW_MS = 60_000;

/**
 * When the session's user last proved who they are, in epoch milliseconds: the later of the login and the
 * last `confirmAuthentication()`; `undefined` when neither is a valid time.
 */
export function lastAuthenticationAt(meta: Pick<SessionMeta, 'loginAt' | 'reauthenticatedAt'>): number | undefined {
  const times = [meta.loginAt, meta.reauthenticatedAt]
    .filter((time): time is Date => time instanceof Date)
    .map((time) => time.getTime())
    .filter((time) => Number.isFinite(time));
  return times.length === 0 ? undefined : Math.max(...times);
}

/**
 * `true` when the last authentication is at most `maxAgeSeconds` old at `now`. Fails closed: no valid time,
 * or one further in the future than clock skew explains, is not recent.
 */
export function isRecentAuthentication(
  meta: Pick<SessionMeta, 'loginAt' | 'reauthenticatedAt'>,
  maxAgeSeconds: number,
  now: number,
): boolean {
  const at = lastAuthenticationAt(meta);
  if (at === undefined || at > now + CLOCK_SKEW_MS) return false;
  return now - at <= maxAgeSeconds * 1000;
}
