import { describe, expect, it } from '@jest/globals';
import { RequireRecentAuth } from '../decorators/require-recent-auth.decorator.js';
import { isRecentAuthentication, lastAuthenticationAt } from './recent-auth.util.js';

const now = Date.UTC(2026, 11, 2, 6, 0, 0);
const at = (secondsAgo: number) => new Date(now - secondsAgo * 1000);

describe('isRecentAuthentication', () => {
  it('counts the later of the login and the last confirmation', () => {
    expect(lastAuthenticationAt({ loginAt: at(1000), reauthenticatedAt: at(10) })).toBe(at(10).getTime());
    expect(lastAuthenticationAt({ loginAt: at(10), reauthenticatedAt: at(1000) })).toBe(at(10).getTime());
    expect(isRecentAuthentication({ loginAt: at(1000), reauthenticatedAt: at(10) }, 60, now)).toBe(true);
  });

  it('allows exactly maxAgeSeconds, not a millisecond more', () => {
    expect(isRecentAuthentication({ loginAt: at(60) }, 60, now)).toBe(true);
    expect(isRecentAuthentication({ loginAt: new Date(now - 60_001) }, 60, now)).toBe(false);
  });

  it('fails closed without a valid time, or with one beyond clock skew in the future', () => {
    expect(isRecentAuthentication({}, 60, now)).toBe(false);
    expect(isRecentAuthentication({ loginAt: new Date(Number.NaN) }, 60, now)).toBe(false);
    expect(isRecentAuthentication({ loginAt: String(at(0)) as never }, 60, now)).toBe(false);
    expect(isRecentAuthentication({ loginAt: new Date(now + 30_000) }, 60, now)).toBe(true);
    expect(isRecentAuthentication({ loginAt: new Date(now + 3_600_000) }, 86_400, now)).toBe(false);
  });
});

describe('@RequireRecentAuth()', () => {
  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY, '300' as never])(
    'refuses %p as a maximum age at start-up',
    (wrong) => {
      expect(() => RequireRecentAuth(wrong)).toThrow(/RequireRecentAuth.*positive number of seconds/);
    },
  );
});
