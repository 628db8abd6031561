import type { INestApplication } from '@nestjs/common';
import type { Request, RequestHandler, Response } from 'express';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { SessionService } from '../core/session.service.js';
import { SessionRejections } from '../http/cookie-rejection.reporter.js';
import { presentedCookie } from '../http/session-cookie.util.js';
import { createSessionMiddleware } from '../http/session.middleware.js';
import type { ResolvedSessionOptions } from '../interfaces/resolved-session-options.interface.js';
import type { AppSessionData } from '../interfaces/session-data.interface.js';
import type { LoginOptions } from '../interfaces/session-service-options.interface.js';
import { RESOLVED_SESSION_OPTIONS, SESSION_STORE } from '../session.constants.js';
import type { SessionStore } from '../store/session-store.interface.js';

/**
 * Test helpers, from `nestjs-typed-session/testing`: log a user in, read a session and end it on a Nest test
 * application, without an HTTP login route. Each runs the application's own session middleware (its secret,
 * store, cookie and timeouts) on a request made in memory, and calls `SessionService` inside it: a session
 * made by `loginAs` is the one `login()` makes (hashed key, handle, times, device fields, the cap, the
 * `created` event), and its cookie is signed with the first of the application's secrets.
 */

/** Options of `loginAs`: `login()`'s own, and the device the session is recorded for. */
export interface LoginAsOptions extends LoginOptions {
  /** The `User-Agent` the session records. Default `'nestjs-typed-session/testing'`. */
  userAgent?: string;
  /** The client address the session records. Default `'127.0.0.1'`. */
  ip?: string;
}

/** A session made by `loginAs`. */
export interface TestSession {
  /** The `Cookie` request header that carries the session (`name=value`), for supertest's `.set('Cookie', …)`. */
  cookie: string;
  /** The session's public handle, as `listForUser` shows it and `revoke` takes it. */
  handle: string;
}

/**
 * Logs `data`'s user in on `app` as `SessionService.login(data, options)` does, and returns the cookie.
 *
 * @throws SessionDataError (400) for data `login()` refuses (a bad user id, data that cannot be stored…);
 * nothing is stored. SessionStoreError (503) when MongoDB failed.
 */
export async function loginAs<S extends object = AppSessionData>(
  app: INestApplication,
  data: NoInfer<S>,
  options: LoginAsOptions = {},
): Promise<TestSession> {
  const { userAgent = 'nestjs-typed-session/testing', ip = '127.0.0.1', ...loginOptions } = options;
  const { result, cookie } = await inRequest(app, { userAgent, ip }, async ({ service, store, req }) => {
    await service.login(data as object as AppSessionData, loginOptions);
    return store.handleOf(req.session);
  });
  if (cookie === undefined) throw new Error('loginAs(): the application set no session cookie.');
  return { cookie, handle: result };
}

/**
 * The data of the session a `Cookie` header carries, as a request with it would see it (signature, expiry,
 * `schema`), or `null` when it carries no live session.
 */
export async function sessionOf<S extends object = AppSessionData>(
  app: INestApplication,
  cookie: string,
): Promise<Partial<S> | null> {
  const { result } = await inRequest(app, { cookie }, ({ service, loaded }) =>
    Promise.resolve(loaded ? ((service.data() as Partial<S> | undefined) ?? null) : null),
  );
  return result;
}

/**
 * Ends the session a `Cookie` header carries, as `SessionService.destroy()` does (its document is deleted, a
 * `destroyed` event is emitted). Returns `false` when the cookie carried no live session.
 */
export async function endSession(app: INestApplication, cookie: string): Promise<boolean> {
  const { result } = await inRequest(app, { cookie }, async ({ service, loaded }) => {
    if (!loaded) return false;
    await service.destroy();
    return true;
  });
  return result;
}

interface Binding {
  service: SessionService;
  store: SessionStore;
  settings: ResolvedSessionOptions;
  middleware: RequestHandler;
}

const bindings = new WeakMap<INestApplication, Binding>();

