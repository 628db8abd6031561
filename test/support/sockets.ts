import WebSocket from 'ws';

/** Resolves with what `register` calls back with, or rejects after `ms` naming what was awaited. */
export function waitFor<T>(what: string, register: (resolve: (value: T) => void) => void, ms = 5_000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    register((value) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

/**
 * A `ws` WebSocket class that sends `cookie` (and `headers`, an `origin` say) with its upgrade request, for
 * clients that take a class.
 */
export function webSocketWithCookie(cookie: string | undefined, headers: Record<string, string> = {}): unknown {
  const sent = cookie ? { ...headers, cookie } : headers;
  return class CookieWebSocket extends WebSocket {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols, { headers: sent });
    }
  };
}

/** The `ws://` base URL of an app listening on 127.0.0.1. */
export function wsUrl(address: string, path: string): string {
  return `${address.replace(/^http/, 'ws')}${path}`;
}
