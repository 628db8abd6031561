import { createHash, randomBytes } from 'node:crypto';

/**
 * The key a session is stored under: the SHA-256 of its id (base64url). The cookie carries the id; the
 * collection holds only its hash, so nothing that reads the collection (a backup, a read-only user, a query
 * log) can present what it reads as a cookie. Lookups stay one read by `_id`.
 */
export function storageKey(sessionId: string): string {
  return createHash('sha256').update(sessionId).digest('base64url');
}

/**
 * A new public handle: 16 random bytes (base64url, 22 characters), unrelated to the session's id. Given at
 * a session's creation, stored with it (`handle`) and carried over when its id rotates, so it is stable for
 * the life of the session; safe to show and to put in URLs, never usable as an id.
 */
export function newHandle(): string {
  return randomBytes(16).toString('base64url');
}

/** `true` for a value shaped like a handle (22 base64url characters, stored or derived): what a handle lookup accepts. */
export function isHandle(value: unknown): value is string {
  return typeof value === 'string' && /^[\w-]{22}$/.test(value);
}

/**
 * The handle derived from a storage key (its first 22 characters): the handle of a session stored by an
 * earlier version without a `handle` field, and of an id that names no stored session (`rejected` events).
 */
export function handleOfKey(key: string): string {
  return key.slice(0, 22);
}

/** The handle derived from a session id (see `handleOfKey`). */
export function sessionHandle(sessionId: string): string {
  return handleOfKey(storageKey(sessionId));
}

/** The public handle of a stored session: its `handle` field, or the derived one when it has none. */
export function handleOfDocument(document: { _id: string; handle?: unknown }): string {
  return typeof document.handle === 'string' ? document.handle : handleOfKey(document._id);
}
