import { describe, expect, it } from '@jest/globals';
import { MongoServerError } from 'mongodb';
import { describeError } from '../../core/log-text.util.js';
import { StoreTimeoutError } from './store-calls.util.js';

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
