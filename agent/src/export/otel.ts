import type { Histogram, Meter, MeterProvider, Observable } from '@opentelemetry/api';
import type { Collected, MetricsCollector } from '../metrics/collect';
import { METRICS } from '../metrics/names';
import type { Diagnostics } from '../diag';
import type { ResolvedOtel } from '../config';
import { loadOtelApi, otelRegistered } from '../otel-global';

const SCOPE = 'loopwatch';

/** The OTLP exporter packages for each value of OTEL_EXPORTER_OTLP_[<SIGNAL>_]PROTOCOL. */
const METRIC_EXPORTERS: Readonly<Record<string, string>> = {
  'http/protobuf': '@opentelemetry/exporter-metrics-otlp-proto',
  'http/json': '@opentelemetry/exporter-metrics-otlp-http',
  grpc: '@opentelemetry/exporter-metrics-otlp-grpc',
};
const LOG_EXPORTERS: Readonly<Record<string, string>> = {
  'http/protobuf': '@opentelemetry/exporter-logs-otlp-proto',
  'http/json': '@opentelemetry/exporter-logs-otlp-http',
  grpc: '@opentelemetry/exporter-logs-otlp-grpc',
};

function positiveInt(value: string | undefined, fallback: number): number {
  const n = value === undefined || value.trim() === '' ? NaN : Number(value);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}

/**
 * Publishes loopwatch's metrics through the OpenTelemetry metrics API.
 *
 * The API has no proxy meter provider: instruments created before the app's
 * SDK registers stay no-ops forever. So until a real provider is registered
 * we check for one on a slow unref'd timer and bind once it appears; with
 * OTLP asked for and no provider, loopwatch exports through a MeterProvider of
 * its own, never registered globally (see startOwnProvider). The check reads
 * the API's global registry; the API itself is loaded only once something is
 * registered there (see otel-global.ts).
 *
 * Gauges and counters are observable instruments read at collection time.
 * Histograms live in shared memory as bucket counts; at collection time the
 * new counts since the last collection are replayed into synchronous
 * histograms with the same bucket boundaries (so bucket counts and totals are
 * exact; the sum is approximated by bucket midpoints).
 */
export class OtelExporter {
  private meter: Meter | undefined;
  private detectTimer: NodeJS.Timeout | undefined;
  private observables: Observable[] = [];
  private callback: ((r: import('@opentelemetry/api').BatchObservableResult) => void) | undefined;
  private own: { shutdown(): Promise<void> } | undefined;
  private ownLogs: (import('@opentelemetry/api').LoggerProvider & { shutdown(): Promise<void> }) | undefined;
  private readonly replayed = new Map<string, Float64Array>();

  constructor(
    private readonly collector: MetricsCollector,
    private readonly options: ResolvedOtel,
    private readonly diag: Diagnostics,
    private readonly version: string,
  ) {}

  start(): void {
    const provider = this.options.meterProvider ?? this.globalProvider();
    if (provider) return this.bind(provider);
    if (this.options.otlp) {
      const own = this.startOwnProvider();
      if (own) return this.bind(own);
    }
    // The app may register its SDK after loopwatch starts: keep looking, cheaply.
    this.detectTimer = setInterval(() => {
      const p = this.globalProvider();
      if (p) {
        clearInterval(this.detectTimer);
        this.detectTimer = undefined;
        this.bind(p);
      }
    }, this.options.detectIntervalMs);
    this.detectTimer.unref();
  }

  /** loopwatch's own LoggerProvider (OTLP started by loopwatch), for stall log records while the app registers none. */
  get ownLoggerProvider(): import('@opentelemetry/api').LoggerProvider | undefined {
    return this.ownLogs;
  }

  get bound(): boolean {
    return this.meter !== undefined;
  }

