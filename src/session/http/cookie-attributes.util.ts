import type { ResolvedSessionOptions } from '../interfaces/resolved-session-options.interface.js';

/** The attributes of the session cookie that the configuration decides (not its lifetime). */
export interface CookieAttributes {
  path: string;
  domain: string | undefined;
  httpOnly: boolean;
  sameSite: ResolvedSessionOptions['cookie']['sameSite'];
  secure: boolean;
  partitioned: undefined;
  priority: undefined;
}

/**
 * The cookie attributes in force for a request: the configured ones, `secure: 'auto'` resolved as
 * express-session resolves it (`req.secure`, which honours Express `trust proxy`). A loaded session's cookie
 * takes them in place of those stored with it, so a cookie sent again follows a hardening deploy; only its
 * lifetime (`expires`, `originalMaxAge`) stays the session's own. Options the configuration has no setting
 * for (`partitioned`, `priority`) are dropped.
 */
export function cookieAttributesInForce(settings: ResolvedSessionOptions, req: { secure: boolean }): CookieAttributes {
  const { path, domain, httpOnly, sameSite, secure } = settings.cookie;
  return {
    path,
    domain,
    httpOnly,
    sameSite,
    secure: secure === 'auto' ? req.secure === true : secure,
    partitioned: undefined,
    priority: undefined,
  };
}
