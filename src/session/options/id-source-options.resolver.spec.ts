import { describe, expect, it } from '@jest/globals';
import type { SessionModuleOptions } from '../interfaces/session-options.interface.js';
import { resolveSessionOptions } from './session-options.resolver.js';

const valid: SessionModuleOptions = { secret: 'a-test-secret', uri: 'mongodb://127.0.0.1:27017' };

describe('the idSource and tokenHeader options', () => {
  it('default to the cookie alone and X-Session-Token; one source or both, repeats dropped', () => {
    expect(resolveSessionOptions(valid)).toMatchObject({ idSource: ['cookie'], tokenHeader: 'X-Session-Token' });
    expect(resolveSessionOptions({ ...valid, idSource: 'header' }).idSource).toEqual(['header']);
    expect(resolveSessionOptions({ ...valid, idSource: ['header', 'cookie', 'header'] }).idSource).toEqual([
      'header',
      'cookie',
    ]);
  });

  it.each<[string, unknown]>([
    ['a source of its own', 'query'],
    ['no source', []],
    ['a wrong entry', ['cookie', 'bearer']],
    ['not a string', true],
  ])('refuse %s for idSource, naming the option', (_what, idSource) => {
    expect(() => resolveSessionOptions({ ...valid, idSource } as SessionModuleOptions)).toThrow(
      /^SessionModule option "idSource" must be 'cookie', 'header' or an array of them/,
    );
  });

  it.each<unknown>(['', 'X Token', 'Authorization', 'cookie', 'x-csrf-token', 42])(
    'refuse %p for tokenHeader, naming the option',
    (tokenHeader) => {
      expect(() => resolveSessionOptions({ ...valid, tokenHeader } as SessionModuleOptions)).toThrow(
        /^SessionModule option "tokenHeader"/,
      );
    },
  );

  it('refuse the CSRF token header as renamed by the csrf option', () => {
    const options = { ...valid, csrf: { headerName: 'X-Xsrf' }, tokenHeader: 'x-xsrf' };
    expect(() => resolveSessionOptions(options)).toThrow(/^SessionModule option "tokenHeader" cannot be "x-xsrf"/);
  });
});
