import { AsyncLocalStorage } from 'node:async_hooks';
import type { Request, Response } from 'express';

/** The request and response of the HTTP call being handled; set by the session middleware. */
export interface SessionContext {
  req: Request;
  res: Response;
  /** Why the session could not be loaded (MongoDB unreachable); the request goes on without one. */
  storeError?: unknown;
  /** The cookie's lifetime is fitted to the session's when the headers are written (`fitCookieLifetime`). */
  fitsLifetime?: boolean;
}

/** Lets the singleton `SessionService` find the current request without being request-scoped. */
export const sessionContext = new AsyncLocalStorage<SessionContext>();
