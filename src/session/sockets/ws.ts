// Entry `nestjs-typed-session/ws`: needs @nestjs/websockets, @nestjs/platform-ws, ws.
export { SESSION_ENDED_CLOSE_CODE } from './socket.context.js';
export { SessionWsAdapter } from './ws.adapter.js';
export type { SocketErrorPayload } from './ws-exception.presenter.js';
