import { SessionDataError } from './session.errors.js';

/** Keys that never hold application data: express-session's and the store's own, and prototype keys. */
const RESERVED_KEYS = new Set(['cookie', 'lastModified', '__proto__', 'constructor', 'prototype']);
const UNSAFE_NESTED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function isUnsafeKey(key: string, nested: boolean): boolean {
  return (nested ? UNSAFE_NESTED_KEYS : RESERVED_KEYS).has(key) || key === '' || key.startsWith('$') || key.includes('.');
}

/** A session's fields, for reading and writing by key. */
export function fields(session: object): Record<string, unknown> {
  return session as Record<string, unknown>;
}

/**
 * The application data of a session, a stored document's `session` field or a schema's output: a plain
 * copy of its own top-level fields without express-session's and the store's (`cookie`, `lastModified`)
 * and without unsafe keys (`__proto__`, `$…`, dotted…), so that a stored `__proto__` cannot reach a live
 * session.
 */
export function sessionData(source: object): Record<string, unknown> {
  const data: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(source)) {
    if (!isUnsafeKey(key, false)) data[key] = value;
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
        `contain '.', and ${[...RESERVED_KEYS].join(', ')} are reserved.`,
    );
  }
  const problem = storableProblem(value, new Set());
  if (problem) {
    const [path, what] = problem;
    throw new SessionDataError(`Session value at ${[key, ...path].join('.')} cannot be stored: ${what}.`);
  }
}

function storableProblem(value: unknown, seen: Set<object>): [string[], string] | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
    case 'undefined':
      return undefined;
    case 'number':
      return Number.isFinite(value) ? undefined : [[], `${value} is not a finite number`];
    case 'bigint':
    case 'symbol':
    case 'function':
      return [[], `a ${typeof value} is not serializable`];
  }
  if (value === null || value instanceof Date) return undefined;
  const object = value as object;
  if (seen.has(object)) return [[], 'it is circular'];
  if (!Array.isArray(object) && !isPlainObject(object)) {
    return [[], `a ${object.constructor?.name ?? 'class'} instance is not plain data (use plain objects and arrays)`];
  }
  seen.add(object);
  for (const [key, item] of Object.entries(object)) {
    if (!Array.isArray(object) && isUnsafeKey(key, true)) return [[key], 'the key is not allowed'];
    const problem = storableProblem(item, seen);
    if (problem) return [[key, ...problem[0]], problem[1]];
  }
  seen.delete(object);
  return undefined;
}

/**
 * A loaded document's `session` field split into express-session's cookie and the application data, or
 * `undefined` when it is not a session at all (not an object, no cookie).
 */
export function storedSession(raw: unknown): { cookie: Record<string, unknown>; data: Record<string, unknown> } | undefined {
  if (!isPlainObject(raw) || !isPlainObject(raw.cookie)) return undefined;
  return { cookie: raw.cookie, data: sessionData(raw) };
}
