import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { createClient, type Client } from 'graphql-ws';
import { SessionModule, SessionSockets } from 'nestjs-typed-session';
import request from 'supertest';
import { startGraphqlApp } from './scenarios/graphql.scenario.js';
import { scenarioOptions } from './scenarios/routes.scenario.js';
import { cookieFrom, sessionIdOf, setCookieFor, tamper } from './support/cookies.js';
import { TestDatabase } from './support/database.js';
import { waitFor, webSocketWithCookie, wsUrl } from './support/sockets.js';
import { storageKey } from '../src/session/core/session-id.util.js';

// GraphQL (Apollo on Express 5) under the same guard and session as REST: queries and mutations over HTTP,
// subscriptions over graphql-ws, against the real database.

interface GraphqlError {
  message: string;
  extensions?: { code?: string };
}
interface GraphqlAnswer {
  data?: Record<string, unknown> | null;
  errors?: GraphqlError[];
}

const db = new TestDatabase();
let app: INestApplication;
let strict: INestApplication;
let trusting: INestApplication;
let base: string;

beforeAll(async () => {
  app = await startGraphqlApp(SessionModule.forRoot(scenarioOptions(db, { sockets: { checkInterval: 0.5 } })));
  strict = await startGraphqlApp(SessionModule.forRoot(scenarioOptions(db, { sockets: { requireSession: true } })));
  trusting = await startGraphqlApp(
    SessionModule.forRoot(scenarioOptions(db, { trustedOrigins: ['https://app.example.com'] })),
  );
  base = await app.getUrl();
});

afterAll(async () => {
  await app?.close();
  await strict?.close();
  await trusting?.close();
  await db.close();
});

function graphql(query: string, cookie?: string, target = app) {
  const call = request(target.getHttpServer()).post('/graphql').send({ query });
  return cookie ? call.set('Cookie', cookie) : call;
}

async function login(userId: string, target = app): Promise<string> {
  const response = await graphql(`mutation { login(userId: "${userId}") }`, undefined, target);
  expect(response.body).toEqual({ data: { login: userId } });
  return cookieFrom(response);
}

function codeOf(answer: GraphqlAnswer): string | undefined {
  return answer.errors?.[0]?.extensions?.code;
}

/** A graphql-ws client sending `cookie` (and `headers`) with its upgrade; `closed` resolves with the close code. */
function socketClient(cookie: string | undefined, target = base, headers: Record<string, string> = {}) {
  let onClosed!: (code: number) => void;
  const closed = new Promise<number>((resolve) => (onClosed = resolve));
  const client: Client = createClient({
    url: wsUrl(target, '/graphql'),
    webSocketImpl: webSocketWithCookie(cookie, headers),
    retryAttempts: 0,
    lazy: true,
    on: { closed: (event) => onClosed((event as { code: number }).code) },
  });
  return { client, closed };
}

/** The first result of a subscription (data or errors), or the error that ended it. */
function firstResult(client: Client, query: string): Promise<GraphqlAnswer> {
  return waitFor<GraphqlAnswer>(`the first result of ${query}`, (resolve) => {
    client.subscribe(
      { query },
      {
        next: (value) => resolve(value as GraphqlAnswer),
        error: (error) => resolve({ errors: [{ message: String((error as { code?: number }).code ?? error) }] }),
        complete: () => undefined,
      },
    );
  });
}

