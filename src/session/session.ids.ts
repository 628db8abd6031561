import { createHash } from 'node:crypto';

/**
 * The key a session is stored under: the SHA-256 of its id (base64url). The cookie carries the id; the
 * collection holds only its hash, so nothing that reads the collection (a backup, a read-only user, a query
 * log) can present what it reads as a cookie. Lookups stay one read by `_id`.
 */
export function storageKey(sessionId: string): string {
  return createHash('sha256').update(sessionId).digest('base64url');
}

/**
 * The public handle of a stored session, from its storage key: stable, not reversible, safe to show and to
 * put in URLs. It identifies a session in `listForUser`, `revoke` and lifecycle events.
 */
export function handleOfKey(key: string): string {
  return key.slice(0, 22);
}

/** The public handle of the session with this id. */
export function sessionHandle(sessionId: string): string {
  return handleOfKey(storageKey(sessionId));
}

/** `true` for a string of the handle format (`handleOfKey`'s: 22 characters of base64url). */
export function isSessionHandle(value: unknown): value is string {
  return typeof value === 'string' && /^[A-Za-z0-9_-]{22}$/.test(value);
}
