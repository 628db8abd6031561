import { invalidExclusion } from '../http/route-exclusion.util.js';
import type { ExcludedRoute } from '../interfaces/session-options.interface.js';
import { fail } from './option-checks.util.js';

/** The routes the session middleware leaves out, each checked as Nest would compile it. */
export function resolveExcludeOptions(exclude: unknown = []): ExcludedRoute[] {
  const validRoute = (route: unknown) =>
    typeof route === 'string' ||
    (typeof route === 'object' && route !== null && typeof (route as { path?: unknown }).path === 'string');
  if (!Array.isArray(exclude) || !exclude.every(validRoute)) {
    fail(
      'exclude',
      'must be an array of paths or { path, method } objects',
      "E.g. exclude: ['health', 'assets/{*path}'].",
    );
  }
  const routes = exclude as ExcludedRoute[];
  const badRoute = invalidExclusion(routes);
  if (badRoute) fail('exclude', badRoute, "Write paths as Nest routes, e.g. 'health' or 'assets/{*path}'.");
  return routes;
}
