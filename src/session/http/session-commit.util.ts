import { HttpException, HttpStatus } from '@nestjs/common';
import type { Response } from 'express';
import type { Session } from 'express-session';
import { promisify } from 'node:util';
import { clearSessionCookie } from './session-cookie.util.js';
import type { SessionContext } from '../core/session.context.js';
import { SessionDataError, SessionEndedError, SessionStoreError, SessionUserIdError } from '../session.errors.js';
import type { ResolvedSessionOptions } from '../interfaces/resolved-session-options.interface.js';
import type { SessionStore } from '../store/session-store.interface.js';
import { shadowedMember } from '../core/session-data.util.js';
import { lifetimeRefusalOf } from './cookie-lifetime.util.js';

/** The response methods that send its first byte: the commit comes before any of them reaches the socket. */
type SendingMethod = 'writeHead' | 'write' | 'end';

/** The answer to a write that a concurrent rotation of its session (keeping other keys) left out. */
const ROTATED_AWAY =
  'This session got a new id while this request ran, and what the request changed was not kept; nothing was stored: send the request again.';

/** Headers of the handler's answer that do not describe an error answered instead. */
const ANSWER_HEADERS = [
  'content-type',
  'content-length',
  'content-encoding',
  'content-disposition',
  'content-range',
  'etag',
  'last-modified',
  'location',
  'transfer-encoding',
];

/**
 * Stores the session change of a request before its answer leaves: the first `writeHead`, `write` or `end`
 * of the response, when the session changed, is held (with every call after it, in order) until the change
 * is stored, then they go through. A failed commit answers instead of the handler: 503 (`SessionStoreError`)
 * when MongoDB failed, 401 with the cookie cleared (`SessionEndedError`) when the session was ended elsewhere
 * meanwhile; the handler's calls are dropped. A request that set the cookie's lifetime by hand
 * (`lifetimeRefusalOf`) is answered 500 as Nest answers an unexpected error, nothing of it stored (a session a
 * login wrote under a new id is deleted: the client never gets its cookie). A request that changed nothing
 * goes straight through.
 *
 * Installed on the response after express-session, so that it runs before express-session's own end (whose
 * save then finds nothing left to write).
 */
export function commitBeforeAnswer(
  context: SessionContext,
  store: SessionStore,
  settings: ResolvedSessionOptions,
): void {
  const { req, res } = context;
  // eslint-disable-next-line @typescript-eslint/unbound-method -- each is called with `res` as `this` (`pass`)
  const original = { writeHead: res.writeHead, write: res.write, end: res.end } as Record<
    SendingMethod,
    (...args: unknown[]) => unknown
  >;
  let state: 'open' | 'committing' | 'passed' | 'refused' = 'open';
  const held: { method: SendingMethod; args: unknown[] }[] = [];

  const pass = (method: SendingMethod, args: unknown[]) => original[method].apply(res, args);

  const release = () => {
    state = 'passed';
    let owesDrain = false;
    let lastWrite: unknown = true;
    for (const { method, args } of held) {
      const result = pass(method, args);
      if (method === 'write') {
        owesDrain = true;
        lastWrite = result;
      }
    }
    held.length = 0;
    // A writer told to wait (a held write answers false) waits for 'drain'; the socket emits it when it was full.
    if (owesDrain && lastWrite !== false) res.emit('drain');
  };

  const refuse = (error: HttpException, rotatedAway = false) => {
    const owesDrain = held.some(({ method }) => method === 'write');
    held.length = 0;
    delete (req as { session?: Session }).session; // express-session then neither saves nor sets a cookie
    for (const name of ANSWER_HEADERS) res.removeHeader(name);
    // Not for a session a rotation moved on: the client may hold its new cookie by now.
    if (error instanceof SessionEndedError && !rotatedAway) clearSessionCookie(req, res, settings);
    const body = JSON.stringify(error.getResponse());
    res.statusCode = error.getStatus();
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Content-Length', Buffer.byteLength(body));
    state = 'passed'; // for the refusal itself (its end writes the headers through writeHead)
    original.end.call(res, body);
    state = 'refused';
    if (owesDrain) res.emit('drain'); // a piping stream goes on, into the calls dropped below
  };

  const commit = async (session: Session) => {
    try {
      await promisify((done: (error?: unknown) => void) => session.save(done))();
    } catch (error) {
      // Data the store refuses (put on req.session directly, past SessionService's checks) is the client's 400;
      // a user id put there is the application's error (500), whose message names the fix.
      if (error instanceof SessionDataError || error instanceof SessionUserIdError) return refuse(error);
      return refuse(new SessionStoreError('save the session', error));
    }
    if (store.wasRotatedAway(session)) return refuse(new SessionEndedError(ROTATED_AWAY), true);
    if (store.wasEndedElsewhere(session)) return refuse(new SessionEndedError());
    release();
  };

  const refuseLifetime = async (session: Session | undefined) => {
    // A session this request wrote (a login) is not kept: its client never gets the cookie.
    if (session !== undefined && req.sessionID !== context.loadedId && store.isStored(session)) {
      const sid = req.sessionID;
      await promisify((done: (error?: unknown) => void) => store.destroy(sid, done))().catch(() => undefined);
    }
    refuse(new HttpException({ statusCode: 500, message: 'Internal server error' }, HttpStatus.INTERNAL_SERVER_ERROR));
  };

  const gate = (method: SendingMethod) =>
    function (this: Response, ...args: unknown[]): unknown {
      switch (state) {
        case 'passed':
          return pass(method, args);
        case 'refused':
          return method === 'write' ? true : res;
        case 'committing':
          held.push({ method, args });
          return method === 'write' ? false : res;
      }
      const session = req.session as Session | undefined;
      if (!res.headersSent && lifetimeRefusalOf(req) !== undefined) {
        state = 'committing';
        held.push({ method, args });
        refuseLifetime(session).catch((error: unknown) => res.destroy(error as Error));
        return method === 'write' ? false : res;
      }
      const shadowed = session && !res.headersSent ? shadowedMember(session) : undefined;
      if (shadowed !== undefined) {
        refuse(
          new SessionDataError(`Session key ${JSON.stringify(shadowed)} is express-session's own; nothing was stored.`),
        );
        return method === 'write' ? true : res;
      }
      if (res.headersSent || session === undefined || !store.hasChanges(session)) {
        state = 'passed';
        return pass(method, args);
      }
      state = 'committing';
      held.push({ method, args });
      commit(session).catch((error: unknown) => res.destroy(error as Error)); // never a response left hanging
      return method === 'write' ? false : res;
    };

  res.writeHead = gate('writeHead') as Response['writeHead'];
  res.write = gate('write') as Response['write'];
  res.end = gate('end') as Response['end'];
}