describe('GraphQL over HTTP', () => {
  it('no session: a guarded query is an UNAUTHENTICATED error with no data; @Public() answers', async () => {
    const denied = await graphql('{ me }');
    expect(denied.body.data).toEqual({ me: null });
    expect(codeOf(denied.body)).toBe('UNAUTHENTICATED');
    expect(denied.body.errors[0].message).toBe('Authentication required');
    expect(setCookieFor(denied)).toBeUndefined();

    const open = await graphql('{ open }');
    expect(open.body).toEqual({ data: { open: 'open:anonymous' } });
  });

  it('valid session: @Session() and SessionService see the user in queries; @Public() sees it too', async () => {
    const cookie = await login('gql-valid');
    expect(await db.sessions().countDocuments({ _id: storageKey(sessionIdOf(cookie)) })).toBe(1);
    expect((await graphql('{ me }', cookie)).body).toEqual({ data: { me: 'gql-valid|gql-valid' } });
    expect((await graphql('{ open }', cookie)).body).toEqual({ data: { open: 'open:gql-valid' } });
  });

  it('a mutation writes the session like a REST handler does', async () => {
    const cookie = await login('gql-visit');
    expect((await graphql('mutation { visit }', cookie)).body).toEqual({ data: { visit: 1 } });
    expect((await graphql('mutation { visit }', cookie)).body).toEqual({ data: { visit: 2 } });
    const stored = await db.sessions().findOne({ _id: storageKey(sessionIdOf(cookie)) });
    expect(stored?.session.visits).toBe(2);
  });

  it('ended session: LogoutInterceptor on a mutation deletes it and clears the cookie; the cookie fails', async () => {
    const cookie = await login('gql-logout');
    const logout = await graphql('mutation { logout }', cookie);
    expect(logout.body).toEqual({ data: { logout: true } });
    expect(setCookieFor(logout)).toMatch(/^sid=;.*Expires=Thu, 01 Jan 1970/);
    expect(logout.headers['cache-control']).toBe('no-store');
    expect(await db.sessions().countDocuments({ _id: storageKey(sessionIdOf(cookie)) })).toBe(0);

    const after = await graphql('{ me }', cookie);
    expect(codeOf(after.body)).toBe('UNAUTHENTICATED');
  });

  it('a failing guard on the logout mutation ends nothing: no session, no logout', async () => {
    const response = await graphql('mutation { logout }');
    expect(codeOf(response.body)).toBe('UNAUTHENTICATED');
    expect(setCookieFor(response)).toBeUndefined();
  });

  it('@PasswordChange() on a mutation rotates this session in the HTTP answer and ends the other ones', async () => {
    const here = await login('gql-password');
    const elsewhere = await login('gql-password');
    const change = await graphql('mutation { changePassword }', here);
    expect(change.body).toEqual({ data: { changePassword: true } });
    const rotated = cookieFrom(change);
    expect(sessionIdOf(rotated)).not.toBe(sessionIdOf(here));

    expect((await graphql('{ me }', rotated)).body).toEqual({ data: { me: 'gql-password|gql-password' } });
    expect(codeOf((await graphql('{ me }', here)).body)).toBe('UNAUTHENTICATED');
    expect(codeOf((await graphql('{ me }', elsewhere)).body)).toBe('UNAUTHENTICATED');
    expect(await db.byUser('gql-password')).toHaveLength(1);
  });

  it('a forged cookie is no session', async () => {
    const cookie = await login('gql-forged');
    expect(codeOf((await graphql('{ me }', tamper(cookie))).body)).toBe('UNAUTHENTICATED');
  });
});

