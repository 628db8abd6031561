import { describe, expect, it } from '@jest/globals';
import type { IncomingMessage } from 'node:http';
import type { SessionModuleOptions } from '../interfaces/session-options.interface.js';
import { resolveSessionOptions } from '../options/session-options.resolver.js';
import { SessionTokenError } from '../session.errors.js';
import { presentAsCookie, presentedToken } from './header-token.util.js';

// How a request presents its session token in headers, and how the token is shown to express-session.

const valid: SessionModuleOptions = { secret: 'a-test-secret', uri: 'mongodb://127.0.0.1:27017' };

/** A request with these header lines, as Node gives them (`rawHeaders` keeps every line). */
function requestWith(...lines: [string, string][]): IncomingMessage {
  const headers: Record<string, string> = {};
  for (const [name, value] of lines) headers[name.toLowerCase()] = value;
  return { headers, rawHeaders: lines.flat() } as unknown as IncomingMessage;
}

describe('presentedToken', () => {
  const header = resolveSessionOptions({ ...valid, idSource: 'header' });
  const mixed = resolveSessionOptions({ ...valid, idSource: ['cookie', 'header'] });
  const cookie = resolveSessionOptions(valid);

  it('reads the named header or Authorization: Bearer, in any case; another scheme is not the session', () => {
    expect(presentedToken(requestWith(['x-session-token', ' a.b ']), header)).toEqual({ token: 'a.b' });
    expect(presentedToken(requestWith(['Authorization', 'bearer a.b']), header)).toEqual({ token: 'a.b' });
    expect(presentedToken(requestWith(['Authorization', 'Basic dTpw']), header)).toEqual({ token: undefined });
    expect(presentedToken(requestWith(['Authorization', 'Basic dTpw']), mixed)).toBeUndefined();
    expect(presentedToken(requestWith(['Authorization', 'Bearertoken']), mixed)).toBeUndefined();
  });

  it('asks for a token with an empty header or a bare Bearer; judges by the cookie when neither comes in mixed mode', () => {
    expect(presentedToken(requestWith(['X-Session-Token', '']), mixed)).toEqual({ token: undefined });
    expect(presentedToken(requestWith(['Authorization', 'Bearer']), mixed)).toEqual({ token: undefined });
    expect(presentedToken(requestWith(), mixed)).toBeUndefined();
    expect(presentedToken(requestWith(), header)).toEqual({ token: undefined });
  });

  it('takes no token at all when the header is not a source', () => {
    expect(presentedToken(requestWith(['X-Session-Token', 'a.b'], ['Authorization', 'Bearer a.b']), cookie)).toBe(
      undefined,
    );
  });

  it('refuses an ambiguous presentation with SessionTokenError (400)', () => {
    const cases: [string, string][][] = [
      [
        ['X-Session-Token', 'a.b'],
        ['x-session-token', 'a.b'],
      ],
      [
        ['Authorization', 'Bearer a.b'],
        ['Authorization', 'Basic dTpw'],
      ],
      [['Authorization', 'Bearer a.b c.d']],
      [
        ['X-Session-Token', 'a.b'],
        ['Authorization', 'Bearer c.d'],
      ],
    ];
    for (const lines of cases) {
      expect(() => presentedToken(requestWith(...lines), mixed)).toThrow(SessionTokenError);
    }
    const same = requestWith(['X-Session-Token', 'a.b'], ['Authorization', 'Bearer a.b']);
    expect(presentedToken(same, mixed)).toEqual({ token: 'a.b' });
  });
});

describe('presentAsCookie', () => {
  const settings = resolveSessionOptions({ ...valid, idSource: ['cookie', 'header'] });

  it('puts the token first and takes every session cookie out, keeping the others', () => {
    const req = requestWith(['Cookie', 'theme=dark; sid=s%3Aother.sig; sid =s%3Aplanted.sig; lang=en']);
    presentAsCookie(req, settings, { token: 'id.sig+/' });
    expect(req.headers.cookie).toBe('sid=s%3Aid.sig%2B%2F; theme=dark; lang=en');
  });

  it("also takes the session cookie out of what a cookie-parser mounted earlier read (express-session's fallback)", () => {
    const req = Object.assign(requestWith(['Cookie', 'sid=s%3Aother.sig']), {
      cookies: { sid: 's:other.sig', theme: 'dark' },
      signedCookies: { sid: 'other' },
    });
    presentAsCookie(req, settings, { token: undefined });
    expect(req.headers.cookie).toBeUndefined();
    expect(req.cookies).toEqual({ theme: 'dark' });
    expect(req.signedCookies).toEqual({});
  });
});