/** The application's session providers, and a middleware made from them as `SessionModule` makes its own. */
function bindingOf(app: INestApplication): Binding {
  let binding = bindings.get(app);
  if (binding === undefined) {
    let settings: ResolvedSessionOptions;
    try {
      settings = app.get<symbol, ResolvedSessionOptions>(RESOLVED_SESSION_OPTIONS, { strict: false });
    } catch {
      throw new Error('nestjs-typed-session/testing: this application does not import SessionModule.');
    }
    const store = app.get<symbol, SessionStore>(SESSION_STORE, { strict: false });
    const rejections = app.get(SessionRejections, { strict: false });
    const service = app.get<typeof SessionService, SessionService>(SessionService, { strict: false });
    binding = { service, store, settings, middleware: createSessionMiddleware(settings, store, rejections) };
    bindings.set(app, binding);
  }
  return binding;
}

/** A socket that takes what is written to it and forgets it: the in-memory request's connection. */
function sinkSocket(secure: boolean): Socket {
  const socket = new Duplex({
    read() {
      // nothing arrives: the request has no body
    },
    write(_chunk, _encoding, done) {
      done();
    },
  }) as unknown as Socket & { encrypted?: boolean };
  if (secure) socket.encrypted = true;
  return socket;
}

/**
 * Runs `work` inside the application's session middleware, on an in-memory `GET` request (with `cookie`),
 * then ends the response (the change is stored before it ends, as for any request) and returns what `work`
 * returned and the session cookie the response set, if any. `loaded`: the request's session is the one its
 * cookie names, found live in the store (express-session gives any other request a new, unsaved one).
 */
async function inRequest<T>(
  app: INestApplication,
  request: { cookie?: string; userAgent?: string; ip?: string },
  work: (binding: Binding & { req: Request; loaded: boolean }) => Promise<T>,
): Promise<{ result: T; cookie?: string }> {
  const binding = bindingOf(app);
  const { settings, middleware } = binding;
  const express = app.getHttpAdapter().getInstance() as { request: object; response: object };
  const socket = sinkSocket(settings.cookie.secure === true);
  const incoming = new IncomingMessage(socket);
  incoming.method = 'GET';
  incoming.url = settings.cookie.path;
  incoming.headers = {
    host: 'localhost',
    ...(request.cookie === undefined ? {} : { cookie: request.cookie }),
    ...(request.userAgent === undefined ? {} : { 'user-agent': request.userAgent }),
  };
  const outgoing = new ServerResponse(incoming);
  outgoing.assignSocket(socket);
  Object.setPrototypeOf(incoming, express.request);
  Object.setPrototypeOf(outgoing, express.response);
  const req = incoming as Request;
  const res = outgoing as unknown as Response;
  Object.assign(req, { res });
  Object.assign(res, { req });
  Object.defineProperty(req, 'ip', { value: request.ip ?? '127.0.0.1' });

  const finished = new Promise<void>((resolve) => res.once('finish', () => resolve()));
  const outcome = await new Promise<{ ok: true; value: T } | { ok: false; error: unknown }>((resolve) => {
    middleware(req, res, (error?: unknown) => {
      if (error !== undefined) return resolve({ ok: false, error });
      // The cookie's own session was found (a new one has a new id): signature, expiry and schema held.
      const presentedId = presentedCookie(req, settings)?.id;
      const loaded = presentedId !== undefined && req.sessionID === presentedId;
      work({ ...binding, req, loaded }).then(
        (value) => resolve({ ok: true, value }),
        (failure: unknown) => resolve({ ok: false, error: failure }),
      );
    });
  });
  res.end();
  await finished;
  socket.destroy();
  if (!outcome.ok) throw outcome.error;
  return { result: outcome.value, cookie: sessionCookieOf(res, settings.name) };
}

/** The `name=value` pair of the session cookie the response set, if it set one. */
function sessionCookieOf(res: Response, name: string): string | undefined {
  const header = res.getHeader('set-cookie');
  const lines = header === undefined ? [] : Array.isArray(header) ? header : [String(header)];
  const line = lines.find((entry) => entry.startsWith(`${name}=`));
  return line?.split(';')[0];
}
