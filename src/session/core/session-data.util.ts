import { ObjectId } from 'mongodb';
import { SessionDataError } from '../session.errors.js';
import { escapedText, quotedKeyPath } from './log-text.util.js';

/** Where a session keeps its CSRF token: beside the data, never part of it. */
export const CSRF_KEY = '__csrf';

/**
 * Keys that never hold application data, because a live session object already answers to them: every
 * member of express-session's `Session` (own and prototype: assigning `touch` or `save` breaks the end of the
 * request, `id` and `req` are read-only) and of its `Cookie`, `Object.prototype`'s members (a loaded session
 * would silently drop them), connect-mongo's `lastModified` and the CSRF token's key. `session.data.spec.ts`
 * checks the list against the installed express-session.
 */
export const RESERVED_KEYS: ReadonlySet<string> = new Set([
  // express-session's Session
  'id',
  'req',
  'cookie',
  'touch',
  'resetMaxAge',
  'save',
  'reload',
  'destroy',
  'regenerate',
  // express-session's Cookie
  'path',
  'maxAge',
  'originalMaxAge',
  'expires',
  '_expires',
  'httpOnly',
  'secure',
  'domain',
  'sameSite',
  'priority',
  'partitioned',
  'data',
  'serialize',
  'toJSON',
  // Object.prototype
  '__proto__',
  'constructor',
  'prototype',
  'hasOwnProperty',
  'isPrototypeOf',
  'propertyIsEnumerable',
  'toString',
  'toLocaleString',
  'valueOf',
  '__defineGetter__',
  '__defineSetter__',
  '__lookupGetter__',
  '__lookupSetter__',
  // the store's
  'lastModified',
  CSRF_KEY,
]);
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

/**
 * The first of express-session's own member names that `session` holds as data, put on `req.session`
 * directly (its `cookie` aside): express-session would call it as a method at the end of the request.
 */
export function shadowedMember(session: object): string | undefined {
  for (const key of Object.keys(session)) {
    if (key !== 'cookie' && key !== CSRF_KEY && RESERVED_KEYS.has(key)) return key;
  }
  return undefined;
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

/**
 * `true` for a value that can name a user: a non-empty string or a finite number. Anything else (an
 * operator object such as `{ $ne: null }`, an array, `null`, `undefined`) would widen a per-user filter.
 */
export function isUserId(value: unknown): value is string | number {
  return typeof value === 'string' ? value !== '' : typeof value === 'number' && Number.isFinite(value);
}

/**
 * Checks a user id before it enters a filter or the user lock.
 *
 * @throws SessionDataError (400) naming `method`, when `value` is not a non-empty string or a finite number.
 */
export function assertUserId(method: string, value: unknown): asserts value is string | number {
  if (!isUserId(value)) {
    throw new SessionDataError(
      `${method} needs a user id: a non-empty string or a finite number, got ${kindOf(value)}.`,
    );
  }
}

/** What a value is, for a message that must not echo it. */
function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value === '') return 'an empty string';
  if (typeof value === 'number') return String(value); // NaN, Infinity
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** A segment of a `userIdField` path: an identifier, as a session key can be written in code. */
const PATH_SEGMENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * What is wrong with a `userIdField` value, or `undefined` when it is a valid path: one session key, or
 * keys joined by dots (`'passport.user'`, where Passport keeps its user), each an identifier, none empty,
 * none starting with `$`, the first not reserved and none a prototype key.
 */
export function userIdFieldProblem(field: unknown): string | undefined {
  if (typeof field !== 'string') return `must be a session key or a dotted path of keys, got ${kindOf(field)}`;
  const segments = field.split('.');
  for (const [index, segment] of segments.entries()) {
    if (segment === '') return `must not have an empty segment, got ${JSON.stringify(field)}`;
    if (!PATH_SEGMENT.test(segment)) {
      return `segment ${JSON.stringify(segment)} of ${JSON.stringify(field)} is not a plain key (letters, digits, '_'; no '$')`;
    }
    if (index === 0 ? isReservedKey(segment) : UNSAFE_NESTED_KEYS.has(segment)) {
      return `segment ${JSON.stringify(segment)} of ${JSON.stringify(field)} is a reserved key`;
    }
  }
  return undefined;
}

/**
 * The value at `path` (a `userIdField`: keys joined by dots) in `data`, through own properties of plain
 * objects only; `undefined` when any step is missing or not a plain object.
 */
export function valueAtPath(data: object, path: string): unknown {
  let value: unknown = data;
  for (const segment of path.split('.')) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
    if (!Object.hasOwn(value, segment)) return undefined;
    value = (value as Record<string, unknown>)[segment];
  }
  return value;
}

/** The top-level session key of a `userIdField` path (`'passport'` for `'passport.user'`). */
export function userIdRootKey(path: string): string {
  const dot = path.indexOf('.');
  return dot === -1 ? path : path.slice(0, dot);
}

