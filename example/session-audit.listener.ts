import { Injectable, Logger } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';
import type { SessionEvent } from 'nestjs-typed-session';

/** Listens to the session lifecycle through @nestjs/event-emitter and keeps an audit trail. */
@Injectable()
export class SessionAuditListener {
  private readonly logger = new Logger('SessionAudit');
  /** The latest events, newest last (bounded). */
  readonly recent: SessionEvent[] = [];

  @OnEvent('session.*')
  record(event: SessionEvent): void {
    this.recent.push(event);
    if (this.recent.length > 100) this.recent.shift();
    this.logger.log(`${event.type} (${event.reason}) user=${String(event.userId ?? '-')} session=${event.handle}`);
  }
}
