import type { Filter } from 'mongodb';
import type { ResolvedSessionOptions } from './session.options.js';

/** The times of a stored session that the expiry rules read. */
export interface SessionTimes {
  expires?: Date;
  createdAt?: Date;
  loginAt?: Date;
  lastSeenAt?: Date;
}

/** Why a session is no longer served. */
export type ExpiryReason = 'idle-timeout' | 'absolute-timeout';

/**
 * The expiry rules, in one place: a session is served while its stored expiry, its idle deadline
 * (`lastSeenAt` + `idleTimeout`) and its absolute deadline (`loginAt`, else `createdAt`, + `absoluteTimeout`)
 * are all in the future. The timeouts in force decide, also for documents written under longer ones, so
 * lowering a timeout takes effect at once for reads, listings, the session limit and cleanup alike.
 */
export class SessionExpiry {
  constructor(private readonly settings: Pick<ResolvedSessionOptions, 'idleTimeout' | 'absoluteTimeout'>) {}

  /** The expiry to store for a session written now: idle timeout from now, capped by the absolute timeout. */
  next(times: SessionTimes, now: number): Date {
    return new Date(Math.min(now + this.settings.idleTimeout * 1000, this.absoluteDeadline(times)));
  }

  /** When the absolute timeout ends this session (`Infinity` without one). */
  absoluteDeadline(times: SessionTimes): number {
    if (this.settings.absoluteTimeout === undefined) return Number.POSITIVE_INFINITY;
    const start = times.loginAt ?? times.createdAt;
    return start instanceof Date ? start.getTime() + this.settings.absoluteTimeout * 1000 : Number.POSITIVE_INFINITY;
  }

  /** Why a stored session is no longer served at `now`, or `undefined` while it is live. */
  expiredBecause(times: SessionTimes, now: number): ExpiryReason | undefined {
    if (this.absoluteDeadline(times) <= now) return 'absolute-timeout';
    const idleDeadline =
      times.lastSeenAt instanceof Date ? times.lastSeenAt.getTime() + this.settings.idleTimeout * 1000 : Infinity;
    if (!(times.expires instanceof Date) || times.expires.getTime() <= now || idleDeadline <= now) {
      return 'idle-timeout';
    }
    return undefined;
  }

  /** A query filter matching the sessions live at `now` (the same rules as `expiredBecause`). */
  liveFilter(now: number): Filter<SessionTimes> {
    const conditions: Filter<SessionTimes>[] = [
      { expires: { $gt: new Date(now) } },
      {
        $or: [
          { lastSeenAt: { $gt: new Date(now - this.settings.idleTimeout * 1000) } },
          { lastSeenAt: { $exists: false } },
        ],
      },
    ];
    const absoluteStart = this.absoluteStart(now);
    if (absoluteStart) {
      conditions.push({
        $or: [
          { loginAt: { $gt: absoluteStart } },
          { loginAt: { $exists: false }, createdAt: { $gt: absoluteStart } },
          { loginAt: { $exists: false }, createdAt: { $exists: false } },
        ],
      });
    }
    return { $and: conditions };
  }

  /** A query filter matching the sessions no longer served at `now`: the complement of `liveFilter`. */
  expiredFilter(now: number): Filter<SessionTimes> {
    const conditions: Filter<SessionTimes>[] = [
      { expires: { $lte: new Date(now) } },
      { expires: { $exists: false } },
      { lastSeenAt: { $lte: new Date(now - this.settings.idleTimeout * 1000) } },
    ];
    const absoluteStart = this.absoluteStart(now);
    if (absoluteStart) {
      conditions.push({ loginAt: { $lte: absoluteStart } }, { loginAt: { $exists: false }, createdAt: { $lte: absoluteStart } });
    }
    return { $or: conditions };
  }

  /** Sessions logged in (or created) before this instant have passed the absolute timeout. */
  private absoluteStart(now: number): Date | undefined {
    return this.settings.absoluteTimeout === undefined ? undefined : new Date(now - this.settings.absoluteTimeout * 1000);
  }
}
