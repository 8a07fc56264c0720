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
}

interface Bucket {
  tokens: number;
  updated: number;
  suppressed: number;
  count: number;
}

/** Token bucket per culprit. */
export class CulpritLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly burst: number;
  private readonly perMs: number;
  private readonly max: number;
  private readonly now: () => number;

  constructor(options: CulpritLimiterOptions = {}) {
    this.burst = Math.max(1, options.burst ?? 5);
    this.perMs = Math.max(0, options.perMinute ?? 1) / 60_000;
    this.max = Math.max(1, options.maxCulprits ?? 1000);
    this.now = options.now ?? Date.now;
  }

  /** Decides whether an event for `culprit` (use `groupKey`) may be emitted now. */
  take(culprit: string): LimitDecision {
    const t = this.now();
    let b = this.buckets.get(culprit);
    if (b) {
      this.buckets.delete(culprit); // re-insert: Map order = recency
      b.tokens = Math.min(this.burst, b.tokens + Math.max(0, t - b.updated) * this.perMs);
      b.updated = t;
    } else {
      b = { tokens: this.burst, updated: t, suppressed: 0, count: 0 };
      if (this.buckets.size >= this.max) {
        const oldest = this.buckets.keys().next().value;
        if (oldest !== undefined) this.buckets.delete(oldest);
      }
    }
    this.buckets.set(culprit, b);
    b.count++;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      const suppressed = b.suppressed;
      b.suppressed = 0;
      return { allowed: true, suppressed, count: b.count };
    }
    b.suppressed++;
    return { allowed: false, suppressed: b.suppressed, count: b.count };
  }

  get size(): number {
    return this.buckets.size;
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
