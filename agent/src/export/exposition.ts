/**
 * Prometheus text (0.0.4) and OpenMetrics (1.0) exposition of loopwatch's metrics, written directly.
 *
 * The watchdog formats a scrape once every 15–60 s, so this code never gets hot in V8 and runs mostly in the
 * interpreter: going through prom-client's Registry (a promise and a label object per metric, a regex escape per
 * label value) cost ~0.5 ms of CPU per scrape on the test VM, several times what collecting the values costs.
 * The output is byte for byte what prom-client 15 writes for the same metrics; a test compares the two.
 * Applications that pass their own prom-client Registry still get loopwatch's metrics through it
 * (`export/prometheus.ts`).
 */
import type { Collected } from './collect';
import { METRICS, type MetricDefinition } from '../metrics/names';
import { prometheusLabel, prometheusName } from '../metrics/prometheus-name';
import type { Attributes } from '../metrics/store';

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

/** Per metric, decided once: names and header lines in both formats. */
interface Family {
  def: MetricDefinition;
  /** Sample name (text format; histograms add _bucket/_sum/_count). */
  sample: string;
  textHeader: string;
  openMetricsHeader: string;
}

const families: readonly Family[] = METRICS.map((def) => {
  const full = prometheusName(def.name, def.unit, def.kind);
  // OpenMetrics names a counter family without `_total` and its sample with it.
  const omName = def.kind === 'counter' ? full.replace(/_total$/, '') : full;
  const help = escapeText(def.description);
  return {
    def,
    sample: full,
    textHeader: `# HELP ${full} ${help}\n# TYPE ${full} ${def.kind}`,
    openMetricsHeader: `# HELP ${omName} ${help}\n# TYPE ${omName} ${def.kind}`,
  };
});

/** The exposition of `collected` (one collection of every metric), in the requested format. */
export function formatExposition(collected: readonly Collected[], openMetrics: boolean): string {
  const byName = new Map<string, Collected>();
  for (const c of collected) byName.set(c.def.name, c);
  let out = '';
  for (let i = 0; i < families.length; i++) {
    const f = families[i];
    if (i > 0) out += openMetrics ? '\n' : '\n\n';
    out += openMetrics ? f.openMetricsHeader : f.textHeader;
    const c = byName.get(f.def.name);
    if (c) out += c.kind === 'histogram' ? histogramLines(c, f.sample, openMetrics) : numberLines(c, f.sample);
  }
  return openMetrics ? `${out}\n# EOF\n` : `${out}\n`;
}

function numberLines(c: Extract<Collected, { kind: 'gauge' | 'counter' }>, sample: string): string {
  let out = '';
  for (const p of c.points) out += `\n${sample}${labelBlock(labelText(p.attributes), '')} ${value(p.value)}`;
  return out;
}

function histogramLines(c: Extract<Collected, { kind: 'histogram' }>, sample: string, openMetrics: boolean): string {
  const bounds = c.def.buckets ?? [];
  let out = '';
  for (const p of c.points) {
    const base = labelText(p.attributes);
    let cumulative = 0;
    for (let i = 0; i <= bounds.length; i++) {
      cumulative += p.counts[i] ?? 0;
      const le = `le="${i < bounds.length ? bounds[i] : '+Inf'}"`;
      out += `\n${sample}_bucket${labelBlock(base, le)} ${value(cumulative)}`;
      const ex = openMetrics ? p.exemplars?.[i] : undefined;
      if (ex) out += ` # {trace_id="${escapeLabelValue(ex.traceId)}"} ${value(ex.value)} ${ex.timestamp}`;
    }
    out += `\n${sample}_sum${labelBlock(base, '')} ${value(p.sum)}`;
    out += `\n${sample}_count${labelBlock(base, '')} ${value(cumulative)}`;
  }
  return out;
}

/** `name="value",…` for the attributes, in their own order (as prom-client prints them). */
function labelText(attributes: Attributes): string {
  let out = '';
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined) continue;
    if (out) out += ',';
    out += `${prometheusLabel(key)}="${escapeLabelValue(value)}"`;
  }
  return out;
}

function labelBlock(base: string, extra: string): string {
  if (!base) return extra ? `{${extra}}` : '';
  return extra ? `{${base},${extra}}` : `{${base}}`;
}

/** prom-client's number rendering (`Nan` is its spelling). */
function value(v: number): string {
  if (Number.isNaN(v)) return 'Nan';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return `${v}`;
}

// Most label values need no escaping: test before allocating.
const NEEDS_ESCAPE = /[\\\n"]/;

function escapeLabelValue(s: string): string {
  if (typeof s !== 'string') return String(s);
  if (!NEEDS_ESCAPE.test(s)) return s;
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function escapeText(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}
