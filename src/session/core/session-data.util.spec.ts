import { describe, expect, it } from '@jest/globals';
import session from 'express-session';
import { ObjectId } from 'mongodb';
import { SessionDataError } from '../session.errors.js';
import {
  assertStorable,
  assertUserId,
  assertWithinSize,
  isReservedKey,
  isUserId,
  userIdFieldProblem,
  userIdOf,
  userIdRootKey,
  valueAtPath,
} from './session-data.util.js';

/** Every property name an object answers to, along its prototype chain. */
function memberNames(object: object): string[] {
  const names = new Set<string>();
  for (let current: object | null = object; current !== null; current = Object.getPrototypeOf(current) as object) {
    for (const name of Object.getOwnPropertyNames(current)) names.add(name);
  }
  return [...names];
}

describe('reserved keys', () => {
  it("cover every member of the installed express-session's Session and Cookie, and of Object.prototype", () => {
    const req = { sessionID: 'an-id' };
    const { Session, Cookie } = session as unknown as {
      Session: new (req: object, data: object) => object;
      Cookie: new (options: object) => object;
    };
    const live = new Session(req, {});
    const cookie = new Cookie({});
    const options = [
      'domain',
      'expires',
      'httpOnly',
      'maxAge',
      'partitioned',
      'path',
      'priority',
      'sameSite',
      'secure',
    ];
    const names = [...memberNames(live), ...memberNames(cookie), ...options, '__proto__'];
    expect(names.filter((name) => !isReservedKey(name))).toEqual([]);
  });

  it.each(['touch', 'id', 'req', 'resetMaxAge', 'toString', 'maxAge'])('refuses %s as a data key', (key) => {
    expect(() => assertStorable(key, 1)).toThrow(SessionDataError);
  });
});

describe('user ids', () => {
  it.each([['u-1'], [42], [0]])('accepts %j', (value) => {
    expect(isUserId(value)).toBe(true);
  });

  it.each([[undefined], [null], [''], [{ $ne: null }], [['u-1']], [Number.NaN], [Infinity], [true]])(
    'refuses %j, naming the method and not echoing the value',
    (value) => {
      expect(isUserId(value)).toBe(false);
      expect(() => assertUserId('SessionService.listForUser()', value)).toThrow(
        /^SessionService\.listForUser\(\) needs a user id: a non-empty string or a finite number, got /,
      );
    },
  );
});

describe('storable values', () => {
  it('refuses an array directly inside an array, at any depth, and names the first one', () => {
    expect(() => assertStorable('grid', { rows: [1, [2]] })).toThrow(
      'Session value at grid.rows[1] cannot be stored: it is an array directly inside an array',
    );
    expect(() => assertStorable('list', [{ inner: [1, 2] }])).not.toThrow();
  });

  it('quotes and escapes keys in its messages, and caps them', () => {
    const forged = 'a\n[Nest] 1 - LOG [AuthController] admin logged in';
    let message = '';
    try {
      assertStorable('prefs', { [forged]: { $gt: 1 } });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('prefs["a\\n[Nest] 1 - LOG [AuthController] admin logged in"]["$gt"]');
    expect(message).not.toContain('\n');
    expect(() => assertStorable('.' + 'x'.repeat(10_000), 1)).toThrow(/^Session key "\.x{198}… cannot be stored/);
  });

  it('measures size as the UTF-8 bytes of the JSON', () => {
    expect(() => assertWithinSize({ a: 'é'.repeat(500) }, 1000)).toThrow(/would take 1008 bytes/);
    expect(() => assertWithinSize({ a: 'e'.repeat(500) }, 1000)).not.toThrow();
  });
});

describe('userIdField paths', () => {
  it('accepts a key or keys joined by dots', () => {
    expect(userIdFieldProblem('userId')).toBeUndefined();
    expect(userIdFieldProblem('passport.user')).toBeUndefined();
    expect(userIdFieldProblem('a.b_2.c')).toBeUndefined();
  });

  it.each(['', '.', 'a..b', 'a.', '.a', '$where', 'a.$ne', 'a.b c', 'cookie.x', 'a.__proto__', 'a.prototype', 'a.1'])(
    'refuses %j',
    (path) => expect(userIdFieldProblem(path)).toEqual(expect.any(String)),
  );

  it('reads the value at a path through own properties of plain objects only', () => {
    expect(valueAtPath({ passport: { user: 'u-1' } }, 'passport.user')).toBe('u-1');
    expect(valueAtPath({ passport: 'u-1' }, 'passport.user')).toBeUndefined();
    expect(valueAtPath({ passport: ['u-1'] }, 'passport.0')).toBeUndefined();
    expect(valueAtPath({ passport: Object.create({ user: 'inherited' }) as object }, 'passport.user')).toBeUndefined();
    expect(valueAtPath({}, 'passport.user')).toBeUndefined();
    expect(userIdRootKey('passport.user')).toBe('passport');
    expect(userIdRootKey('userId')).toBe('userId');
  });

  it('takes only a user id from the path', () => {
    const settings = { userIdField: 'passport.user' };
    expect(userIdOf({ passport: { user: 7 } }, settings)).toBe(7);
    expect(userIdOf({ passport: { user: { $gt: '' } } }, settings)).toBeUndefined();
    expect(userIdOf({ passport: { user: new ObjectId() } }, settings)).toBeUndefined();
    expect(userIdOf({ passport: { user: '' } }, settings)).toBeUndefined();
  });
});

describe('ObjectIds', () => {
  it('are storable, nested and in arrays', () => {
    expect(() => assertStorable('user', { _id: new ObjectId(), tags: [new ObjectId()] })).not.toThrow();
    expect(() => assertStorable('owner', new ObjectId())).not.toThrow();
  });

  it('are not user ids (a serializer stores user.id, a string)', () => {
    expect(isUserId(new ObjectId())).toBe(false);
  });

  it('serialize to their hex string, the same for the same id and different for another', () => {
    const id = new ObjectId();
    expect(JSON.stringify({ id })).toBe(JSON.stringify({ id: new ObjectId(id.toHexString()) }));
    expect(JSON.stringify({ id })).not.toBe(JSON.stringify({ id: new ObjectId() }));
  });
});
