import autocannon from 'autocannon';

/** One load run's figures. */
export interface LoadResult {
  requestsPerSecond: number;
  p50: number;
  p99: number;
  requests: number;
  /** CPU time of the setup's process per request, in µs, when it could be read. */
  cpuPerRequestUs?: number;
  /** Resident memory of the setup's process at the end of the run, in MiB, when it could be read. */
  rssMiB?: number;
}

/**
 * The guarded routes every setup serves and the load is run against: an unchanged read of the session, and a
 * write of one key (`visits`, incremented: every request changes it).
 */
export const ROUTES = {
  read: { method: 'GET', path: '/me', label: 'unchanged authenticated read' },
  write: { method: 'POST', path: '/me/visits', label: 'authenticated write of one key' },
} as const;

export type RouteName = keyof typeof ROUTES;
export const ROUTE_NAMES = Object.keys(ROUTES) as RouteName[];
/** `GET /me`. */
export const routeText = (route: RouteName) => `${ROUTES[route].method} ${ROUTES[route].path}`;

/**
 * Runs autocannon against `route` (by default `GET /me`), each request carrying the next of `cookies` (round
 * robin, so the sessions are spread over all connections); `timeoutSeconds` per request (autocannon's 10 s by
 * default). Rejects when any answer is not a 2xx: figures of
 * failing requests are not figures.
 */
export async function loadRun(
  url: string,
  cookies: string[],
  options: { connections: number; duration?: number; amount?: number; route?: RouteName; timeoutSeconds?: number },
): Promise<LoadResult> {
  const { method, path } = ROUTES[options.route ?? 'read'];
  let next = 0;
  const result = await autocannon({
    url,
    connections: options.connections,
    ...(options.timeoutSeconds === undefined ? {} : { timeout: options.timeoutSeconds }),
    ...(options.amount === undefined ? { duration: options.duration } : { amount: options.amount }),
    requests: [
      {
        method,
        path,
        setupRequest: (request) => {
          const cookie = cookies[next++ % cookies.length];
          return { ...request, headers: { ...request.headers, cookie } };
        },
      },
    ],
  });
  const failed = result.non2xx + result.errors + result.timeouts;
  if (failed > 0) {
    throw new Error(
      `${method} ${url}${path}: ${failed} of ${result.requests.sent} requests failed (non-2xx ${result.non2xx}, errors ${result.errors}, ` +
        `timeouts ${result.timeouts}; status codes ${JSON.stringify(result.statusCodeStats)})`,
    );
  }
  return {
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: result['2xx'],
  };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}
