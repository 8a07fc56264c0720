import type { Registry } from 'prom-client';
import type { Collected, MetricsCollector } from './collect';
import { prometheusLabel, prometheusName } from '../metrics/prometheus-name';
import type { Attributes } from '../metrics/store';
import * as N from '../metrics/names';
import { METRICS, type MetricDefinition } from '../metrics/names';
import { OPENMETRICS_CONTENT_TYPE as OPENMETRICS } from './exposition';

interface PromValue {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
  /** Printed by prom-client in OpenMetrics only. */
  exemplar?: { labelSet: Record<string, string>; value: number; timestamp: number };
}

type ClusterAggregator = 'sum' | 'min' | 'max' | 'average';

/**
 * How prom-client's AggregatorRegistry (cluster mode: every worker process reports `thread_name="main"`) combines
 * one series across processes. Counters, histograms and pool/threadpool levels add up; a delay statistic or a
 * utilization does not (two processes 70 % busy are not 140 % busy).
 */
function clusterAggregator(def: MetricDefinition): ClusterAggregator {
  if (def.kind !== 'gauge') return 'sum';
  switch (def.name) {
    case N.EVENTLOOP_DELAY_MIN:
      return 'min';
    case N.EVENTLOOP_DELAY_MAX:
    case N.LOOPWATCH_STALL_IN_PROGRESS:
      return 'max';
    case N.POOL_MAX:
    case N.POOL_USED:
    case N.POOL_IDLE:
    case N.POOL_PENDING:
    case N.THREADPOOL_IN_FLIGHT:
      return 'sum';
    default:
      // Utilization, and the delay mean, standard deviation and percentiles.
      return 'average';
  }
}

/** The object shape prom-client's Registry accepts in `registerMetric` and reads with `get()`. */
interface PromMetric {
  readonly name: string;
  readonly help: string;
  readonly type: 'gauge' | 'counter' | 'histogram';
  readonly aggregator: ClusterAggregator;
  get(): Promise<{ name: string; help: string; type: string; values: PromValue[]; aggregator: ClusterAggregator }>;
  reset(): void;
}

/**
 * Exposes loopwatch's metrics through a prom-client Registry. Values are
 * computed at scrape time from shared memory; one collection serves every
 * metric of one `registry.metrics()` call.
 * @internal used by test/agent/export/exposition.test.mjs
 */
export function promMetrics(collector: MetricsCollector, registryContentType: string): PromMetric[] {
  let cache: Map<string, Collected> | undefined;
  const snapshot = (): Map<string, Collected> => {
    if (!cache) {
      cache = new Map(collector.collect().map((c) => [c.def.name, c]));
      // prom-client calls every metric's get() synchronously within one metrics() call.
      queueMicrotask(() => (cache = undefined));
    }
    return cache;
  };
  const openMetrics = registryContentType === OPENMETRICS;
  return METRICS.map((def) => promMetric(def, openMetrics, snapshot));
}

function promMetric(def: MetricDefinition, openMetrics: boolean, snapshot: () => Map<string, Collected>): PromMetric {
  const full = prometheusName(def.name, def.unit, def.kind);
  // prom-client's OpenMetrics mode wants the counter family name without `_total` (it appends it per sample).
  const name = openMetrics && def.kind === 'counter' ? full.replace(/_total$/, '') : full;
  const type = def.kind;
  const help = def.description;
  const aggregator = clusterAggregator(def);
  return {
    get name() {
      return name;
    },
    // prom-client's OpenMetrics path assigns `metric.name`; the family name is fixed, so ignore it.
    set name(_ignored: string) {},
    help,
    type,
    aggregator,
    reset() {},
    // A promise executor runs synchronously (prom-client relies on that, see snapshot) and turns a throw into a rejection.
    get() {
      return new Promise((resolve) => {
        const collected = snapshot().get(def.name);
        resolve({ name, help, type, values: collected ? toValues(collected, full) : [], aggregator });
      });
    },
  };
}

function labels(attributes: Attributes): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(attributes)) if (value !== undefined) out[prometheusLabel(key)] = value;
  return out;
}

function toValues(c: Collected, fullName: string): PromValue[] {
  if (c.kind !== 'histogram') return c.points.map((p) => ({ value: p.value, labels: labels(p.attributes) }));
  const bounds = c.def.buckets ?? [];
  const values: PromValue[] = [];
  for (const p of c.points) {
    const base = labels(p.attributes);
    let cumulative = 0;
    for (let i = 0; i <= bounds.length; i++) {
      cumulative += p.counts[i] ?? 0;
      const line: PromValue = { metricName: `${fullName}_bucket`, labels: { ...base, le: i < bounds.length ? bounds[i] : '+Inf' }, value: cumulative };
      const ex = p.exemplars?.[i];
      if (ex) line.exemplar = { labelSet: { trace_id: ex.traceId }, value: ex.value, timestamp: ex.timestamp };
      values.push(line);
    }
    values.push({ metricName: `${fullName}_sum`, labels: base, value: p.sum });
    values.push({ metricName: `${fullName}_count`, labels: base, value: cumulative });
  }
  return values;
}

/** Adds loopwatch's metrics to an application's prom-client Registry; returns an undo. */
export function registerInto(registry: Registry, collector: MetricsCollector): () => void {
  const metrics = promMetrics(collector, registry.contentType);
  for (const m of metrics) registry.registerMetric(m as never);
  return () => {
    for (const m of metrics) registry.removeSingleMetric(m.name);
  };
}