describe('GraphQL subscriptions over graphql-ws', () => {
  it('no session: a guarded subscription is an UNAUTHENTICATED error; a @Public() one streams', async () => {
    const { client } = socketClient(undefined);
    try {
      const denied = await firstResult(client, 'subscription { ticks }');
      expect(codeOf(denied)).toBe('UNAUTHENTICATED');
      expect(denied.errors?.[0]?.message).toBe('Authentication required');
      expect(await firstResult(client, 'subscription { openTicks }')).toEqual({
        data: { openTicks: 'open:anonymous' },
      });
    } finally {
      await client.dispose();
    }
  });

  it('valid session: the upgrade cookie authenticates; @Session() and SessionService see the user', async () => {
    const cookie = await login('gql-ws-valid');
    const { client } = socketClient(cookie);
    try {
      expect(await firstResult(client, 'subscription { ticks }')).toEqual({
        data: { ticks: 'gql-ws-valid|gql-ws-valid' },
      });
      expect(await firstResult(client, 'subscription { openTicks }')).toEqual({
        data: { openTicks: 'open:gql-ws-valid' },
      });
      // A query sent over the socket is judged by the same session.
      expect(await firstResult(client, '{ me }')).toEqual({ data: { me: 'gql-ws-valid|gql-ws-valid' } });
    } finally {
      await client.dispose();
    }
  });

  it('ended session: a cookie of a logged-out session authenticates nothing', async () => {
    const cookie = await login('gql-ws-ended');
    await graphql('mutation { logout }', cookie);
    const { client } = socketClient(cookie);
    try {
      expect(codeOf(await firstResult(client, 'subscription { ticks }'))).toBe('UNAUTHENTICATED');
    } finally {
      await client.dispose();
    }
  });

  it('the socket of a session is closed (4401) when the session is logged out over HTTP', async () => {
    const cookie = await login('gql-ws-logout');
    const { client, closed } = socketClient(cookie);
    try {
      expect(await firstResult(client, 'subscription { ticks }')).toEqual({
        data: { ticks: 'gql-ws-logout|gql-ws-logout' },
      });
      await graphql('mutation { logout }', cookie).expect(200);
      expect(await waitFor('the socket to close', (resolve) => void closed.then(resolve), 2_000)).toBe(4401);
    } finally {
      await client.dispose();
    }
  });

  it('sockets.requireSession: a connection without a session is refused (4403), one with one served', async () => {
    const strictBase = await strict.getUrl();
    const anonymous = socketClient(undefined, strictBase);
    const refused = await firstResult(anonymous.client, 'subscription { openTicks }');
    expect(refused.errors?.[0]?.message).toBe('4403');
    await anonymous.client.dispose();

    const cookie = await login('gql-ws-strict', strict);
    const { client } = socketClient(cookie, strictBase);
    try {
      expect(await firstResult(client, 'subscription { ticks }')).toEqual({
        data: { ticks: 'gql-ws-strict|gql-ws-strict' },
      });
    } finally {
      await client.dispose();
    }
  });

  it("a connection from a page of another origin is refused (4403) with the user's cookie; no session attached", async () => {
    const cookie = await login('gql-ws-hijacked');
    const liveBefore = app.get(SessionSockets).liveCount;
    const port = new URL(base).port;
    for (const origin of [`http://127.0.0.1:${Number(port) + 1}`, `http://localhost:${port}`, 'null']) {
      const hijacked = socketClient(cookie, base, { origin });
      try {
        expect((await firstResult(hijacked.client, '{ me }')).errors?.[0]?.message).toBe('4403');
        expect(await hijacked.closed).toBe(4403);
      } finally {
        await hijacked.client.dispose();
      }
    }
    expect(app.get(SessionSockets).liveCount).toBe(liveBefore);
  });

  it("the app's own origin and a trusted origin are served with the session", async () => {
    const own = socketClient(await login('gql-ws-own'), base, { origin: new URL(base).origin });
    const trustedBase = await trusting.getUrl();
    const trusted = socketClient(await login('gql-ws-trusted', trusting), trustedBase, {
      origin: 'https://app.example.com',
    });
    const other = socketClient(await login('gql-ws-other', trusting), trustedBase, {
      origin: 'https://other.example.com',
    });
    try {
      expect(await firstResult(own.client, '{ me }')).toEqual({ data: { me: 'gql-ws-own|gql-ws-own' } });
      expect(await firstResult(trusted.client, '{ me }')).toEqual({ data: { me: 'gql-ws-trusted|gql-ws-trusted' } });
      expect((await firstResult(other.client, '{ me }')).errors?.[0]?.message).toBe('4403');
    } finally {
      for (const each of [own, trusted, other]) await each.client.dispose();
    }
  });
});
