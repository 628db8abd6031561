import { SessionDataError } from './session.errors.js';

/** Where a session keeps its CSRF token: beside the data, never part of it. */
export const CSRF_KEY = '__csrf';

/**
 * Keys that never hold application data: express-session's and the store's own (the cookie, the CSRF token),
 * and prototype keys.
 */
const RESERVED_KEYS = new Set(['cookie', 'lastModified', CSRF_KEY, '__proto__', 'constructor', 'prototype']);
const UNSAFE_NESTED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** `true` for a key that never holds application data (express-session's, the store's, prototype keys). */
export function isReservedKey(key: string): boolean {
  return RESERVED_KEYS.has(key);
}

function isUnsafeKey(key: string, nested: boolean): boolean {
  return (
    (nested ? UNSAFE_NESTED_KEYS : RESERVED_KEYS).has(key) ||
    key === '' ||
    key.startsWith('$') ||
    key.includes('.') ||
    key.includes('\0') // BSON keys are NUL-terminated: the driver refuses them at save time
  );
}

/** `true` for a value that names a user: not `undefined`, `null` or `''`. */
export function isUserId(value: unknown): boolean {
  return value !== undefined && value !== null && value !== '';
}

/** The user id a session's data holds (under the `userIdField` option), or `undefined` when it holds none. */
export function userIdOf(data: object, settings: { userIdField: string }): unknown {
  const value = (data as Record<string, unknown>)[settings.userIdField];
  return isUserId(value) ? value : undefined;
}

/** A session (or its data) as a record, for reading and writing by key. */
export function asRecord(session: object): Record<string, unknown> {
  return session as Record<string, unknown>;
}

/**
 * The application data of a session, a stored document's `session` field or a schema's output: a plain
 * copy of its own top-level fields without express-session's and the store's (`cookie`, `lastModified`)
 * and without unsafe keys (`__proto__`, `$…`, dotted…), so that a stored `__proto__` cannot reach a live
 * session.
 */
export function applicationData(source: object): Record<string, unknown> {
  const data: Record<string, unknown> = {};
  // Keys, not entries: one array per copy rather than one per field (this runs on every request).
  for (const key of Object.keys(source)) {
    if (!isUnsafeKey(key, false)) data[key] = (source as Record<string, unknown>)[key];
  }
  return data;
}

/**
 * Checks that `value` can be stored under `key` and read back as it was: JSON-like data (plain objects,
 * arrays, strings, finite numbers, booleans, null) and Dates, with safe keys at every level.
 *
 * @throws SessionDataError naming the key path and the problem.
 */
export function assertStorable(key: string, value: unknown): void {
  if (typeof key !== 'string' || isUnsafeKey(key, false)) {
    throw new SessionDataError(
      `Session key ${JSON.stringify(key)} cannot be stored: keys must be non-empty, must not start with '$' or ` +
        `contain '.' or NUL, and ${[...RESERVED_KEYS].join(', ')} are reserved.`,
    );
  }
  const problem = storableProblem(value);
  if (problem) {
    const [path, what] = problem;
    throw new SessionDataError(`Session value at ${[key, ...path].join('.')} cannot be stored: ${what}.`);
  }
}

/**
 * How deeply a value may nest: MongoDB refuses documents nested deeper than 100 levels, and a session value
 * sits two levels down (the document, its `session` field).
 */
export const MAX_VALUE_DEPTH = 98;

/** The first problem found in `value`, as its key path and a description; checked without recursion. */
function storableProblem(root: unknown): [string[], string] | undefined {
  // Depth-first, with an explicit stack: a deeply nested value cannot overflow the call stack.
  const stack: { value: unknown; path: string[]; depth: number }[] = [{ value: root, path: [], depth: 0 }];
  // Objects on the path from the root to the value being checked, to tell a cycle from a shared object.
  const ancestors: object[] = [];
  while (stack.length > 0) {
    const { value, path, depth } = stack.pop()!;
    const problem = primitiveProblem(value);
    if (problem !== undefined) return [path, problem];
    if (typeof value !== 'object' || value === null || value instanceof Date) continue;
    ancestors.length = depth;
    if (ancestors.includes(value)) return [path, 'it is circular'];
    if (!Array.isArray(value) && !isPlainObject(value)) {
      return [
        path,
        `a ${value.constructor?.name ?? 'class'} instance is not plain data (use plain objects and arrays)`,
      ];
    }
    if (depth + 1 > MAX_VALUE_DEPTH) return [path, `it nests deeper than ${MAX_VALUE_DEPTH} levels`];
    ancestors.push(value);
    const entries: [string, unknown][] = Object.entries(value);
    for (let index = entries.length - 1; index >= 0; index -= 1) {
      const [key, item] = entries[index];
      if (!Array.isArray(value) && isUnsafeKey(key, true)) return [[...path, key], 'the key is not allowed'];
      stack.push({ value: item, path: [...path, key], depth: depth + 1 });
    }
  }
  return undefined;
}

/** What is wrong with a value that is not an object, or `undefined` when it can be stored. */
function primitiveProblem(value: unknown): string | undefined {
  switch (typeof value) {
    case 'number':
      return Number.isFinite(value) ? undefined : `${value} is not a finite number`;
    case 'bigint':
    case 'symbol':
    case 'function':
      return `a ${typeof value} is not serializable`;
    default:
      return undefined;
  }
}

/**
 * A loaded document's `session` field split into express-session's cookie and the application data, or
 * `undefined` when it is not a session at all (not an object, no cookie).
 */
export function storedSession(
  raw: unknown,
): { cookie: Record<string, unknown>; data: Record<string, unknown>; raw: Record<string, unknown> } | undefined {
  if (!isPlainObject(raw) || !isPlainObject(raw.cookie)) return undefined;
  return { cookie: raw.cookie, data: applicationData(raw), raw };
}

/** Copies the CSRF token of a session or stored document into `target` (nothing when it has none). */
export function copyCsrfToken(source: object, target: Record<string, unknown>): void {
  const token = (source as Record<string, unknown>)[CSRF_KEY];
  if (typeof token === 'string') target[CSRF_KEY] = token;
}