/**
 * The user id a session's data holds (under the `userIdField` option, a key or a dotted path), or
 * `undefined` when it holds none.
 */
export function userIdOf(data: object, settings: { userIdField: string }): string | number | undefined {
  const value = settings.userIdField.includes('.')
    ? valueAtPath(data, settings.userIdField)
    : (data as Record<string, unknown>)[settings.userIdField];
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
 * arrays, strings, finite numbers, booleans, null), Dates and MongoDB ObjectIds, with safe keys at every level and no array
 * directly inside an array.
 *
 * @throws SessionDataError naming the key path and the problem.
 */
export function assertStorable(key: string, value: unknown): void {
  if (typeof key !== 'string' || isUnsafeKey(key, false)) {
    throw new SessionDataError(
      `Session key ${escapedText(JSON.stringify(String(key)))} cannot be stored: keys must be non-empty, must not start ` +
        `with '$' or contain '.' or NUL, and the member names of express-session's Session and Cookie, of ` +
        `Object.prototype and ${CSRF_KEY} and lastModified are reserved (see the README).`,
    );
  }
  const problem = storableProblem(value);
  if (problem) {
    const [path, what] = problem;
    throw new SessionDataError(`Session value at ${quotedKeyPath([key, ...path])} cannot be stored: ${what}.`);
  }
}

/**
 * Checks that a session's application data fits in `maxBytes`, measured as the UTF-8 bytes of its JSON (a
 * close, database-neutral measure of the stored document's size).
 *
 * @throws SessionDataError (400) when it does not; the caller writes nothing.
 */
export function assertWithinSize(data: object, maxBytes: number): void {
  const bytes = Buffer.byteLength(JSON.stringify(data));
  if (bytes > maxBytes) {
    throw new SessionDataError(
      `Session data would take ${bytes} bytes, more than the ${maxBytes} the maxSessionBytes option allows; ` +
        'nothing was written. Keep large data elsewhere and store its id in the session.',
    );
  }
}

/**
 * What a store writes of a live session, checked: every application key and value as `assertStorable`
 * checks them, and the whole within `maxBytes`. Catches data an application put on `req.session` directly.
 *
 * @throws SessionDataError (400) for the first problem; the caller writes nothing.
 */
export function assertStorableSession(session: object, maxBytes: number): void {
  const data: Record<string, unknown> = {};
  for (const key of Object.keys(session)) {
    if (key === 'cookie' || key === CSRF_KEY) continue;
    const value = (session as Record<string, unknown>)[key];
    assertStorable(key, value);
    data[key] = value;
  }
  assertWithinSize(data, maxBytes);
}

/**
 * How deeply a value may nest: MongoDB refuses documents nested deeper than 100 levels, and a session value
 * sits two levels down (the document, its `session` field).
 */
export const MAX_VALUE_DEPTH = 98;

/** The first problem found in `value`, as its key path and a description; checked without recursion. */
function storableProblem(root: unknown): [string[], string] | undefined {
  // Depth-first, with an explicit stack: a deeply nested value cannot overflow the call stack.
  const stack: { value: unknown; path: string[]; depth: number; inArray: boolean }[] = [
    { value: root, path: [], depth: 0, inArray: false },
  ];
  // Objects on the path from the root to the value being checked, to tell a cycle from a shared object.
  const ancestors: object[] = [];
  while (stack.length > 0) {
    const { value, path, depth, inArray } = stack.pop()!;
    const problem = primitiveProblem(value);
    if (problem !== undefined) return [path, problem];
    // Dates and ObjectIds are stored natively by MongoDB and read back as they were.
    if (typeof value !== 'object' || value === null || value instanceof Date || value instanceof ObjectId) continue;
    ancestors.length = depth;
    if (ancestors.includes(value)) return [path, 'it is circular'];
    if (!Array.isArray(value) && !isPlainObject(value)) {
      return [
        path,
        `a ${value.constructor?.name ?? 'class'} instance is not plain data (use plain objects and arrays)`,
      ];
    }
    // FerretDB 1.x refuses nested arrays when saving; refused on every server, so that data is portable.
    if (inArray && Array.isArray(value))
      return [path, 'it is an array directly inside an array (wrap it in an object)'];
    if (depth + 1 > MAX_VALUE_DEPTH) return [path, `it nests deeper than ${MAX_VALUE_DEPTH} levels`];
    ancestors.push(value);
    const entries: [string, unknown][] = Object.entries(value);
    for (let index = entries.length - 1; index >= 0; index -= 1) {
      const [key, item] = entries[index];
      if (!Array.isArray(value) && isUnsafeKey(key, true)) return [[...path, key], 'the key is not allowed'];
      stack.push({ value: item, path: [...path, key], depth: depth + 1, inArray: Array.isArray(value) });
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
