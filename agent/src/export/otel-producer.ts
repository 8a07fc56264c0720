import type { MetricProducer, ResourceMetrics, CollectionResult, MetricData, DataPointType, AggregationTemporality } from '@opentelemetry/sdk-metrics';
import type { ValueType } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { Collected, MetricsCollector } from './collect';
import { LOOPWATCH_STALL_IN_PROGRESS } from '../metrics/names';
import type { Diagnostics } from '../runtime/diag';

type HrTime = [number, number];

/** The numeric enum values of sdk-metrics / api this module needs, read from the loaded packages (not hard-coded). */
export interface OtelKinds {
  gauge: DataPointType.GAUGE;
  sum: DataPointType.SUM;
  histogram: DataPointType.HISTOGRAM;
  cumulative: AggregationTemporality.CUMULATIVE;
  double: ValueType.DOUBLE;
}

function hrTime(ms: number): HrTime {
  const s = Math.floor(ms / 1000);
  return [s, Math.round((ms - s * 1000) * 1e6)];
}

/**
 * loopwatch's own OTLP export, exact: a `MetricProducer` on the MetricReader hands the SDK the very counts, sums and
 * bucket boundaries the Prometheus endpoint prints, read from shared memory at collection time — no instruments, no
 * replayed values, every series from the first export (a histogram nobody has observed yet included: it is
 * on `/metrics` too). Cumulative, as the Prometheus side is.
 */
export class LoopwatchProducer implements MetricProducer {
  /** First time each series was seen: the start time of its cumulative points (a pool re-created later starts anew). */
  private readonly started = new Map<string, HrTime>();
  /** Set for the last export of a stopping agent (see OtelExporter.stop). */
  stopping = false;

  constructor(
    private readonly collector: MetricsCollector,
    private readonly resource: Resource,
    private readonly scope: { name: string; version: string },
    private readonly kinds: OtelKinds,
    private readonly diag: Diagnostics,
  ) {}

  collect(): Promise<CollectionResult> {
    const resourceMetrics: ResourceMetrics = { resource: this.resource, scopeMetrics: [] };
    try {
      resourceMetrics.scopeMetrics.push({ scope: this.scope, metrics: this.toMetricData(this.collector.collect()) });
    } catch (err) {
      this.diag.error('otel', 'collection failed', err);
      return Promise.resolve({ resourceMetrics, errors: [err] });
    }
    return Promise.resolve({ resourceMetrics, errors: [] });
  }

  toMetricData(collected: Collected[]): MetricData[] {
    const k = this.kinds;
    const now = hrTime(Date.now());
    const seen = new Set<string>();
    const start = (name: string, attributes: object): HrTime => {
      const key = `${name}|${JSON.stringify(attributes)}`;
      seen.add(key);
      let t = this.started.get(key);
      if (!t) this.started.set(key, (t = now));
      return t;
    };
    const out: MetricData[] = [];
    for (const c of collected) {
      const descriptor = { name: c.def.name, description: c.def.description, unit: c.def.unit, valueType: k.double };
      if (c.kind === 'histogram') {
        const boundaries = [...(c.def.buckets ?? [])];
        out.push({
          descriptor,
          aggregationTemporality: k.cumulative,
          dataPointType: k.histogram,
          dataPoints: c.points.map((p) => {
            const counts = Array.from(p.counts);
            let count = 0;
            for (const n of counts) count += n;
            // min and max are not known (only bucket counts are kept): left out rather than made up.
            return { startTime: start(c.def.name, p.attributes), endTime: now, attributes: p.attributes, value: { buckets: { boundaries, counts }, count, sum: p.sum } };
          }),
        });
      } else {
        // The last export of a stopping agent must not leave a backend holding a block in progress for minutes.
        const zero = this.stopping && c.def.name === LOOPWATCH_STALL_IN_PROGRESS;
        const dataPoints = c.points.map((p) => ({
          startTime: c.kind === 'counter' ? start(c.def.name, p.attributes) : now,
          endTime: now,
          attributes: p.attributes,
          value: zero ? 0 : p.value,
        }));
        out.push(
          c.kind === 'counter'
            ? { descriptor, aggregationTemporality: k.cumulative, dataPointType: k.sum, isMonotonic: true, dataPoints }
            : { descriptor, aggregationTemporality: k.cumulative, dataPointType: k.gauge, dataPoints },
        );
      }
    }
    // Series that went away (a closed pool, an exited thread) must not keep their start time forever.
    for (const key of this.started.keys()) if (!seen.has(key)) this.started.delete(key);
    return out;
  }
}
