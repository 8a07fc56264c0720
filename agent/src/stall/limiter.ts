/**
 * Grouping stalls by culprit, per-culprit rate caps for events/logs, and bounded label sets for metrics.
 * Pure: the clock is injected. Metrics must count every stall; only events/logs go through `CulpritLimiter`.
 */

export interface CulpritLimiterOptions {
  /** Events allowed in a burst per culprit. Default 5. */
  burst?: number;
  /** Sustained events per culprit per minute after the burst. Default 1. */
  perMinute?: number;
  /** Culprits tracked; the least recently seen are forgotten beyond this. Default 1000. */
  maxCulprits?: number;
  /** Clock in ms (injected for tests). Default `Date.now`. */
  now?: () => number;
}

export interface LimitDecision {
  allowed: boolean;
  /** Stalls of this culprit suppressed since the last allowed one (reported with the next allowed event). */
  suppressed: number;
  /** Total stalls seen for this culprit (since it was first tracked). */
  count: number;
  /**
   * Set when this call opened a window of held-back reports (the first one held back since the culprit's last report)
   * or forgot one (a culprit evicted with reports held back): when that window closes, on the limiter's clock. The
   * caller then has `closeWindows` say it, unless a report of the culprit said it first.
   */
  windowClosesAt?: number;
}

/**
 * Reports of one culprit held back in a window that closed with no later report to say them: the cap would let a
 * report through again (or the culprit was forgotten, or every window is being closed), and none came.
 */
export interface HeldBack<S> {
  readonly key: string;
  /** What `take` was given with the first report held back in the window (the caller's description of the group). */
  readonly subject: S | undefined;
  readonly suppressed: number;
  /** When the first of them was held back, and when the window closed (the limiter's clock, ms). */
  readonly sinceMs: number;
  readonly untilMs: number;
}

interface Bucket<S> {
  tokens: number;
  updated: number;
  suppressed: number;
  count: number;
  /** Of the open window (suppressed > 0): when its first report was held back, and its subject. */
  heldSince: number;
  subject: S | undefined;
}

/** A token short by floating-point rounding of the refill (fractions of a token per ms) is a whole token. */
const TOKEN_EPSILON = 1e-9;

/**
 * Token bucket per culprit. A culprit's reports held back form a window that closes when its bucket holds a token
 * again (the next report would go through): the next report of the culprit says how many were held back, and if
 * none comes by then, `closeWindows` returns them to be said on their own.
 */
export class CulpritLimiter<S = undefined> {
  private readonly buckets = new Map<string, Bucket<S>>();
  private readonly burst: number;
  private readonly perMs: number;
  private readonly max: number;
  private readonly now: () => number;
  /** Windows of culprits evicted while reports were held back: closed, waiting to be said. */
  private forgotten: HeldBack<S>[] = [];

  constructor(options: CulpritLimiterOptions = {}) {
    this.burst = Math.max(1, options.burst ?? 5);
    this.perMs = Math.max(0, options.perMinute ?? 1) / 60_000;
    this.max = Math.max(1, options.maxCulprits ?? 1000);
    this.now = options.now ?? Date.now;
  }

  /**
   * Decides whether an event for `culprit` (use `groupKey`) may be emitted now. `subject` is kept (by reference)
   * only when this opens a window of held-back reports, to describe them if they are said on their own.
   */
  take(culprit: string, subject?: S): LimitDecision {
    const t = this.now();
    let b = this.buckets.get(culprit);
    let evicted = false;
    if (b) {
      this.buckets.delete(culprit); // re-insert: Map order = recency
      b.tokens = Math.min(this.burst, b.tokens + Math.max(0, t - b.updated) * this.perMs);
      b.updated = t;
    } else {
      b = { tokens: this.burst, updated: t, suppressed: 0, count: 0, heldSince: 0, subject: undefined };
      if (this.buckets.size >= this.max) evicted = this.evictOldest(t);
    }
    this.buckets.set(culprit, b);
    b.count++;
    let decision: LimitDecision;
    if (b.tokens >= 1 - TOKEN_EPSILON) {
      b.tokens = Math.max(0, b.tokens - 1);
      const suppressed = b.suppressed;
      b.suppressed = 0;
      b.subject = undefined;
      decision = { allowed: true, suppressed, count: b.count };
    } else {
      if (++b.suppressed === 1) {
        b.heldSince = t;
        b.subject = subject;
        decision = { allowed: false, suppressed: 1, count: b.count, windowClosesAt: this.closesAt(b) };
      } else decision = { allowed: false, suppressed: b.suppressed, count: b.count };
    }
    // A forgotten window closed now.
    if (evicted) decision.windowClosesAt = t;
    return decision;
  }

  /**
   * The windows closed by now (`all`: every open window, the agent is stopping) with reports still held back, each
   * once: their counts are reset, so neither a later report nor a later call says them again.
   */
  closeWindows(all = false): HeldBack<S>[] {
    const t = this.now();
    const out = this.forgotten;
    this.forgotten = [];
    for (const [key, b] of this.buckets) {
      if (b.suppressed === 0 || (!all && this.closesAt(b) > t)) continue;
      out.push({ key, subject: b.subject, suppressed: b.suppressed, sinceMs: b.heldSince, untilMs: t });
      b.suppressed = 0;
      b.subject = undefined;
    }
    return out;
  }

  /** When the next window with reports held back closes (the limiter's clock, ms); undefined: none open. */
  nextWindowClose(): number | undefined {
    if (this.forgotten.length) return this.now();
    let next: number | undefined;
    for (const b of this.buckets.values()) {
      if (b.suppressed === 0) continue;
      const at = this.closesAt(b);
      if (Number.isFinite(at) && (next === undefined || at < next)) next = at;
    }
    return next;
  }

  get size(): number {
    return this.buckets.size;
  }

  /**
   * When the bucket holds a whole token again, in whole ms (Infinity when it never refills: `perMinute: 0`). Rounded
   * up, less the rounding error of the refill (`take` accepts a token short by that much), so a report at that
   * moment goes through.
   */
  private closesAt(b: Bucket<S>): number {
    if (b.tokens >= 1 - TOKEN_EPSILON) return b.updated;
    return this.perMs > 0 ? Math.ceil(b.updated + (1 - b.tokens) / this.perMs - 1e-6) : Infinity;
  }

  /** Forgets the least recently seen culprit; its held-back reports, if any, are kept to be said. */
  private evictOldest(t: number): boolean {
    const oldest = this.buckets.entries().next().value;
    if (oldest === undefined) return false;
    const [key, b] = oldest;
    this.buckets.delete(key);
    if (b.suppressed === 0) return false;
    this.forgotten.push({ key, subject: b.subject, suppressed: b.suppressed, sinceMs: b.heldSince, untilMs: t });
    return true;
  }
}

/** Group key of a stall: its culprit, or its route, or `unknown`. */
export function groupKey(e: { culprit?: string; route?: string }): string {
  return e.culprit ?? (e.route ? `route ${e.route}` : 'unknown');
}

/**
 * Keeps a metric label's cardinality bounded: the first `max` distinct values are kept, later ones become `other`.
 */
export class LabelBudget {
  private readonly seen = new Set<string>();
  constructor(
    private readonly max = 20,
    private readonly other = 'other',
    /** Called for each value folded into `other` (counted in a self-metric). */
    private readonly onFold?: () => void,
  ) {}
  label(value: string | undefined): string {
    const v = value ?? 'unknown';
    if (this.seen.has(v)) return v;
    if (this.seen.size < this.max) {
      this.seen.add(v);
      return v;
    }
    this.onFold?.();
    return this.other;
  }
}
