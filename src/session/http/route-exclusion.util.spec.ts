import { describe, expect, it } from '@jest/globals';
import { RequestMethod } from '@nestjs/common';
import type { Request } from 'express';
import { exclusionTest, invalidExclusion } from './route-exclusion.util.js';

// The `exclude` option's matching alone: Nest route syntax, the global prefix, methods, case and slashes.

const request = (method: string, path: string) => ({ method, path }) as Request;

describe('exclusionTest', () => {
  it('is undefined when nothing is excluded: no work per request', () => {
    expect(exclusionTest([])).toBeUndefined();
  });

  it('matches Nest routes with or without a trailing slash, in any case, and wildcards', () => {
    const excluded = exclusionTest(['health', 'assets/{*path}'])!;
    expect(excluded(request('GET', '/health'))).toBe(true);
    expect(excluded(request('GET', '/health/'))).toBe(true);
    expect(excluded(request('GET', '/HEALTH'))).toBe(true);
    expect(excluded(request('GET', '/assets/app/main.js'))).toBe(true);
    expect(excluded(request('GET', '/healthz'))).toBe(false);
    expect(excluded(request('GET', '/me'))).toBe(false);
  });

  it('matches under the global prefix, and without it', () => {
    const excluded = exclusionTest(['health'], 'api')!;
    expect(excluded(request('GET', '/api/health'))).toBe(true);
    expect(excluded(request('GET', '/health'))).toBe(true);
    expect(excluded(request('GET', '/api/me'))).toBe(false);
  });

  it('matches a { path, method } route for that method only, GET also for HEAD', () => {
    const excluded = exclusionTest([{ path: 'metrics', method: RequestMethod.GET }])!;
    expect(excluded(request('GET', '/metrics'))).toBe(true);
    expect(excluded(request('HEAD', '/metrics'))).toBe(true);
    expect(excluded(request('POST', '/metrics'))).toBe(false);
  });

  it('reports a path Nest could not compile', () => {
    expect(invalidExclusion(['health'])).toBeUndefined();
    expect(invalidExclusion(['assets/*'])).toEqual(expect.any(String));
  });
});
