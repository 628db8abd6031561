import '../../example/session-data.types.js';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { Module, UseInterceptors, type DynamicModule, type INestApplication } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { Args, GraphQLModule, Mutation, Query, Resolver, Subscription } from '@nestjs/graphql';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Test } from '@nestjs/testing';
import {
  AuthGuard,
  LogoutInterceptor,
  PasswordChange,
  Public,
  Session,
  SessionService,
  SessionSockets,
  type SessionValue,
} from 'nestjs-typed-session';
import { graphqlWsSessions } from 'nestjs-typed-session/graphql';

const typeDefs = /* GraphQL */ `
  type Query {
    me: String
    open: String
  }
  type Mutation {
    login(userId: String!): String
    logout: Boolean
    changePassword: Boolean
    visit: Int
  }
  type Subscription {
    ticks: String
    openTicks: String
  }
`;

/** An async iterator that yields `values`, then stays open until the subscription is closed. */
function ticks(field: string, values: string[]): AsyncIterableIterator<Record<string, string>> {
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  let index = 0;
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next() {
      if (index < values.length) return { value: { [field]: values[index++] }, done: false };
      await stopped;
      return { value: undefined, done: true };
    },
    return() {
      stop();
      return Promise.resolve({ value: undefined, done: true });
    },
  };
}

/**
 * Resolvers under the global `AuthGuard`: `me` and `ticks` need a session; `open` and `openTicks` are
 * `@Public()`. Each answer carries what both `@Session()` and `SessionService` saw, to catch a mismatch.
 */
@Resolver()
class SessionResolver {
  constructor(private readonly sessions: SessionService) {}

  @Query('me')
  me(@Session('userId') userId: SessionValue<'userId'>) {
    return `${userId}|${this.sessions.userId()}`;
  }

  @Public()
  @Query('open')
  open() {
    return `open:${this.sessions.userId() ?? 'anonymous'}`;
  }

  @Public()
  @Mutation('login')
  async login(@Args('userId') userId: string) {
    await this.sessions.login({ userId, username: userId, role: 'member' });
    return userId;
  }

  @Mutation('logout')
  @UseInterceptors(LogoutInterceptor)
  logout() {
    return true;
  }

  @Mutation('changePassword')
  @PasswordChange()
  changePassword() {
    return true;
  }

  @Mutation('visit')
  visit() {
    const visits = (this.sessions.get('visits') ?? 0) + 1;
    this.sessions.set('visits', visits);
    return visits;
  }

  @Subscription('ticks')
  ticks(@Session('userId') userId: SessionValue<'userId'>) {
    return ticks('ticks', [`${userId}|${this.sessions.userId()}`]);
  }

  @Public()
  @Subscription('openTicks')
  openTicks() {
    return ticks('openTicks', [`open:${this.sessions.userId() ?? 'anonymous'}`]);
  }
}

/**
 * An Apollo (Express 5) app with `SessionModule` as given, the resolvers above under a global `AuthGuard`,
 * and graphql-ws subscriptions through `graphqlWsSessions`. Listens on a free port (for the WebSocket).
 */
export async function startGraphqlApp(sessionModule: DynamicModule): Promise<INestApplication> {
  @Module({
    imports: [
      sessionModule,
      GraphQLModule.forRootAsync<ApolloDriverConfig>({
        driver: ApolloDriver,
        inject: [SessionSockets],
        useFactory: (sockets: SessionSockets) => ({
          typeDefs,
          graphiql: false,
          subscriptions: { 'graphql-ws': graphqlWsSessions(sockets) },
        }),
      }),
    ],
    providers: [SessionResolver, { provide: APP_GUARD, useClass: AuthGuard }],
  })
  class GraphqlScenarioModule {}

  const moduleRef = await Test.createTestingModule({ imports: [GraphqlScenarioModule] }).compile();
  const app = moduleRef.createNestApplication<NestExpressApplication>({ logger: false });
  await app.listen(0, '127.0.0.1');
  return app;
}
