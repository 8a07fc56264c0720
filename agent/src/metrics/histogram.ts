/**
 * Histogram arithmetic on plain Float64Array slices (they live in
 * SharedArrayBuffers so another thread can read them at scrape time).
 *
 * Two shapes: "explicit" buckets (the exported Prometheus/OTel boundaries,
 * counts per bucket, last slot = +Inf), and a fine log-scale histogram
 * (8 buckets per power of two, ±4.5 % relative error) used to compute the
 * delay percentiles of a window without keeping samples.
 */

/** Index of the explicit bucket for `value` (upper bounds inclusive, like Prometheus `le`). */
export function bucketIndex(bounds: readonly number[], value: number): number {
  let i = 0;
  while (i < bounds.length && value > bounds[i]) i++;
  return i;
}

const FINE_BASE_S = 1e-6;
const FINE_PER_OCTAVE = 8;
/** 1 µs … ~134 s. */
export const FINE_BUCKETS = FINE_PER_OCTAVE * 27;

export function fineIndex(seconds: number): number {
  if (!(seconds > FINE_BASE_S)) return 0;
  const i = Math.floor(Math.log2(seconds / FINE_BASE_S) * FINE_PER_OCTAVE);
  return i >= FINE_BUCKETS ? FINE_BUCKETS - 1 : i;
}

/** Geometric middle of a fine bucket: the value reported for samples in it. */
function fineValue(index: number): number {
  if (index === 0) return FINE_BASE_S / 2;
  return FINE_BASE_S * 2 ** ((index + 0.5) / FINE_PER_OCTAVE);
}

export interface WindowStats {
  count: number;
  min: number;
  max: number;
  mean: number;
  stddev: number;
  p50: number;
  p90: number;
  p99: number;
}

/**
 * Statistics of a window given the fine-bucket counts of that window and the
 * exact sum and sum of squares of its samples.
 */
export function windowStats(fine: ArrayLike<number>, sum: number, sumSq: number): WindowStats | undefined {
  let count = 0;
  for (let i = 0; i < fine.length; i++) count += fine[i];
  if (count <= 0) return undefined;
  const mean = sum / count;
  const variance = Math.max(0, sumSq / count - mean * mean);
  let first = -1;
  let last = -1;
  for (let i = 0; i < fine.length; i++) {
    if (fine[i] > 0) {
      if (first < 0) first = i;
      last = i;
    }
  }
  return {
    count,
    min: fineValue(first),
    max: fineValue(last),
    mean,
    stddev: Math.sqrt(variance),
    p50: quantile(fine, count, 0.5),
    p90: quantile(fine, count, 0.9),
    p99: quantile(fine, count, 0.99),
  };
}

function quantile(fine: ArrayLike<number>, count: number, q: number): number {
  const rank = q * count;
  let seen = 0;
  for (let i = 0; i < fine.length; i++) {
    seen += fine[i];
    if (seen >= rank && fine[i] > 0) return fineValue(i);
  }
  return fineValue(fine.length - 1);
}
