import { describe, expect, it } from '@jest/globals';
import { SessionOptionsError } from '../session.errors.js';
import type { SessionModuleOptions } from '../interfaces/session-options.interface.js';
import { resolveSessionOptions } from './session-options.resolver.js';

const valid: SessionModuleOptions = { secret: 'a-test-secret', uri: 'mongodb://127.0.0.1:27017' };

describe('resolveSessionOptions', () => {
  it('applies safe defaults', () => {
    const resolved = resolveSessionOptions(valid);
    expect(resolved).toMatchObject({
      secret: ['a-test-secret'],
      collectionName: 'sessions',
      idleTimeout: 86_400,
      onSessionLimit: 'evict-oldest',
      name: 'sid',
      cookie: { path: '/', httpOnly: true, sameSite: 'lax', secure: 'auto' },
      rolling: false,
      touchAfter: 60,
      autoRemove: 'native',
      autoRemoveInterval: 10,
      userIdField: 'userId',
      storeTimeoutMs: 5_000,
      maxSessionBytes: 65_536,
      writeConcern: { w: 'majority' },
      exclude: [],
      recentAuthSeconds: 900,
    });
    expect(resolved.isAuthenticated({ userId: 'u1' })).toBe(true);
    expect(resolved.isAuthenticated({})).toBe(false);
    expect(resolved.isAuthenticated({ userId: '' })).toBe(false);
    expect(resolved.isAuthenticated({ userId: { $ne: null } as never })).toBe(false);
  });

  it('accepts ttl as the former name of idleTimeout', () => {
    expect(resolveSessionOptions({ ...valid, ttl: 600 }).idleTimeout).toBe(600);
  });

  it('names the cookie __Host-… with hostPrefix, and makes it Secure', () => {
    const resolved = resolveSessionOptions({ ...valid, cookie: { hostPrefix: true } });
    expect(resolved.name).toBe('__Host-sid');
    expect(resolved.cookie.secure).toBe(true);
  });

  it('keeps a secret array in order, for rotation', () => {
    expect(resolveSessionOptions({ ...valid, secret: ['new', 'old'] }).secret).toEqual(['new', 'old']);
  });

  const invalid: [string, Record<string, unknown>][] = [
    ['secret', { secret: undefined }],
    ['secret', { secret: '' }],
    ['secret', { secret: [] }],
    ['secret', { secret: ['ok', 42] }],
    ['uri', { uri: undefined }],
    ['uri', { uri: 'http://example.test' }],
    ['uri', { client: {} }],
    ['client', { uri: undefined, client: { not: 'a client' } }],
    ['dbName', { dbName: 'has space' }],
    ['collectionName', { collectionName: '' }],
    ['name', { name: '$sid' }],
    ['ttl', { ttl: 0 }],
    ['ttl', { ttl: '3600' }],
    ['autoRemove', { autoRemove: 'ttl' }],
    ['autoRemoveInterval', { autoRemoveInterval: -1 }],
    ['userIdField', { userIdField: 'user..id' }],
    ['userIdField', { userIdField: 'cookie' }],
    ['cookie.sameSite', { cookie: { sameSite: 'none' } }],
    ['cookie.sameSite', { cookie: { sameSite: 'sometimes' } }],
    ['cookie.secure', { cookie: { secure: 'yes' } }],
    ['cookie.path', { cookie: { path: 'relative' } }],
    ['isAuthenticated', { isAuthenticated: true }],
    ['touchAfter', { touchAfter: -5 }],
    ['recentAuthSeconds', { recentAuthSeconds: 0 }],
    ['recentAuthSeconds', { recentAuthSeconds: '900' }],
    ['recentAuthSeconds', { recentAuthSeconds: Number.POSITIVE_INFINITY }],
    ['storeTimeoutMs', { storeTimeoutMs: Number.NaN }],
    ['schema', { schema: { parse: () => ({}) } }],
    ['ttl', { ttl: 60, idleTimeout: 60 }],
    ['idleTimeout', { idleTimeout: -1 }],
    ['touchAfter', { idleTimeout: 30, touchAfter: 30 }],
    ['absoluteTimeout', { absoluteTimeout: 0 }],
    ['maxSessionsPerUser', { maxSessionsPerUser: 0 }],
    ['maxSessionsPerUser', { maxSessionsPerUser: 1.5 }],
    ['onSessionLimit', { onSessionLimit: 'kick-everyone' }],
    ['maxSessionBytes', { maxSessionBytes: 0 }],
    ['maxSessionBytes', { maxSessionBytes: 100 }],
    ['maxSessionBytes', { maxSessionBytes: 1.5e3 + 0.5 }],
    ['maxSessionBytes', { maxSessionBytes: 64 * 1024 * 1024 }],
    ['maxSessionBytes', { maxSessionBytes: '64k' }],
    ['onEvent', { onEvent: 'log' }],
    ['cookie.secure', { cookie: { hostPrefix: true, secure: false } }],
    ['cookie.domain', { cookie: { hostPrefix: true, domain: 'example.test' } }],
    ['cookie.path', { cookie: { hostPrefix: true, path: '/app' } }],
    ['writeConcern', { writeConcern: 'majority' }],
    ['exclude', { exclude: 'health' }],
    ['exclude', { exclude: [{ method: 0 }] }],
    ['exclude', { exclude: ['assets/{*path'] }],
  ];

  it.each(invalid)('names the option "%s" when it is wrong: %j', (option, overrides) => {
    const attempt = () => resolveSessionOptions({ ...valid, ...overrides });
    expect(attempt).toThrow(SessionOptionsError);
    expect(attempt).toThrow(`SessionModule option "${option}"`);
  });

  it.each([
    ['an empty segment', 'passport..user', 'must not have an empty segment'],
    ['a trailing dot', 'passport.', 'must not have an empty segment'],
    ['a leading dot', '.user', 'must not have an empty segment'],
    ['a $ segment', 'passport.$where', 'segment "$where" of "passport.$where" is not a plain key'],
    ['a reserved first key', 'cookie.user', 'segment "cookie" of "cookie.user" is a reserved key'],
    ['a prototype key', 'passport.__proto__', 'segment "__proto__" of "passport.__proto__" is a reserved key'],
    ['a constructor segment', 'passport.constructor', 'is a reserved key'],
    ['a space', 'passport. user', 'is not a plain key'],
    ['a non-string', 42, 'got 42'],
  ])('refuses a userIdField path with %s, naming userIdField', (_name, userIdField, message) => {
    const options: Record<string, unknown> = { ...valid, userIdField };
    const attempt = () => resolveSessionOptions(options as unknown as SessionModuleOptions);
    expect(attempt).toThrow(SessionOptionsError);
    expect(attempt).toThrow('SessionModule option "userIdField"');
    expect(attempt).toThrow(message);
  });

  it('takes a dotted userIdField path, and reads the user id through it', () => {
    const options: Record<string, unknown> = { ...valid, userIdField: 'passport.user' };
    const resolved = resolveSessionOptions(options as unknown as SessionModuleOptions);
    expect(resolved.userIdField).toBe('passport.user');
    const isAuthenticated = (data: object) => resolved.isAuthenticated(data);
    expect(isAuthenticated({ passport: { user: 'u-1' } })).toBe(true);
    expect(isAuthenticated({ passport: {} })).toBe(false);
    expect(isAuthenticated({ passport: { user: { $ne: null } } })).toBe(false);
    expect(isAuthenticated({ 'passport.user': 'u-1' })).toBe(false);
  });

  it('says what an unset numeric setting was: NaN, not null', () => {
    expect(() => resolveSessionOptions({ ...valid, storeTimeoutMs: Number.NaN })).toThrow('got NaN');
    expect(() => resolveSessionOptions({ ...valid, maxSessionBytes: Number.NaN })).toThrow('got NaN');
    expect(() => resolveSessionOptions({ ...valid, idleTimeout: Number.POSITIVE_INFINITY })).toThrow('got Infinity');
  });

  it('refuses a missing options object', () => {
    expect(() => resolveSessionOptions(undefined)).toThrow('SessionModule option "options"');
  });

  it('normalizes trustedOrigins as browsers write an Origin, and refuses anything but a bare origin', () => {
    const resolved = resolveSessionOptions({
      ...valid,
      trustedOrigins: ['https://App.Example.com:443/', 'http://a.test:8080'],
    });
    expect([...resolved.trustedOrigins]).toEqual(['https://app.example.com', 'http://a.test:8080']);
    expect([...resolveSessionOptions(valid).trustedOrigins]).toEqual([]);
    for (const wrong of ['https://a.test/path', 'a.test', 'ws://a.test', 'https://a.test?x', '*', 42]) {
      expect(() => resolveSessionOptions({ ...valid, trustedOrigins: [wrong as string] })).toThrow(
        'SessionModule option "trustedOrigins"',
      );
    }
    expect(() => resolveSessionOptions({ ...valid, trustedOrigins: 'https://a.test' as never })).toThrow(
      SessionOptionsError,
    );
  });
});
