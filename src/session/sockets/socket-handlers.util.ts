import type { MessageMappingProperties } from '@nestjs/websockets';
import type { SessionSockets } from './session-sockets.service.js';

/** A gateway's message handlers, each run in the session context of the socket `client`. */
export function withSession(
  sockets: SessionSockets,
  client: object,
  handlers: MessageMappingProperties[],
): MessageMappingProperties[] {
  return handlers.map((handler) => ({
    ...handler,
    callback: (...args: unknown[]) => sockets.run(client, () => handler.callback(...args)),
  }));
}
