import { SessionMiddlewareOrderError } from '../session.errors.js';

/** How Passport is applied after the session middleware, as the refusals show it. */
const PASSPORT_IN_CONFIGURE =
  "apply it in a module's configure() instead, whose middleware Nest mounts after SessionModule's: " +
  "consumer.apply(passport.initialize(), passport.session()).forRoutes('{*path}')";

/** A middleware that cannot run before the session middleware, recognised by its name and its own code. */
interface Misplaced {
  /** What it is, as users write it. */
  middleware: string;
  /** What goes wrong, and what to do instead. */
  explanation: string;
  recognise(name: string, source: string): boolean;
}

const MISPLACED: Misplaced[] = [
  {
    // passport.session() is passport.authenticate('session'): the same function, told apart by its code.
    middleware: 'passport.session() or passport.authenticate()',
    explanation:
      'it needs req.session (to read the login, and to write one), which the session middleware sets: every ' +
      `request would fail with Passport's "Login sessions require session support". Remove it from main.ts and ` +
      PASSPORT_IN_CONFIGURE,
    recognise: (name, source) => name === 'authenticate' && source.includes('Unknown authentication strategy'),
  },
  {
    // Passport before 0.5 reads the session in initialize(): without one, every user would look logged out.
    middleware: 'passport.initialize() (of a Passport older than 0.5, which reads req.session)',
    explanation:
      'it would find no session yet, and every logged-in user would look logged out. Remove it from main.ts ' +
      `and ${PASSPORT_IN_CONFIGURE}`,
    recognise: (name, source) =>
      name === 'initialize' && source.includes('_passport') && source.includes('req.session'),
  },
  {
    middleware: 'express-session',
    explanation:
      'SessionModule mounts express-session itself, with its MongoDB store: the one in main.ts would run first ' +
      "and give every request its own session, which the library's would then leave in place. Remove " +
      'app.use(session(...)) from main.ts and give its settings to SessionModule.forRoot() (secret, name, cookie, ' +
      'the timeouts).',
    recognise: (name, source) => name === 'session' && source.includes('req.sessionStore'),
  },
];

/**
 * Refuses to mount the session middleware after a middleware that needs a session or provides its own: what
 * main.ts mounted with `app.use()` is already on the Express app's router (Express 5 `app.router`, Express 4
 * `app._router`), nested routers and routes included. Called while the module mounts its middleware, during
 * `app.init()`, so that the application never serves a request with them in the wrong order.
 *
 * @throws SessionMiddlewareOrderError naming the middleware and where it must go.
 */
export function assertNoSessionUserMountedBefore(app: unknown): void {
  const routers = app as { router?: unknown; _router?: unknown } | undefined;
  const stack = stackOf(routers?.router) ?? stackOf(routers?._router);
  if (stack === undefined) return; // not an Express app: nothing mounted on it can be inspected
  for (const handle of handlesIn(stack, new Set())) {
    const source = Function.prototype.toString.call(handle);
    const found = MISPLACED.find((entry) => entry.recognise(handle.name, source));
    if (found) {
      throw new SessionMiddlewareOrderError(
        found.middleware,
        `${found.middleware} is mounted with app.use() before SessionModule's session middleware, which Nest ` +
          `mounts later, during app.init(): ${found.explanation}.`,
      );
    }
  }
}

/** The layers of an Express router, or `undefined` when `router` is none. */
function stackOf(router: unknown): unknown[] | undefined {
  const stack = (router as { stack?: unknown } | undefined)?.stack;
  return Array.isArray(stack) ? stack : undefined;
}

/** Every function a router's layers run, those of nested routers and routes included. */
function* handlesIn(stack: unknown[], seen: Set<unknown>): Generator<(...args: unknown[]) => unknown> {
  for (const layer of stack as { handle?: unknown; route?: unknown }[]) {
    const handle = layer?.handle;
    if (typeof handle !== 'function' || seen.has(handle)) continue;
    seen.add(handle);
    yield handle as (...args: unknown[]) => unknown;
    const nested = stackOf(handle) ?? stackOf(layer.route);
    if (nested) yield* handlesIn(nested, seen);
  }
}
