import { SessionOptionsError } from '../session.errors.js';

/** Throws the `SessionOptionsError` of `option`: what is wrong, then how to fix it. */
export function fail(option: string, problem: string, fix: string): never {
  throw new SessionOptionsError(option, `${problem}. ${fix}`);
}

/** `value`, a positive number, or `fallback` when it is not given. */
export function positiveNumber(option: string, value: unknown, fallback: number, unit: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    fail(option, `must be a positive number of ${unit}, got ${JSON.stringify(value)}`, `Default: ${fallback}.`);
  }
  return value;
}

/** Checks a database, collection or cookie name: non-empty, no spaces, no `$`. */
export function checkName(option: string, value: unknown): void {
  if (value !== undefined && (typeof value !== 'string' || value === '' || /[\s$]/.test(value))) {
    fail(
      option,
      `must be a non-empty name without spaces or '$', got ${JSON.stringify(value)}`,
      'Leave it out for the default.',
    );
  }
}

/** Checks an optional boolean option. */
export function checkBoolean(option: string, value: unknown, fallback: boolean): void {
  if (value !== undefined && typeof value !== 'boolean') {
    fail(option, `must be true or false, got ${JSON.stringify(value)}`, `Default: ${fallback}.`);
  }
}
