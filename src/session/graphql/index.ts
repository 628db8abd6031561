// Entry `nestjs-typed-session/graphql`: needs graphql and graphql-ws (through @nestjs/graphql).
export { SESSION_ENDED_CLOSE_CODE } from '../sockets/socket.context.js';
export {
  graphqlWsSessions,
  type GraphqlWsSessionContext,
  type GraphqlWsSessionOptions,
} from './graphql-ws-sessions.factory.js';
