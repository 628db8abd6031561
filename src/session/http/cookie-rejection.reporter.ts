import type { SessionEvents } from '../core/session.events.js';
import { sessionLogger } from '../core/session.logger.js';

/** Why a session cookie was refused. */
export type RejectionReason = 'bad-signature' | 'unknown-id';

/** How long one reporting window lasts, and how many `rejected` events it emits at most. */
const WINDOW_MS = 60_000;
const EVENTS_PER_WINDOW = 100;

/**
 * Reports session cookies that were refused (forged, tampered, or naming no stored session): a `rejected`
 * event each, at most 100 a minute, and one warning a minute with the counts, so that guessing shows in the
 * logs without flooding them. Neither carries a session id.
 */
export class SessionRejections {
  private readonly logger = sessionLogger;
  private windowStart = 0;
  private emitted = 0;
  private readonly counts: Record<RejectionReason, number> = { 'bad-signature': 0, 'unknown-id': 0 };

  constructor(private readonly events: SessionEvents) {}

  /** Records one refused cookie. `handle` is the handle of the id it named, when its signature was valid. */
  report(reason: RejectionReason, handle: string, ip: string | undefined): void {
    const now = Date.now();
    if (now - this.windowStart >= WINDOW_MS) this.startWindow(now, reason);
    this.counts[reason] += 1;
    if (this.emitted < EVENTS_PER_WINDOW) {
      this.emitted += 1;
      this.events.emit('rejected', handle, undefined, reason, ip);
    }
  }

  /** One log line per window: this refusal, and what the window before it counted. */
  private startWindow(now: number, reason: RejectionReason): void {
    const { 'bad-signature': badSignature, 'unknown-id': unknownId } = this.counts;
    const before =
      badSignature + unknownId > 0
        ? ` The previous window counted ${badSignature} with a bad signature and ${unknownId} naming no session.`
        : '';
    this.logger.warn(
      `A session cookie was refused (${reason}); further refusals in the next minute are counted, not logged.${before}`,
    );
    this.windowStart = now;
    this.emitted = 0;
    this.counts['bad-signature'] = 0;
    this.counts['unknown-id'] = 0;
  }
}
