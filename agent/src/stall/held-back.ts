/**
 * Stall reports the per-culprit cap held back, said when their window closes with no later report of their culprit
 * to say them (the limiter decides the windows, limiter.ts; this holds the one timer that waits for the next).
 */
import type { SamplerClock } from '../heartbeat/sampler';
import type { HeldBackReports, StallEvent } from '../types';
import type { CulpritLimiter } from './limiter';

export type { HeldBackReports } from '../types';

/** setTimeout's longest delay. */
const MAX_TIMER_MS = 2_147_483_647;

/** One unref'd timer for the next window of held-back reports to close; nothing per stall. */
export class HeldBackWindows {
  private timer: NodeJS.Timeout | undefined;
  /** When the timer fires (wall ms, the limiter's clock); Infinity: not armed. */
  private due = Infinity;
  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.due = Infinity;
    this.sayClosed(false);
  };

  constructor(
    private readonly limiter: CulpritLimiter<StallEvent>,
    private readonly clock: SamplerClock,
    private readonly thread: string,
    private readonly say: (reports: HeldBackReports) => void,
    private readonly onError: (what: string, err: unknown) => void,
  ) {}

  /** A window closes at `at` (wall ms): the timer fires then, unless it fires sooner already. */
  closeAt(at: number): void {
    if (at >= this.due) return;
    if (this.timer) clearTimeout(this.timer);
    this.due = at;
    this.timer = setTimeout(this.onTimer, Math.min(MAX_TIMER_MS, Math.max(0, at - this.clock.wallMs())));
    // Never keeps the process alive: windows still open at exit are said by closeAll().
    this.timer.unref();
  }

  /** Says every window still open now, and stops waiting. */
  closeAll(): void {
    this.stop();
    this.sayClosed(true);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.due = Infinity;
  }

  /** Says the windows closed by now (`all`: every open one), once each, then waits for the next to close. */
  private sayClosed(all: boolean): void {
    for (const h of this.limiter.closeWindows(all)) {
      const reports: HeldBackReports = { thread: this.thread, suppressed: h.suppressed, sinceMs: h.sinceMs, untilMs: h.untilMs };
      // The first event held back names the group: the key is its culprit, else its route.
      if (h.subject?.culprit !== undefined) reports.culprit = h.subject.culprit;
      else if (h.subject?.route !== undefined) reports.route = h.subject.route;
      try {
        this.say(reports);
      } catch (err) {
        this.onError('could not say the stall reports held back', err);
      }
    }
    const next = all ? undefined : this.limiter.nextWindowClose();
    if (next !== undefined) this.closeAt(next);
  }
}
