/** A request as the Origin rule reads it: its `Host`, whether it came over TLS, and the trusted origins. */
export interface OriginContext {
  /** The host the request was sent to, with its port (the `Host` header, or Express's `req.host`). */
  host: string | undefined;
  /** `true` when the request is known to have come over HTTPS: an `http:` page is then another origin. */
  secure: boolean;
  /** The `trustedOrigins` option, each as `URL.origin` writes it. */
  trusted: ReadonlySet<string>;
}

/**
 * `true` when `origin` (an `Origin` header, or the origin of a `Referer`) is the application's own or a
 * trusted one. The application's own origin is an `http:` or `https:` origin whose host and port are the
 * request's `Host` (`https:` only, when the request came over HTTPS). An opaque origin (`null`) or one that
 * is not a URL is never allowed.
 */
export function isAllowedOrigin(origin: string, request: OriginContext): boolean {
  const url = parsedUrl(origin);
  if (!url || url.origin === 'null') return false;
  if (request.trusted.has(url.origin)) return true;
  if (url.protocol !== 'https:' && (request.secure || url.protocol !== 'http:')) return false;
  return url.host === request.host?.toLowerCase();
}

/**
 * The origin a browser says the request comes from: its `Origin` header, else the origin of its `Referer`;
 * `undefined` when it sent neither (a client that is not a browser, or a browser told to send no referrer).
 */
export function claimedOrigin(headers: { origin?: string; referer?: string }): string | undefined {
  if (headers.origin !== undefined) return headers.origin;
  if (headers.referer === undefined) return undefined;
  return parsedUrl(headers.referer)?.origin ?? 'null';
}

/** A `trustedOrigins` entry as `URL.origin` writes it; `undefined` when it is not a bare `http(s)` origin. */
export function normalizedOrigin(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const url = parsedUrl(value);
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) return undefined;
  const bare = url.pathname === '/' && !url.search && !url.hash && !url.username && !url.password;
  return bare && !value.includes('?') && !value.includes('#') ? url.origin : undefined;
}

function parsedUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}
