import { describe, expect, it } from '@jest/globals';
import { changesSince, concurrentChanges, snapshotOf } from './session-changes.util.js';

const all = () => true;

describe('changesSince', () => {
  it('sets the fields that differ, unsets the fields gone, and ignores a change of the cookie alone', () => {
    const before = snapshotOf({ a: 1, b: [1], cookie: { maxAge: 1 } });
    expect(changesSince(before, { a: 1, b: [1], cookie: { maxAge: 2 } })).toBeUndefined();
    const changes = changesSince(before, { a: 2, cookie: { maxAge: 1 } });
    expect(changes?.set).toEqual({ 'session.a': 2 });
    expect(changes?.unset).toEqual({ 'session.b': '' });
  });
});

describe('concurrentChanges', () => {
  const before = snapshotOf({ theme: 'light', cart: [1], mine: 'x' });

  it('carries what another request stored or removed since the load', () => {
    const stored = { theme: 'dark', mine: 'x', lang: 'fr' };
    const own = { theme: 'light', cart: [1], mine: 'x' };
    expect(concurrentChanges(before, stored, own, all)).toEqual({
      set: { 'session.theme': 'dark', 'session.lang': 'fr' },
      unset: { 'session.cart': '' },
    });
  });

  it('leaves the keys this request changed itself, and those it does not carry', () => {
    const stored = { theme: 'dark', cart: [1, 2], mine: 'y' };
    const own = { theme: 'light', cart: [1], mine: 'z' };
    expect(concurrentChanges(before, stored, own, (key) => key === 'cart')).toEqual({
      set: { 'session.cart': [1, 2] },
      unset: {},
    });
  });

  it('is undefined when nobody else changed anything', () => {
    expect(concurrentChanges(before, { theme: 'light', cart: [1], mine: 'x' }, { theme: 'blue' }, all)).toBeUndefined();
  });
});
