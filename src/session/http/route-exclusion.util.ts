import { RequestMethod } from '@nestjs/common';
import type { Request } from 'express';
import { pathToRegexp } from 'path-to-regexp';
import type { ExcludedRoute } from '../interfaces/session-options.interface.js';

export type { ExcludedRoute } from '../interfaces/session-options.interface.js';

/** `true` for a request the session middleware leaves out (the `exclude` option). */
export type ExclusionTest = (req: Request) => boolean;

/** One excluded route, compiled: the paths it matches and the method it is for (`undefined`: any). */
interface CompiledRoute {
  pattern: RegExp;
  method?: string;
}

/**
 * The paths an excluded route names, as route patterns (`'health'`, `'assets/{*path}'`): path-to-regexp's
 * syntax, as Nest and Express read routes. Throws a `TypeError` naming the problem for a pattern it cannot read.
 */
function compile(path: string, prefix: string): RegExp {
  const joined = `/${[prefix, path]
    .map((part) => part.replace(/^\/+|\/+$/g, ''))
    .filter(Boolean)
    .join('/')}`;
  // As Express serves routes by default: case-insensitive, with or without a trailing slash.
  return pathToRegexp(joined, { end: true, trailing: true, sensitive: false }).regexp;
}

/** Checks that every excluded route's path is a route pattern; the message names the first that is not. */
export function invalidExclusion(routes: ExcludedRoute[]): string | undefined {
  for (const route of routes) {
    const path = typeof route === 'string' ? route : route.path;
    try {
      compile(path, '');
    } catch (error) {
      return `${JSON.stringify(path)} is not a route pattern (${(error as Error).message})`;
    }
  }
  return undefined;
}

/**
 * Compiles the `exclude` option once, at start-up, into a test of each request's path and method: paths are
 * matched under the application's global prefix and, for routes kept out of the prefix, without it; a
 * `{ path, method }` route matches that method only (GET also matches HEAD, as Express serves it). URI
 * versions are part of the path (`'v1/health'`). `undefined` when nothing is excluded: no work per request.
 */
export function exclusionTest(routes: ExcludedRoute[], globalPrefix = ''): ExclusionTest | undefined {
  if (routes.length === 0) return undefined;
  const compiled: CompiledRoute[] = [];
  for (const route of routes) {
    const { path, method } = typeof route === 'string' ? { path: route, method: RequestMethod.ALL } : route;
    const name = method === undefined || method === RequestMethod.ALL ? undefined : RequestMethod[method];
    compiled.push({ pattern: compile(path, globalPrefix), method: name });
    if (globalPrefix) compiled.push({ pattern: compile(path, ''), method: name });
  }
  return (req) => {
    const path = req.path;
    for (const { pattern, method } of compiled) {
      if (method !== undefined && method !== req.method && !(method === 'GET' && req.method === 'HEAD')) continue;
      if (pattern.test(path)) return true;
    }
    return false;
  };
}
