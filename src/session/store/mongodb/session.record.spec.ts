import { describe, expect, it } from '@jest/globals';
import session from 'express-session';
import { cookieFields, fieldsOf } from './session.record.js';

/** express-session's Cookie, constructed as the middleware does (its types declare no constructor options). */
const Cookie = session.Cookie as unknown as new (options: object) => { toJSON(): Record<string, unknown> };

describe('cookieFields', () => {
  it("stores express-session's Cookie as it serializes itself", () => {
    const cookie = new Cookie({ maxAge: 60_000, path: '/app' });
    expect(cookieFields(cookie)).toEqual(cookie.toJSON());
  });

  it('stores an invalid maxAge or expires as null, as JSON would (some servers drop the connection on NaN)', () => {
    const fields = cookieFields(new Cookie({ expires: new Date(Number.NaN) }))!;
    expect(fields.originalMaxAge).toBeNull();
    expect(fields.expires).toBeNull();
  });

  it("cuts a plain cookie (as get answers it, or a JSON copy) to the Cookie's members, expires as a Date", () => {
    const expires = new Date(Date.now() + 60_000);
    const plain = JSON.parse(JSON.stringify({ originalMaxAge: 60_000, expires, httpOnly: true, path: '/' })) as object;
    const hostile = { ...plain, $where: 'x', nested: { a: 1 }, secure: () => true, domain: Number.NaN };
    expect(cookieFields(hostile)).toEqual({ originalMaxAge: 60_000, expires, httpOnly: true, path: '/' });
  });

  it('is undefined without a cookie object', () => {
    expect(cookieFields(undefined)).toBeUndefined();
    expect(cookieFields('cookie')).toBeUndefined();
    expect(cookieFields(null)).toBeUndefined();
  });
});

describe('fieldsOf', () => {
  it('reads a session whose cookie is a plain object, as get answers it', () => {
    expect(fieldsOf({ userId: 'u', cookie: { path: '/' } })).toEqual({ userId: 'u', cookie: { path: '/' } });
  });
});
