import { createHmac, timingSafeEqual } from 'node:crypto';
import type { ResolvedSessionOptions } from '../session.options.js';

/**
 * The session id of a handshake's session cookie, checked as express-session checks it: `s:<id>.<signature>`,
 * an HMAC-SHA256 of the id (the `cookie-signature` format) with one of the module's secrets. `undefined` when
 * there is no such cookie or its signature matches none of the secrets.
 */
export function sessionIdFromCookie(
  header: string | string[] | undefined,
  settings: Pick<ResolvedSessionOptions, 'name' | 'secret'>,
): string | undefined {
  const value = readCookie(Array.isArray(header) ? header.join('; ') : header, settings.name);
  if (!value?.startsWith('s:')) return undefined;
  const signed = value.slice(2);
  const dot = signed.lastIndexOf('.');
  if (dot <= 0) return undefined;
  const id = signed.slice(0, dot);
  const actual = Buffer.from(signed);
  const matches = (secret: string) => {
    const signature = createHmac('sha256', secret).update(id).digest('base64').replace(/=+$/, '');
    const expected = Buffer.from(`${id}.${signature}`);
    return expected.length === actual.length && timingSafeEqual(expected, actual);
  };
  return settings.secret.some(matches) ? id : undefined;
}

/** The first cookie named `name`, URI-decoded as express-session's `cookie` parser does. */
function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of header?.split(';') ?? []) {
    const separator = part.indexOf('=');
    if (separator < 0 || part.slice(0, separator).trim() !== name) continue;
    let value = part.slice(separator + 1).trim();
    if (value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    try {
      return decodeURIComponent(value);
    } catch {
      return value;
    }
  }
  return undefined;
}
