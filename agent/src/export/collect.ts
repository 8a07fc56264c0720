import { FINE_BUCKETS, fineIndex, windowStats } from '../metrics/histogram';
import * as N from '../metrics/names';
import type { Attributes } from '../metrics/store';
import { GC_TYPES, type Exemplar } from '../channel/thread-state';
import type { MetricSource } from '../channel/directory';

interface NumberPoint {
  attributes: Attributes;
  value: number;
}
export interface HistogramPoint {
  attributes: Attributes;
  /** Count per explicit bucket, last = +Inf (not cumulative). */
  counts: ArrayLike<number>;
  sum: number;
  /** Per bucket, a sample linked to a trace (OpenMetrics exemplars). */
  exemplars?: (Exemplar | undefined)[];
}
export type Collected =
  | { def: N.MetricDefinition; kind: 'gauge' | 'counter'; points: NumberPoint[] }
  | { def: N.MetricDefinition; kind: 'histogram'; points: HistogramPoint[] };

function attributeKey(attributes: Attributes): string {
  return Object.keys(attributes)
    .sort()
    .map((k) => `${k}=${attributes[k]}`)
    .join(',');
}

interface Window {
  fine: Float64Array;
  sum: number;
  sumSq: number;
  active: number;
  idle: number;
}

const DELAY_GAUGES = [
  [N.EVENTLOOP_DELAY_MIN, 'min'],
  [N.EVENTLOOP_DELAY_MAX, 'max'],
  [N.EVENTLOOP_DELAY_MEAN, 'mean'],
  [N.EVENTLOOP_DELAY_STDDEV, 'stddev'],
  [N.EVENTLOOP_DELAY_P50, 'p50'],
  [N.EVENTLOOP_DELAY_P90, 'p90'],
  [N.EVENTLOOP_DELAY_P99, 'p99'],
] as const;

/**
 * Turns shared thread state and series into metric points. One instance per
 * reader (Prometheus endpoint, app registry, OTel): windowed values (delay
 * gauges, utilization) cover the time since *this* reader's previous
 * collection, so readers never steal each other's windows.
 */
export class MetricsCollector {
  private readonly windows = new Map<number, Window>();

  constructor(
    private readonly source: MetricSource,
    private readonly nowNs: () => bigint = () => process.hrtime.bigint(),
  ) {}

  collect(): Collected[] {
    const now = this.nowNs();
    const out = new Map<string, Collected>();
    for (const def of N.METRICS) {
      out.set(def.name, def.kind === 'histogram' ? { def, kind: 'histogram', points: [] } : { def, kind: def.kind, points: [] });
    }
    // Every name used below is in N.METRICS, so the lookup only fails on a programming error (a renamed constant).
    const family = (name: string): Collected => {
      const c = out.get(name);
      if (!c) throw new Error(`metric ${name} is not in METRICS`);
      return c;
    };
    const num = (name: string, attributes: Attributes, value: number) =>
      (family(name).points as NumberPoint[]).push({ attributes, value });
    const hist = (name: string, attributes: Attributes, counts: ArrayLike<number>, sum: number) =>
      (family(name).points as HistogramPoint[]).push({ attributes, counts, sum });

    const seen = new Set<number>();
    for (const thread of this.source.threads()) {
      seen.add(thread.id);
      const s = thread.state;
      const attrs = { [N.ATTR_THREAD_NAME]: thread.name };
      const blockedMs = s.blockedForMs(now);
      const w = this.window(thread.id);

      // Delay gauges over this reader's window, plus the samples an ongoing block is swallowing.
      const fine = s.delayFine();
      const delta = new Float64Array(FINE_BUCKETS);
      for (let i = 0; i < FINE_BUCKETS; i++) delta[i] = fine[i] - w.fine[i];
      let sum = s.delaySum - w.sum;
      let sumSq = s.delaySumSq - w.sumSq;
      w.fine.set(fine);
      w.sum = s.delaySum;
      w.sumSq = s.delaySumSq;
      if (blockedMs > 0) {
        for (let d = blockedMs, n = 0; d > 0 && n < 60_000; d -= s.resolutionMs, n++) {
          delta[fineIndex(d / 1000)]++;
          sum += d / 1000;
          sumSq += (d / 1000) ** 2;
        }
      }
      const stats = windowStats(delta, sum, sumSq);
      if (stats) for (const [name, key] of DELAY_GAUGES) num(name, attrs, stats[key]);

      const active = s.loopActiveMs + blockedMs;
      const idle = s.loopIdleMs;
      const dActive = active - w.active;
      const dIdle = idle - w.idle;
      w.active = active;
      w.idle = idle;
      if (dActive + dIdle > 0) num(N.EVENTLOOP_UTILIZATION, attrs, dActive / (dActive + dIdle));
      num(N.EVENTLOOP_TIME, { [N.ATTR_EVENTLOOP_STATE]: 'active', ...attrs }, active / 1000);
      num(N.EVENTLOOP_TIME, { [N.ATTR_EVENTLOOP_STATE]: 'idle', ...attrs }, idle / 1000);

      hist(N.LOOPWATCH_EVENTLOOP_DELAY, attrs, s.delayBuckets().slice(), s.delaySum);
      hist(N.LOOPWATCH_STALL_DURATION, attrs, s.stallBuckets().slice(), s.stallSum);
      const stallPoints = family(N.LOOPWATCH_STALL_DURATION).points as HistogramPoint[];
      stallPoints[stallPoints.length - 1].exemplars = s.stallExemplars();
      num(N.LOOPWATCH_STALL_TIME, attrs, s.stallSum);
      num(N.LOOPWATCH_STALL_IN_PROGRESS, attrs, blockedMs / 1000);
      for (const type of GC_TYPES) {
        const counts = s.gcBuckets(type);
        if (counts.some((c) => c > 0)) hist(N.GC_DURATION, { [N.ATTR_GC_TYPE]: type, ...attrs }, counts.slice(), s.gcSum(type));
      }
    }
    for (const id of this.windows.keys()) if (!seen.has(id)) this.windows.delete(id);

    // Several threads may report the same series (e.g. each thread's self-metric for one component, or two
    // threads' pools with one name): one exposition line each, so identical series are summed.
    const merged = new Map<string, NumberPoint | HistogramPoint>();
    for (const series of this.source.series()) {
      const target = out.get(series.def.name);
      if (!target) continue;
      const key = `${series.def.name}\u0000${attributeKey(series.attributes)}`;
      const seen = merged.get(key);
      if (target.kind === 'histogram') {
        const n = (series.def.buckets?.length ?? 0) + 1;
        if (seen) {
          const h = seen as HistogramPoint;
          const counts = h.counts as Float64Array;
          for (let i = 0; i < n; i++) counts[i] += series.data[i];
          h.sum += series.data[n];
        } else {
          const point = { attributes: series.attributes, counts: series.data.slice(0, n), sum: series.data[n] };
          merged.set(key, point);
          target.points.push(point);
        }
      } else if (seen) {
        (seen as NumberPoint).value += series.data[0];
      } else {
        const point = { attributes: series.attributes, value: series.data[0] };
        merged.set(key, point);
        target.points.push(point);
      }
    }
    return [...out.values()];
  }

  private window(id: number): Window {
    let w = this.windows.get(id);
    if (!w) {
      // A new reader's first window starts at the thread's start, like a cumulative reading.
      w = { fine: new Float64Array(FINE_BUCKETS), sum: 0, sumSq: 0, active: 0, idle: 0 };
      this.windows.set(id, w);
    }
    return w;
  }
}
