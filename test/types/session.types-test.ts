// Compile-time tests, checked by `tsc -p test/types` in `npm test`: every `@ts-expect-error` line must be an
// error, every other line must compile. The session shape is declared once, as an application would.
import { Controller, Get } from '@nestjs/common';
import {
  RequireRecentAuth,
  Session,
  SessionModule,
  SessionService,
  type IdSource,
  type SessionEvent,
  type SessionInfo,
  type SessionValue,
  type UserSession,
} from '../../src/session/index.js';

declare module 'express-session' {
  interface SessionData {
    userId: string;
    role: 'admin' | 'member';
    cart?: string[];
  }
}

declare const sessions: SessionService;

// get: typed by key
const role: 'admin' | 'member' | undefined = sessions.get('role');
const cart: string[] | undefined = sessions.get('cart');
// @ts-expect-error unknown key
sessions.get('rol');
// @ts-expect-error the value may be undefined
const mustBeThere: 'admin' | 'member' = sessions.get('role');
// @ts-expect-error wrong value type
const roleAsNumber: number | undefined = sessions.get('role');

// set / unset / patch
sessions.set('role', 'admin');
sessions.set('cart', ['sku-1']);
// @ts-expect-error value outside the declared union
sessions.set('role', 'root');
// @ts-expect-error wrong value type
sessions.set('userId', 42);
// @ts-expect-error unknown key
sessions.set('isAdmin', true);
// @ts-expect-error express-session's own field is not application data
sessions.set('cookie', {});
sessions.unset('cart');
// @ts-expect-error unknown key
sessions.unset('nope');
sessions.patch({ role: 'member', cart: [] });
// @ts-expect-error wrong value type in a patch
sessions.patch({ cart: 'sku-1' });
// @ts-expect-error unknown key in a patch
sessions.patch({ admin: true });

// login needs every required field
void sessions.login({ userId: 'u1', role: 'member' });
// @ts-expect-error role is required by the declared shape
void sessions.login({ userId: 'u1' });
// @ts-expect-error wrong user id type
void sessions.login({ userId: 1, role: 'member' });
// "remember me" is a per-login option
void sessions.login({ userId: 'u1', role: 'member' }, { remember: true });
// @ts-expect-error remember is a boolean
void sessions.login({ userId: 'u1', role: 'member' }, { remember: 'yes' });
const csrf: string = sessions.csrfToken();
// behind AuthGuard: the user id typed as present
const present: string = sessions.requireUserId();
// @ts-expect-error userId() may be undefined
const maybe: string = sessions.userId();
void [present, maybe];
void csrf;

// regenerate keeps declared keys only
void sessions.regenerate({ keep: ['cart'] });
void sessions.regenerate({ keep: true });
// @ts-expect-error unknown key to keep
void sessions.regenerate({ keep: ['basket'] });

// per-user operations take the declared user id type
const listed: Promise<SessionInfo[]> = sessions.listForUser('u1');
void sessions.destroyAllForUser('u1', { exceptCurrent: true });
// @ts-expect-error the declared user id is a string
void sessions.listForUser(1);
const userId: string | undefined = sessions.userId();

// the live session and the decorator
declare const live: UserSession;
const liveRole: 'admin' | 'member' | undefined = live.role;
// @ts-expect-error wrong type on the live session
const liveCart: number | undefined = live.cart;
const value: SessionValue<'cart'> = undefined;
// @ts-expect-error SessionValue of an unknown key
type Missing = SessionValue<'missing'>;

@Controller()
export class TypedController {
  @Get('a')
  a(@Session('role') r: SessionValue<'role'>, @Session() s: UserSession) {
    return [r, s.userId];
  }

  @Get('b')
  // @ts-expect-error @Session() takes only declared keys
  b(@Session('rol') r: unknown) {
    return r;
  }
}

// options: userIdField is a declared key, secret is required
SessionModule.forRoot({ secret: 's', uri: 'mongodb://localhost', userIdField: 'userId' });
// @ts-expect-error userIdField must be a declared key
SessionModule.forRoot({ secret: 's', uri: 'mongodb://localhost', userIdField: 'accountId' });
// @ts-expect-error secret is required
SessionModule.forRoot({ uri: 'mongodb://localhost' });
SessionModule.forRoot({
  secret: ['new', 'old'],
  uri: 'mongodb://localhost',
  isAuthenticated: (session) => session.role === 'admin',
});
SessionModule.forRoot({
  secret: 's',
  uri: 'mongodb://localhost',
  // @ts-expect-error the predicate sees the declared shape
  isAuthenticated: (session) => session.rol === 'admin',
});
// account security options are typed
SessionModule.forRoot({
  secret: 's',
  uri: 'mongodb://localhost',
  idleTimeout: 1800,
  absoluteTimeout: 43_200,
  maxSessionsPerUser: 3,
  onSessionLimit: 'refuse',
  cookie: { hostPrefix: true },
  onEvent: (event: SessionEvent) => {
    const kind: 'created' | 'destroyed' | 'revoked' | 'expired' | 'invalid' | 'rejected' = event.type;
    const who: string | undefined = event.userId;
    return [kind, who];
  },
});
SessionModule.forRoot({
  secret: 's',
  uri: 'mongodb://localhost',
  cookie: { persistent: true },
  rememberMe: { idleTimeout: 86_400 },
});
// @ts-expect-error persistent is a boolean
SessionModule.forRoot({ secret: 's', uri: 'mongodb://localhost', cookie: { persistent: 'yes' } });
// @ts-expect-error the CSRF header name is a string
SessionModule.forRoot({ secret: 's', uri: 'mongodb://localhost', csrf: { headerName: 1 } });
// @ts-expect-error unknown session-limit policy
SessionModule.forRoot({ secret: 's', uri: 'mongodb://localhost', onSessionLimit: 'kick' });
void sessions.revoke('u1', 'handle');
// @ts-expect-error revoke takes the declared user id type
void sessions.revoke(1, 'handle');

// @ts-expect-error unknown cleanup mode
SessionModule.forRoot({ secret: 's', uri: 'mongodb://localhost', autoRemove: 'ttl' });

// a generic service for a shape other than the declared one
declare const custom: SessionService<{ tenant: string; userId: number }>;
const tenant: string | undefined = custom.get('tenant');
void custom.listForUser(7);
// @ts-expect-error not in the custom shape
custom.get('role');

export { role, cart, mustBeThere, roleAsNumber, listed, userId, liveRole, liveCart, value, tenant };
export type { Missing };

// @RequireRecentAuth takes a number of seconds, or nothing.
RequireRecentAuth();
RequireRecentAuth(300);
// @ts-expect-error a string is not a maximum age
RequireRecentAuth('300');

// idSource: one source or a list of them; nothing else.
SessionModule.forRoot({ secret: 's', uri: 'mongodb://localhost', idSource: 'header', tokenHeader: 'X-Auth-Token' });
SessionModule.forRoot({ secret: 's', uri: 'mongodb://localhost', idSource: ['cookie', 'header'] });
// @ts-expect-error not a source
SessionModule.forRoot({ secret: 's', uri: 'mongodb://localhost', idSource: 'query' });
// @ts-expect-error not a source in the list
SessionModule.forRoot({ secret: 's', uri: 'mongodb://localhost', idSource: ['cookie', 'bearer'] });
const sources: IdSource[] = ['header'];
SessionModule.forRoot({ secret: 's', uri: 'mongodb://localhost', idSource: sources });
