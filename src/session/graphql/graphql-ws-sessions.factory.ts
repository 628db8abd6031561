import { HttpException } from '@nestjs/common';
import type { Request } from 'express';
import {
  execute as graphqlExecute,
  GraphQLError,
  subscribe as graphqlSubscribe,
  type ExecutionArgs,
  type ExecutionResult,
} from 'graphql';
import type { Context, ServerOptions } from 'graphql-ws';
import type { Extra } from 'graphql-ws/use/ws';
import { SESSION_ENDED_CLOSE_CODE } from '../sockets/socket.context.js';
import { SessionSockets } from '../sockets/session-sockets.service.js';

/** The GraphQL context of an operation over graphql-ws, as `graphqlWsSessions` builds it. */
export interface GraphqlWsSessionContext {
  /** The connection's request, carrying its session, as `req` carries the HTTP request's over HTTP. */
  req: Request;
  /** What the client sent in `connection_init`. */
  connectionParams?: Readonly<Record<string, unknown>>;
  /** The socket and its upgrade request. */
  extra: Extra;
}

// `extra` is typed `unknown`, as `GraphQLModule`'s subscription options type it; it is graphql-ws's `ws` Extra.
type Options = ServerOptions<Record<string, unknown> | undefined, unknown>;

/** The graphql-ws options `graphqlWsSessions` returns. */
export type GraphqlWsSessionOptions = Required<Pick<Options, 'onConnect' | 'onClose' | 'onNext' | 'context'>> & {
  execute: (args: ExecutionArgs) => ReturnType<typeof graphqlExecute>;
  subscribe: (args: ExecutionArgs) => ReturnType<typeof graphqlSubscribe>;
};

/** Apollo's codes for the HTTP statuses Nest's Apollo driver maps (`UNAUTHENTICATED` for 401…). */
const APOLLO_CODES: Readonly<Record<number, string>> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHENTICATED',
  403: 'FORBIDDEN',
  422: 'BAD_USER_INPUT',
};

/**
 * graphql-ws options (`subscriptions: { 'graphql-ws': … }` of `GraphQLModule`) that give GraphQL
 * subscriptions, and queries and mutations sent over the socket, the session of the upgrade request's
 * cookie (with `'header'` in `idSource`, of the token in `connectionParams.token` or the upgrade's headers
 * instead): `AuthGuard`, `@Public()`, `@Session()` and `SessionService` work in their resolvers. A guard's 401
 * reaches the client as an error with `extensions.code: 'UNAUTHENTICATED'`, as over HTTP. A connection
 * from a page of another origin than the application's own and the `trustedOrigins` is refused (graphql-ws
 * closes it with 4403 Forbidden) before its session is loaded. With
 * `sockets: { requireSession: true }` a connection without an authenticated session is refused (graphql-ws
 * closes it with 4403 Forbidden). The socket is closed with 4401 when its session ends. The GraphQL
 * `context` option does not apply to operations over the socket: their context is `GraphqlWsSessionContext`.
 *
 * @example
 * GraphQLModule.forRootAsync<ApolloDriverConfig>({
 *   driver: ApolloDriver,
 *   inject: [SessionSockets],
 *   useFactory: (sockets: SessionSockets) => ({
 *     autoSchemaFile: true,
 *     subscriptions: { 'graphql-ws': graphqlWsSessions(sockets) },
 *   }),
 * })
 */
export function graphqlWsSessions(sockets: SessionSockets): GraphqlWsSessionOptions {
  const extraOf = (ctx: { extra: unknown }) => ctx.extra as Extra;
  const inSession = <T>(args: ExecutionArgs, run: () => T): T => {
    const context = args.contextValue as Partial<GraphqlWsSessionContext> | undefined;
    const socket = context?.extra?.socket;
    return socket && context.req ? sockets.run(socket, run, context.req) : run();
  };
  return {
    onConnect: async (ctx: Context<Record<string, unknown> | undefined, unknown>) => {
      const { request, socket } = extraOf(ctx);
      if (!sockets.allowsOrigin(request)) return false;
      const connection = await sockets.open(request, ctx.connectionParams?.token);
      if (sockets.refuses(connection)) return false;
      sockets.attach(socket, connection, () => socket.close(SESSION_ENDED_CLOSE_CODE, 'Session ended'));
      return true;
    },
    onClose: (ctx) => sockets.detach(extraOf(ctx).socket),
    context: (ctx): GraphqlWsSessionContext => {
      const extra = extraOf(ctx);
      // One request per operation, as over HTTP; without a connection (refused) there is no session.
      const req = Object.create(sockets.connectionOf(extra.socket)?.request ?? extra.request) as Request;
      return { req, connectionParams: ctx.connectionParams, extra };
    },
    execute: (args) => inSession(args, () => graphqlExecute(args)),
    subscribe: (args) => inSession(args, () => graphqlSubscribe(args)),
    onNext: (_ctx, _id, _payload, _args, result) => withErrorCodes(result),
  };
}

/**
 * The result with its errors formatted, HTTP exceptions given Apollo's codes as Nest's Apollo driver does
 * over HTTP (graphql-ws does not go through Apollo's `formatError`); `undefined` when nothing changes.
 */
function withErrorCodes(result: ExecutionResult): ExecutionResult | undefined {
  if (!result.errors?.some((error) => error.originalError instanceof HttpException)) return undefined;
  const errors = result.errors.map((error) => {
    const original = error.originalError;
    if (!(original instanceof HttpException)) return error;
    const status = original.getStatus();
    const code = APOLLO_CODES[status];
    return new GraphQLError(original.message, {
      nodes: error.nodes,
      path: error.path,
      extensions: { ...error.extensions, ...(code ? { code } : { code: 'INTERNAL_SERVER_ERROR', status }) },
    });
  });
  return { ...result, errors };
}
