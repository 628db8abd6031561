import { describe, expect, it, jest } from '@jest/globals';
import { MongoServerError } from 'mongodb';
import { describeError } from '../../core/log-text.util.js';
import { answer, StoreTimeoutError } from './store-calls.util.js';

describe('describeError', () => {
  it("gives a server's refusal by name and code, never its message (it may echo stored values)", () => {
    const refusal = new MongoServerError({
      errmsg: 'invalid key: "a\n[Nest] LOG admin logged in" (value "secret-token")',
      code: 2,
      codeName: 'BadValue',
    });
    expect(describeError(refusal)).toBe('MongoServerError code 2 BadValue');
  });

  it('escapes and caps any other message', () => {
    const described = describeError(new StoreTimeoutError(`line one\nline two ${'x'.repeat(1000)}`));
    expect(described).not.toContain('\n');
    expect(described.startsWith('line one\\nline two ')).toBe(true);
    expect(described.length).toBeLessThanOrEqual(201);
  });
});

describe('answer', () => {
  it('hands a result or an error to the callback', async () => {
    const results: unknown[][] = [];
    answer(Promise.resolve(7), (...args) => results.push(args));
    const failure = new Error('refused');
    answer(Promise.reject(failure), (...args) => results.push(args));
    await new Promise(setImmediate);
    expect(results).toEqual([
      [null, 7],
      [failure, undefined],
    ]);
  });

  it('throws what the callback throws out of the store, never into a promise nobody holds', async () => {
    const deferred: [(...args: unknown[]) => void, unknown[]][] = [];
    const nextTick = jest.spyOn(process, 'nextTick').mockImplementation((callback, ...args: unknown[]) => {
      deferred.push([callback as (...args: unknown[]) => void, args]);
    });
    const unhandled = jest.fn();
    process.on('unhandledRejection', unhandled);
    const thrown = new Error('assertion in the caller');
    try {
      answer(Promise.resolve(1), () => {
        throw thrown;
      });
      await new Promise(setImmediate);
    } finally {
      nextTick.mockRestore();
      process.off('unhandledRejection', unhandled);
    }
    expect(deferred).toHaveLength(1);
    const [rethrow, args] = deferred[0];
    expect(() => rethrow(...args)).toThrow(thrown);
    expect(unhandled).not.toHaveBeenCalled();
  });
});
