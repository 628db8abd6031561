// Entry `nestjs-typed-session/socket.io`: needs @nestjs/websockets, @nestjs/platform-socket.io, socket.io.
export { SessionIoAdapter } from './socket-io.adapter.js';
export type { SocketErrorPayload } from './ws-exception.presenter.js';
