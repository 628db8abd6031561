import { Inject, Injectable } from '@nestjs/common';
import type { ResolvedSessionOptions } from '../interfaces/resolved-session-options.interface.js';
import type { LoginOptions } from '../interfaces/session-service-options.interface.js';
import { RESOLVED_SESSION_OPTIONS, SESSION_STORE } from '../session.constants.js';
import { SessionCookieError, SessionDataError, SocketSessionRotationError } from '../session.errors.js';
import type { SessionStore } from '../store/session-store.interface.js';
import { CurrentSession, fromCallback, newCsrfToken } from './current-session.service.js';
import { isSocketContext, sessionContext } from './session.context.js';
import {
  applicationData,
  asRecord,
  assertStorable,
  assertUserId,
  assertWithinSize,
  CSRF_KEY,
  isReservedKey,
  userIdOf,
  valueAtPath,
} from './session-data.util.js';
import { SessionEvents } from './session.events.js';
import { UserSessions } from './user-sessions.service.js';

/**
 * What gives the current session a new id: `regenerate` (with or without its data) and `login`. What
 * `SessionService`'s methods of those names run; the public documentation is theirs.
 */
@Injectable()
export class SessionRotation {
  constructor(
    @Inject(RESOLVED_SESSION_OPTIONS) private readonly settings: ResolvedSessionOptions,
    @Inject(SESSION_STORE) private readonly store: SessionStore,
    private readonly events: SessionEvents,
    private readonly current: CurrentSession,
    private readonly users: UserSessions,
  ) {}

  async regenerate(options: { keep?: readonly string[] | true }): Promise<void> {
    const { req } = this.current.context('regenerate');
    this.assertCanIssueCookie(req);
    const old = this.current.require('regenerate');
    const oldId = old.id;
    const data = applicationData(old);
    const keep = options.keep === true ? Object.keys(data) : (options.keep ?? []);
    for (const key of keep) {
      if (typeof key !== 'string' || isReservedKey(key)) {
        throw new SessionDataError(`regenerate() cannot keep ${JSON.stringify(String(key))}: it is not a data key.`);
      }
    }
    const kept = Object.fromEntries(keep.filter((key) => key in data).map((key) => [key, data[key]]));
    for (const [key, value] of Object.entries(kept)) assertStorable(key, value);
    assertWithinSize(kept, this.settings.maxSessionBytes);
    if (Object.keys(kept).length === 0) {
      await this.current.storeCall(
        'regenerate the session',
        () => fromCallback((done) => old.regenerate(done)),
        'detach',
      );
    } else {
      // Under the user's lock, as per-user deletions are: no deletion can run between the new document's
      // insert and the old one's delete, which a multi-document delete (not a snapshot) could miss.
      const userId = userIdOf(old, this.settings);
      const rotate = () => this.store.rotateKeeping(req, kept, options.keep === true ? true : keep);
      const outcome = await this.current.storeCall(
        'regenerate the session',
        () => (userId === undefined ? rotate() : this.store.withUserLock(userId, rotate)),
        'detach',
      );
      if (outcome === 'ended') this.current.ended();
    }
    this.events.rotated(oldId); // its sockets reconnect with the new cookie
  }

  async login(data: object, options: LoginOptions): Promise<void> {
    const userId = valueAtPath(data, this.settings.userIdField);
    assertUserId(`SessionService.login() (data.${this.settings.userIdField}, the option userIdField)`, userId);
    for (const [key, value] of Object.entries(data)) assertStorable(key, value);
    assertWithinSize(data, this.settings.maxSessionBytes);
    const context = this.current.context('login');
    const { req } = context;
    this.assertCanIssueCookie(req);
    const old = this.current.require('login');
    const oldId = old.id;
    const open = async () => {
      await fromCallback((done) => old.regenerate(done));
      this.current.apply(data); // checked above, before the old session was given up
      const now = new Date();
      this.store.setMeta(req.session, {
        createdAt: now,
        loginAt: now,
        lastSeenAt: now,
        userAgent: req.get('user-agent')?.slice(0, 256),
        ip: req.ip,
        remember: options.remember === true ? true : undefined,
      });
      if (options.remember === true) this.current.fitCookieLifetime(context);
      asRecord(req.session)[CSRF_KEY] = newCsrfToken(); // a new token with every login
      await fromCallback((done) => req.session.save(done));
    };
    await this.current.storeCall(
      'log in',
      async () => {
        if (this.settings.maxSessionsPerUser === undefined) return open();
        return this.store.withUserLock(userId, async () => {
          await this.users.makeRoom(userId, this.settings.maxSessionsPerUser!);
          await open();
        });
      },
      'detach',
    );
    this.events.rotated(oldId);
    this.events.emit('created', this.store.handleOf(req.session), userId, 'login');
  }

  /**
   * Refuses to issue a new session id where its cookie cannot reach the client: over a WebSocket (no HTTP
   * response), or as a Secure cookie on a request that is not HTTPS.
   */
  private assertCanIssueCookie(req: { secure: boolean }): void {
    if (isSocketContext(sessionContext.getStore())) throw new SocketSessionRotationError();
    if (this.settings.cookie.secure === true && !req.secure) throw new SessionCookieError();
  }
}
