import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { isUserId } from './session-data.util.js';
import { RESOLVED_SESSION_OPTIONS } from '../session.constants.js';
import type { SessionUserId } from '../interfaces/session-data.interface.js';
import { sessionLogger } from './session.logger.js';

/** What happened to a session. */
export type SessionEventType = 'created' | 'destroyed' | 'revoked' | 'expired' | 'invalid' | 'rejected';

/**
 * Why: `login` (created); `logout` (destroyed); `password-change`, `revoke`, `revoke-all`, `session-limit`
 * (revoked); `idle-timeout`, `absolute-timeout` (expired); the validation failure (invalid); `bad-signature`,
 * `unknown-id` (rejected: a session cookie that was refused).
 */
export type SessionEventReason =
  | 'login'
  | 'logout'
  | 'password-change'
  | 'revoke'
  | 'revoke-all'
  | 'session-limit'
  | 'idle-timeout'
  | 'absolute-timeout'
  | 'bad-signature'
  | 'unknown-id'
  | (string & {});

/** A session lifecycle event. It never carries the session id: `handle` identifies the session. */
export interface SessionEvent {
  type: SessionEventType;
  /**
   * The session's public handle, as `listForUser` shows it (stable across its rotations). On a `rejected`
   * event, the handle derived from the id the cookie named when its signature was valid (`unknown-id`: no
   * stored session to tell its own), else `''`.
   */
  handle: string;
  /** The user of the session, when it had one. */
  userId?: SessionUserId;
  reason: SessionEventReason;
  at: Date;
  /** The client address (`req.ip`), on `rejected` events. */
  ip?: string;
}

/** Event names used on `@nestjs/event-emitter`: `session.created`, `session.revoked`, … */
export const SESSION_EVENT_PREFIX = 'session.';

interface Emitter {
  emit(event: string, payload: unknown): unknown;
}

/** Delivers lifecycle events to the `onEvent` option and, when the application has it, to `@nestjs/event-emitter`. */
@Injectable()
export class SessionEvents implements OnApplicationBootstrap {
  private readonly logger = sessionLogger;
  private emitter?: Emitter;
  /** Listeners inside the library (the socket registry), called before the application's. */
  private readonly listeners = new Set<(event: SessionEvent) => void>();
  private readonly rotationListeners = new Set<(oldId: string) => void>();

  constructor(
    @Inject(RESOLVED_SESSION_OPTIONS) private readonly settings: { onEvent?: (event: SessionEvent) => void },
    private readonly moduleRef: ModuleRef,
  ) {}

  /** Finds `EventEmitter2` when the application registered `EventEmitterModule`; it is optional. */
  async onApplicationBootstrap(): Promise<void> {
    try {
      const { EventEmitter2 } = await import('@nestjs/event-emitter');
      this.emitter = this.moduleRef.get<Emitter>(EventEmitter2, { strict: false });
    } catch {
      this.emitter = undefined; // not installed, or EventEmitterModule not imported
    }
  }

  /** Calls `listener` with every event from now on; returns the function that stops it. */
  listen(listener: (event: SessionEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Calls `listener` with the old id of every session given a new id, inside the library only (the socket
   * registry closes the sockets bound to it); returns the function that stops it. Never an application
   * event: those carry no session id.
   */
  onRotation(listener: (oldId: string) => void): () => void {
    this.rotationListeners.add(listener);
    return () => this.rotationListeners.delete(listener);
  }

  /** Tells the library's rotation listeners that the session `oldId` now has a new id. */
  rotated(oldId: string): void {
    for (const listener of this.rotationListeners) listener(oldId);
  }

  emit(type: SessionEventType, handle: string, userId: unknown, reason: SessionEventReason, ip?: string): void {
    const event: SessionEvent = { type, handle, reason, at: new Date() };
    if (isUserId(userId)) event.userId = userId as SessionUserId; // never an object that came as a user id
    if (ip !== undefined) event.ip = ip;
    try {
      for (const listener of this.listeners) listener(event);
      this.settings.onEvent?.(event);
      this.emitter?.emit(`${SESSION_EVENT_PREFIX}${type}`, event);
    } catch (error) {
      this.logger.error(
        `A session event listener failed on ${type}: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }
}
