import type { Histogram } from '@opentelemetry/api';
import type { HistogramPoint } from './collect';

/**
 * Replays loopwatch's shared-memory histograms into an *app's* MeterProvider, which offers only `record()`: the
 * counts that are new since the last collection are recorded as values inside their buckets, chosen so that their
 * total is the histogram's new sum. Bucket counts and totals are exact; the sum is exact up to floating-point
 * rounding of the SDK's own additions, and self-correcting: each replay aims at the true sum minus what was
 * recorded so far, so a torn read (a count seen before its sum) is made good at the next collection.
 * min/max are those of the replayed values, not of the samples. (loopwatch's own OTLP export does not replay: see
 * otel-producer.ts.)
 */
export class HistogramReplay {
  private readonly state = new Map<string, { counts: Float64Array; recordedSum: number }>();
  private seen = new Set<string>();

  replay(name: string, bounds: readonly number[], p: HistogramPoint, histogram: Histogram): void {
    const key = `${name}|${JSON.stringify(p.attributes)}`;
    this.seen.add(key);
    let s = this.state.get(key);
    if (!s) this.state.set(key, (s = { counts: new Float64Array(bounds.length + 1), recordedSum: 0 }));
    const n = bounds.length;
    const delta = new Float64Array(n + 1);
    let any = false;
    for (let i = 0; i <= n; i++) {
      const count = p.counts[i] ?? 0;
      const d = count - s.counts[i];
      if (d > 0) {
        delta[i] = d;
        s.counts[i] = count;
        any = true;
      }
    }
    if (!any) return;
    const values = feasibleValues(bounds, delta, p.sum - s.recordedSum);
    for (let i = 0; i <= n; i++) {
      const v = values[i];
      for (let k = 0; k < delta[i]; k++) histogram.record(v, p.attributes);
      s.recordedSum += v * delta[i];
    }
  }

  /** Ends one collection: series not seen in it (a closed pool, an exited thread) are forgotten. */
  endCollection(): void {
    for (const key of this.state.keys()) if (!this.seen.has(key)) this.state.delete(key);
    this.seen = new Set();
  }
}

/**
 * One value per bucket such that Σ delta[i]·value[i] = sum and each value lies in its bucket (lo, hi] (the first
 * from 0, the last unbounded). Finite buckets share one relative position t ∈ (0, 1] in their bucket; the `+Inf`
 * bucket, when it has counts, takes what remains above its lower bound. Where the sum is out of reach (a torn read),
 * the nearest feasible values are used and the next replay makes up the difference.
 * @internal used by test/agent/export/otel-replay.test.mjs
 */
export function feasibleValues(bounds: readonly number[], delta: ArrayLike<number>, sum: number): Float64Array {
  const n = bounds.length;
  const lo = (i: number) => (i === 0 ? 0 : bounds[i - 1]);
  let base = 0; // Σ delta·lo over the finite buckets
  let span = 0; // Σ delta·(hi − lo) over the finite buckets
  for (let i = 0; i < n; i++) {
    base += delta[i] * lo(i);
    span += delta[i] * (bounds[i] - lo(i));
  }
  const inf = delta[n];
  const last = n === 0 ? 0 : bounds[n - 1];
  const rest = sum - base - inf * last;
  let t: number;
  if (inf > 0) t = span > 0 ? Math.min(1, rest / (2 * span)) : 0;
  else t = span > 0 ? Math.min(1, rest / span) : 0;
  // Strictly inside the bucket: a value on its lower bound would land in the bucket below.
  t = Math.max(t, 1e-9);
  const values = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) values[i] = lo(i) + t * (bounds[i] - lo(i));
  if (inf > 0) {
    const above = (rest - t * span) / inf;
    values[n] = last + Math.max(above, last * 1e-9 || 1e-9);
  }
  return values;
}
