import { describe, expect, it } from '@jest/globals';
import { SessionExpiry } from './session-expiry.util.js';

// The expiry rules alone: idle and absolute deadlines, the "remember me" timeouts, fail closed on bad times.

const HOUR = 3_600_000;
const expiry = new SessionExpiry({
  idleTimeout: 3600,
  absoluteTimeout: 8 * 3600,
  rememberMe: { idleTimeout: 30 * 24 * 3600 },
});
const now = Date.UTC(2026, 0, 1);

describe('SessionExpiry', () => {
  it('stores an expiry of the idle timeout from now, capped by the absolute deadline', () => {
    expect(expiry.next({ createdAt: new Date(now) }, now).getTime()).toBe(now + HOUR);
    expect(expiry.next({ loginAt: new Date(now - 7.5 * HOUR) }, now).getTime()).toBe(now + 0.5 * HOUR);
  });

  it('gives remembered sessions the rememberMe timeouts, without the default absolute timeout', () => {
    const times = { remember: true, loginAt: new Date(now - 100 * HOUR) };
    expect(expiry.next(times, now).getTime()).toBe(now + 30 * 24 * HOUR);
    expect(expiry.absoluteDeadline(times)).toBe(Number.POSITIVE_INFINITY);
  });

  it('serves a session while its expiry, idle and absolute deadlines are all ahead', () => {
    const live = { expires: new Date(now + HOUR), lastSeenAt: new Date(now - 0.5 * HOUR), loginAt: new Date(now) };
    expect(expiry.expiredBecause(live, now)).toBeUndefined();
  });

  it('names the timeout that ended a session', () => {
    const base = { expires: new Date(now + HOUR), lastSeenAt: new Date(now), loginAt: new Date(now) };
    expect(expiry.expiredBecause({ ...base, loginAt: new Date(now - 8 * HOUR) }, now)).toBe('absolute-timeout');
    expect(expiry.expiredBecause({ ...base, lastSeenAt: new Date(now - HOUR) }, now)).toBe('idle-timeout');
    expect(expiry.expiredBecause({ ...base, expires: new Date(now) }, now)).toBe('idle-timeout');
  });

  it('fails closed on a document without an expiry date', () => {
    expect(expiry.expiredBecause({ lastSeenAt: new Date(now) }, now)).toBe('idle-timeout');
  });
});