  async stop(): Promise<void> {
    if (this.detectTimer) clearInterval(this.detectTimer);
    if (this.meter && this.callback) this.meter.removeBatchObservableCallback(this.callback, this.observables);
    this.meter = undefined;
    await Promise.all(
      [this.own, this.ownLogs].map((p) => p?.shutdown().catch((err: unknown) => this.diag.error('otel', 'OTLP export shutdown failed', err))),
    );
  }

  private globalProvider(): MeterProvider | undefined {
    if (!otelRegistered('metrics')) return undefined;
    const api = loadOtelApi((err) => this.diag.error('otel', 'could not load @opentelemetry/api', err));
    if (!api) return undefined;
    // Through the API, which checks the registered provider's API version is compatible with ours.
    const provider = api.metrics.getMeterProvider();
    return provider.getMeter(SCOPE, this.version) instanceof api.createNoopMeter().constructor ? undefined : provider;
  }

  /**
   * OTLP asked for and no MeterProvider registered: loopwatch's metrics — and its stall log records, unless the app
   * registers a LoggerProvider — go out through providers of loopwatch's own, **never registered globally**.
   * (loopwatch used to start `@opentelemetry/sdk-node` here, which registers the global tracer, context manager,
   * propagator, meter and logger providers: an app starting its own SDK after loopwatch — the usual order with
   * `--require loopwatch/register` — had all five registrations refused, its tracing included.) Honours the
   * standard variables: `OTEL_METRICS_EXPORTER` / `OTEL_LOGS_EXPORTER` (a list without `otlp`, e.g. `none`: not
   * exported), `OTEL_EXPORTER_OTLP[_METRICS|_LOGS]_PROTOCOL` (`http/protobuf`, the default, `http/json`, `grpc`),
   * `OTEL_METRIC_EXPORT_INTERVAL` / `_TIMEOUT`, `OTEL_SERVICE_NAME` / `OTEL_RESOURCE_ATTRIBUTES`; the exporters read
   * their endpoint, headers, compression and temporality variables themselves.
   */
  private startOwnProvider(): MeterProvider | undefined {
    const env = process.env;
    let resource: import('@opentelemetry/resources').Resource;
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { detectResources, envDetector, resourceFromAttributes } = require('@opentelemetry/resources') as typeof import('@opentelemetry/resources');
      // OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES win over the configured default name.
      resource = resourceFromAttributes({ 'service.name': this.options.serviceName }).merge(detectResources({ detectors: [envDetector] }));
    } catch (err) {
      this.diag.error('otel', 'could not start OTLP export', err);
      return undefined;
    }
    const logExporter = this.otlpExporter('LOGS', LOG_EXPORTERS) as (new () => import('@opentelemetry/sdk-logs').LogRecordExporter) | undefined;
    if (logExporter) {
      try {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const { LoggerProvider, BatchLogRecordProcessor } = require('@opentelemetry/sdk-logs') as typeof import('@opentelemetry/sdk-logs');
        this.ownLogs = new LoggerProvider({ resource, processors: [new BatchLogRecordProcessor({ exporter: new logExporter() })] });
      } catch (err) {
        this.diag.error('otel', 'could not start OTLP export of stall log records', err);
      }
    }
    const metricExporter = this.otlpExporter('METRICS', METRIC_EXPORTERS) as (new () => import('@opentelemetry/sdk-metrics').PushMetricExporter) | undefined;
    if (!metricExporter) return undefined;
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { MeterProvider: SdkMeterProvider, PeriodicExportingMetricReader } = require('@opentelemetry/sdk-metrics') as typeof import('@opentelemetry/sdk-metrics');
      const interval = positiveInt(env.OTEL_METRIC_EXPORT_INTERVAL, 60_000);
      const reader = new PeriodicExportingMetricReader({
        exporter: new metricExporter(),
        exportIntervalMillis: interval,
        // The SDK refuses a timeout longer than the interval.
        exportTimeoutMillis: Math.min(interval, positiveInt(env.OTEL_METRIC_EXPORT_TIMEOUT, 30_000)),
      });
      const provider = new SdkMeterProvider({ resource, readers: [reader] });
      this.own = provider;
      return provider;
    } catch (err) {
      this.diag.error('otel', 'could not start OTLP export of loopwatch metrics', err);
      return undefined;
    }
  }

  /** The OTLP exporter class for a signal, per OTEL_<signal>_EXPORTER and the protocol variables; undefined if none. */
  private otlpExporter(signal: 'METRICS' | 'LOGS', modules: Readonly<Record<string, string>>): Function | undefined {
    const env = process.env;
    const selected = env[`OTEL_${signal}_EXPORTER`];
    if (selected && !selected.split(',').some((e) => e.trim().toLowerCase() === 'otlp')) return undefined;
    const specific = `OTEL_EXPORTER_OTLP_${signal}_PROTOCOL`;
    const variable = env[specific] ? specific : 'OTEL_EXPORTER_OTLP_PROTOCOL';
    const protocol = env[variable] || 'http/protobuf';
    const module = Object.hasOwn(modules, protocol) ? modules[protocol] : undefined;
    if (!module) {
      this.diag.error('otel', `${variable} must be one of ${Object.keys(modules).join(', ')}, got ${JSON.stringify(protocol)}; loopwatch does not export ${signal.toLowerCase()} over OTLP`);
      return undefined;
    }
    try {
      // Loaded only when needed: most apps bring their own SDK, or scrape Prometheus.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      return (require(module) as { [k: string]: Function })[signal === 'METRICS' ? 'OTLPMetricExporter' : 'OTLPLogExporter'];
    } catch (err) {
      this.diag.error('otel', `could not load ${module}`, err);
      return undefined;
    }
  }

  private bind(provider: MeterProvider): void {
    const meter = provider.getMeter(SCOPE, this.version);
    const histograms = new Map<string, Histogram>();
    const observables = new Map<string, Observable>();
    for (const def of METRICS) {
      const opts = { description: def.description, unit: def.unit };
      if (def.kind === 'histogram') {
        histograms.set(def.name, meter.createHistogram(def.name, { ...opts, advice: { explicitBucketBoundaries: [...(def.buckets ?? [])] } }));
      } else if (def.kind === 'counter') {
        observables.set(def.name, meter.createObservableCounter(def.name, opts));
      } else {
        observables.set(def.name, meter.createObservableGauge(def.name, opts));
      }
    }
    this.callback = (result) => {
      try {
        const seen = new Set<string>();
        for (const c of this.collector.collect()) {
          if (c.kind === 'histogram') this.replay(c, histograms.get(c.def.name)!, seen);
          else for (const p of c.points) result.observe(observables.get(c.def.name)!, p.value, p.attributes);
        }
        // Series that went away (a closed pool, an exited thread) must not keep their replay state forever.
        for (const key of this.replayed.keys()) if (!seen.has(key)) this.replayed.delete(key);
      } catch (err) {
        this.diag.error('otel', 'collection failed', err);
      }
    };
    this.observables = [...observables.values()];
    meter.addBatchObservableCallback(this.callback, this.observables);
    this.meter = meter;
  }

  private replay(c: Extract<Collected, { kind: 'histogram' }>, histogram: Histogram, seen: Set<string>): void {
    const bounds = c.def.buckets ?? [];
    for (const p of c.points) {
      const key = `${c.def.name}|${JSON.stringify(p.attributes)}`;
      seen.add(key);
      let prev = this.replayed.get(key);
      if (!prev) {
        prev = new Float64Array(bounds.length + 1);
        this.replayed.set(key, prev);
      }
      for (let i = 0; i <= bounds.length; i++) {
        const n = (p.counts[i] ?? 0) - prev[i]!;
        if (n <= 0) continue;
        prev[i] = p.counts[i]!;
        const lo = i === 0 ? 0 : bounds[i - 1]!;
        const value = i < bounds.length ? (lo + bounds[i]!) / 2 : lo * 1.5;
        for (let k = 0; k < n; k++) histogram.record(value, p.attributes);
      }
    }
  }
}
