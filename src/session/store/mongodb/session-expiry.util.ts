import type { Filter } from 'mongodb';
import type { ResolvedSessionOptions } from '../../interfaces/resolved-session-options.interface.js';

/** The times of a stored session that the expiry rules read. */
export interface SessionTimes {
  expires?: Date;
  createdAt?: Date;
  loginAt?: Date;
  lastSeenAt?: Date;
  /** Logged in with "remember me": the `rememberMe` timeouts apply instead of the default ones. */
  remember?: boolean;
}

/** Why a session is no longer served. */
export type ExpiryReason = 'idle-timeout' | 'absolute-timeout';

/** The two timeouts of one kind of session, in seconds. */
interface Timeouts {
  idleTimeout: number;
  absoluteTimeout?: number;
}

/**
 * The expiry rules, in one place: a session is served while its stored expiry, its idle deadline
 * (`lastSeenAt` + idle timeout) and its absolute deadline (`loginAt`, else `createdAt`, + absolute timeout)
 * are all in the future. Remembered sessions (`login(data, { remember: true })`) have the `rememberMe`
 * timeouts, the others the default ones. The timeouts in force decide, also for documents written under
 * longer ones, so lowering a timeout takes effect at once for reads, listings, the session limit and cleanup.
 */
export class SessionExpiry {
  private readonly standard: Timeouts;
  private readonly remembered: Timeouts;

  constructor(settings: Pick<ResolvedSessionOptions, 'idleTimeout' | 'absoluteTimeout' | 'rememberMe'>) {
    this.standard = { idleTimeout: settings.idleTimeout, absoluteTimeout: settings.absoluteTimeout };
    this.remembered = settings.rememberMe;
  }

  /** The expiry to store for a session written now: idle timeout from now, capped by the absolute timeout. */
  next(times: SessionTimes, now: number): Date {
    return new Date(Math.min(now + this.timeoutsOf(times).idleTimeout * 1000, this.absoluteDeadline(times)));
  }

  /** When the absolute timeout ends this session (`Infinity` without one). */
  absoluteDeadline(times: SessionTimes): number {
    const { absoluteTimeout } = this.timeoutsOf(times);
    if (absoluteTimeout === undefined) return Number.POSITIVE_INFINITY;
    const start = times.loginAt ?? times.createdAt;
    return start instanceof Date ? start.getTime() + absoluteTimeout * 1000 : Number.POSITIVE_INFINITY;
  }

  /** Why a stored session is no longer served at `now`, or `undefined` while it is live. */
  expiredBecause(times: SessionTimes, now: number): ExpiryReason | undefined {
    if (this.absoluteDeadline(times) <= now) return 'absolute-timeout';
    const idle = this.timeoutsOf(times).idleTimeout * 1000;
    const idleDeadline = times.lastSeenAt instanceof Date ? times.lastSeenAt.getTime() + idle : Infinity;
    if (!(times.expires instanceof Date) || times.expires.getTime() <= now || idleDeadline <= now) {
      return 'idle-timeout';
    }
    return undefined;
  }

  /** A query filter matching the sessions live at `now` (the same rules as `expiredBecause`). */
  liveFilter(now: number): Filter<SessionTimes> {
    return {
      $and: [
        { expires: { $gt: new Date(now) } },
        { $or: [this.liveOfKind(false, this.standard, now), this.liveOfKind(true, this.remembered, now)] },
      ],
    };
  }

  /** A query filter matching the sessions no longer served at `now`: the complement of `liveFilter`. */
  expiredFilter(now: number): Filter<SessionTimes> {
    return {
      $or: [
        { expires: { $lte: new Date(now) } },
        { expires: { $exists: false } },
        ...this.expiredOfKind(false, this.standard, now),
        ...this.expiredOfKind(true, this.remembered, now),
      ],
    };
  }

  private timeoutsOf(times: SessionTimes): Timeouts {
    return times.remember === true ? this.remembered : this.standard;
  }

  private liveOfKind(remember: boolean, timeouts: Timeouts, now: number): Filter<SessionTimes> {
    const conditions: Filter<SessionTimes>[] = [
      kind(remember),
      { $or: [{ lastSeenAt: { $gt: idleStart(timeouts, now) } }, { lastSeenAt: { $exists: false } }] },
    ];
    const start = absoluteStart(timeouts, now);
    if (start) {
      conditions.push({
        $or: [
          { loginAt: { $gt: start } },
          { loginAt: { $exists: false }, createdAt: { $gt: start } },
          { loginAt: { $exists: false }, createdAt: { $exists: false } },
        ],
      });
    }
    return { $and: conditions };
  }

  private expiredOfKind(remember: boolean, timeouts: Timeouts, now: number): Filter<SessionTimes>[] {
    const conditions: Filter<SessionTimes>[] = [{ ...kind(remember), lastSeenAt: { $lte: idleStart(timeouts, now) } }];
    const start = absoluteStart(timeouts, now);
    if (start) {
      conditions.push(
        { ...kind(remember), loginAt: { $lte: start } },
        { ...kind(remember), loginAt: { $exists: false }, createdAt: { $lte: start } },
      );
    }
    return conditions;
  }
}

/** Remembered sessions, or the others (documents without the flag included). */
function kind(remember: boolean): Filter<SessionTimes> {
  return remember ? { remember: true } : { remember: { $ne: true } };
}

/** Sessions last seen before this instant have passed the idle timeout. */
function idleStart(timeouts: Timeouts, now: number): Date {
  return new Date(now - timeouts.idleTimeout * 1000);
}

/** Sessions logged in (or created) before this instant have passed the absolute timeout. */
function absoluteStart(timeouts: Timeouts, now: number): Date | undefined {
  return timeouts.absoluteTimeout === undefined ? undefined : new Date(now - timeouts.absoluteTimeout * 1000);
}
