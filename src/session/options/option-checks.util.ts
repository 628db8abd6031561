import { SessionOptionsError } from '../session.errors.js';

/** Throws the `SessionOptionsError` of `option`: what is wrong, then how to fix it. */
export function fail(option: string, problem: string, fix: string): never {
  throw new SessionOptionsError(option, `${problem}. ${fix}`);
}

/** `value`, a positive number, or `fallback` when it is not given. */
export function positiveNumber(option: string, value: unknown, fallback: number, unit: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    fail(option, `must be a positive number of ${unit}, got ${givenText(value)}`, `Default: ${fallback}.`);
  }
  return value;
}

/** Checks a database, collection or cookie name: non-empty, no spaces, no `$`. */
export function checkName(option: string, value: unknown): void {
  if (value !== undefined && (typeof value !== 'string' || value === '' || /[\s$]/.test(value))) {
    fail(
      option,
      `must be a non-empty name without spaces or '$', got ${givenText(value)}`,
      'Leave it out for the default.',
    );
  }
}

/** Checks an optional boolean option. */
export function checkBoolean(option: string, value: unknown, fallback: boolean): void {
  if (value !== undefined && typeof value !== 'boolean') {
    fail(option, `must be true or false, got ${givenText(value)}`, `Default: ${fallback}.`);
  }
}

/**
 * A given option value, for an error message: JSON where it says what was given, else its kind (`NaN`,
 * `Infinity`, `undefined`, `a function`, …), never `null` for something that was not `null`.
 */
export function givenText(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'bigint') return String(value); // NaN, Infinity, 1n
  if (value === undefined || typeof value === 'function' || typeof value === 'symbol') {
    return value === undefined ? 'undefined' : `a ${typeof value}`;
  }
  try {
    return JSON.stringify(value) ?? 'a value that is not JSON';
  } catch {
    return 'an object that is not JSON'; // circular
  }
}
