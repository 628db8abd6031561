import { describe, expect, it } from '@jest/globals';
import type { Request } from 'express';
import { resolveSessionOptions } from '../options/session-options.resolver.js';
import { presentedCookie, sessionCookieCount, sign } from './session-cookie.util.js';

// Reading the session cookie alone: the signature against each secret, the first cookie of the name.

const settings = resolveSessionOptions({ secret: ['current', 'older'], uri: 'mongodb://127.0.0.1:1' });
const withCookie = (cookie: string | undefined) => ({ headers: { cookie } }) as Request;
const signed = (id: string, secret: string) => `sid=${encodeURIComponent(`s:${sign(id, secret)}`)}`;

describe('presentedCookie', () => {
  it('is undefined when the request sends no session cookie', () => {
    expect(presentedCookie(withCookie(undefined), settings)).toBeUndefined();
    expect(presentedCookie(withCookie('other=1'), settings)).toBeUndefined();
  });

  it('gives the id of a cookie signed with the current secret', () => {
    expect(presentedCookie(withCookie(signed('abc', 'current')), settings)).toEqual({ id: 'abc', olderSecret: false });
  });

  it('accepts an older secret, and says so', () => {
    expect(presentedCookie(withCookie(signed('abc', 'older')), settings)).toEqual({ id: 'abc', olderSecret: true });
  });

  it('gives no id for a forged signature or an unsigned value', () => {
    expect(presentedCookie(withCookie(signed('abc', 'forged')), settings)).toEqual({ olderSecret: false });
    expect(presentedCookie(withCookie('sid=abc'), settings)).toEqual({ olderSecret: false });
  });

  it('reads the first cookie of the name, with spaces around it ignored', () => {
    const header = ` ${signed('first', 'current')} ; ${signed('second', 'current')}`;
    expect(presentedCookie(withCookie(header), settings)?.id).toBe('first');
    expect(sessionCookieCount(withCookie(header), settings)).toBe(2);
  });
});
