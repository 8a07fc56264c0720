import type { Histogram, Meter, MeterProvider, Observable } from '@opentelemetry/api';
import type { Collected, MetricsCollector } from './collect';
import { LOOPWATCH_STALL_IN_PROGRESS, METRICS } from '../metrics/names';
import type { Diagnostics } from '../runtime/diag';
import type { ResolvedOtel } from '../config/config';
import { loadOtelApi, otelRegistered } from '../runtime/otel-global';
import { LOG_EXPORTERS, METRIC_EXPORTERS, otlpProtocol, otlpSelected, requireOtlpExporter, type OtlpSignal } from './otlp-protocol';
import { OTLP_ENV_PREFIX, type OtlpPushConfig, type ResourceValue } from './otlp-push';

/** A stall is pushed by the watchdog once it has lasted this long, then at most every PUSH_EVERY_MS. */
const PUSH_AFTER_MS = 1000;
const PUSH_EVERY_MS = 5000;

const SCOPE = 'loopwatch';

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
  private stopping = false;
  /** The resource of loopwatch's own OTLP export, when it runs one. */
  private ownResource: ResourceLike | undefined;

  constructor(
    private readonly collector: MetricsCollector,
    private readonly options: ResolvedOtel,
    private readonly diag: Diagnostics,
    private readonly version: string,
    /** Called once bound to an OTLP pipeline, for the watchdog's in-progress push (watchdog/otlp-push.ts). */
    private readonly onOtlp: (config: OtlpPushConfig) => void = () => {},
  ) {}

  start(): void {
    const provider = this.options.meterProvider ?? this.globalProvider();
    if (provider) return this.bind(provider);
    if (this.options.otlp) {
      const own = this.startOwnProvider();
      if (own) return this.bind(own, true);
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
    this.stopping = true;
    // loopwatch's own providers flush at shutdown: with the callback still there, so the last export has its metrics.
    await Promise.all(
      [this.own, this.ownLogs].map((p) => p?.shutdown().catch((err: unknown) => this.diag.error('otel', 'OTLP export shutdown failed', err))),
    );
    if (this.meter && this.callback) this.meter.removeBatchObservableCallback(this.callback, this.observables);
    this.meter = undefined;
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
      this.ownResource = resource;
      return provider;
    } catch (err) {
      this.diag.error('otel', 'could not start OTLP export of loopwatch metrics', err);
      return undefined;
    }
  }

  /** The OTLP exporter class for a signal, per OTEL_<signal>_EXPORTER and the protocol variables; undefined if none. */
  private otlpExporter(signal: OtlpSignal, modules: Readonly<Record<string, string>>): Function | undefined {
    if (!otlpSelected(signal)) return undefined;
    const { protocol, variable } = otlpProtocol(signal);
    const module = Object.hasOwn(modules, protocol) ? modules[protocol] : undefined;
    if (!module) {
      this.diag.error('otel', `${variable} must be one of ${Object.keys(modules).join(', ')}, got ${JSON.stringify(protocol)}; loopwatch does not export ${signal.toLowerCase()} over OTLP`);
      return undefined;
    }
    try {
      // Loaded only when needed: most apps bring their own SDK, or scrape Prometheus.
      return (requireOtlpExporter(module, protocol, variable) as { [k: string]: Function })[signal === 'METRICS' ? 'OTLPMetricExporter' : 'OTLPLogExporter'];
    } catch (err) {
      this.diag.error('otel', `could not load ${module}`, err);
      return undefined;
    }
  }

  /**
   * Whether and how the watchdog pushes the stall in progress (see OtelOptions.stallPush): 'auto' pushes where OTLP
   * is the pipeline — loopwatch's own export, or an app MeterProvider with an OTLP exporter among its readers.
   */
  private async pushConfig(provider: MeterProvider, own: boolean): Promise<OtlpPushConfig | undefined> {
    const env = process.env;
    const mode = this.options.stallPush;
    if (mode === false) return undefined;
    const sdk = provider as SdkMeterProviderLike;
    if (mode === 'auto' && !own && !appExportsOtlp(sdk)) return undefined;
    const { protocol, variable } = otlpProtocol('METRICS');
    if (!Object.hasOwn(METRIC_EXPORTERS, protocol)) {
      // loopwatch's own export has said so already.
      if (!own) this.diag.error('otel', `${variable} must be one of ${Object.keys(METRIC_EXPORTERS).join(', ')}, got ${JSON.stringify(protocol)}; the stall in progress is not pushed over OTLP`);
      return undefined;
    }
    // The app's SDK keeps its resource in a private field. Its detectors may still be settling (host.id, …):
    // wait, or the pushed series would carry a resource of its own.
    const resource = own ? this.ownResource : sdk._sharedState?.resource;
    if (resource?.asyncAttributesPending) await resource.waitForAsyncAttributes?.();
    let attributes = resource?.attributes;
    if (!attributes) {
      this.diag.warn(
        "could not read the app MeterProvider's resource; the stall in progress is pushed with the OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES resource, which may make it a series apart",
      );
      attributes = envResource(this.options.serviceName, this.diag);
    }
    const values: Record<string, ResourceValue> = { 'service.name': this.options.serviceName };
    for (const [k, v] of Object.entries(attributes)) if (isResourceValue(v)) values[k] = v;
    const otlpEnv: Record<string, string> = {};
    for (const [k, v] of Object.entries(env)) if (k.startsWith(OTLP_ENV_PREFIX) && v !== undefined) otlpEnv[k] = v;
    return {
      protocol,
      resource: values,
      env: otlpEnv,
      scopeVersion: this.version,
      afterMs: PUSH_AFTER_MS,
      everyMs: Math.min(PUSH_EVERY_MS, positiveInt(env.OTEL_METRIC_EXPORT_INTERVAL, 60_000)),
    };
  }

  private bind(provider: MeterProvider, own = false): void {
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
          else {
            // The last export of a stopping agent must not leave a backend holding a block in progress for minutes.
            const zero = this.stopping && c.def.name === LOOPWATCH_STALL_IN_PROGRESS;
            for (const p of c.points) result.observe(observables.get(c.def.name)!, zero ? 0 : p.value, p.attributes);
          }
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
    this.pushConfig(provider, own).then(
      (push) => {
        if (push && this.meter === meter) this.onOtlp(push);
      },
      (err: unknown) => this.diag.error('otel', 'could not set up the stall-in-progress push', err),
    );
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

/** What is read of an SDK MeterProvider's private state (sdk-metrics 2.x and 3.x), each part checked before use. */
interface ResourceLike {
  attributes?: Record<string, unknown>;
  asyncAttributesPending?: boolean;
  waitForAsyncAttributes?(): Promise<void>;
}
interface SdkMeterProviderLike {
  _sharedState?: { resource?: ResourceLike; metricCollectors?: { _metricReader?: { _exporter?: object } }[] };
}

/**
 * Whether an app MeterProvider exports over OTLP: one of its readers has an `OTLPMetricExporter` (the class of all
 * three OTLP exporter packages). Where the readers cannot be seen, an OTLP endpoint variable with
 * `OTEL_METRICS_EXPORTER` unset or including `otlp` (NodeSDK's rule) has to do.
 */
function appExportsOtlp(provider: SdkMeterProviderLike): boolean {
  const collectors = provider._sharedState?.metricCollectors;
  if (Array.isArray(collectors)) return collectors.some((c) => c?._metricReader?._exporter?.constructor?.name === 'OTLPMetricExporter');
  const env = process.env;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT) && otlpSelected('METRICS');
}

/** Structured-clone-safe attribute values (they travel to the watchdog thread). */
function isResourceValue(v: unknown): v is ResourceValue {
  const scalar = (x: unknown): boolean => typeof x === 'string' || typeof x === 'boolean' || (typeof x === 'number' && Number.isFinite(x));
  return scalar(v) || (Array.isArray(v) && v.every(scalar));
}

/** The resource `OTEL_SERVICE_NAME` / `OTEL_RESOURCE_ATTRIBUTES` describe, for an app provider whose own is unreadable. */
function envResource(serviceName: string, diag: Diagnostics): Record<string, unknown> {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { detectResources, envDetector, resourceFromAttributes } = require('@opentelemetry/resources') as typeof import('@opentelemetry/resources');
    return resourceFromAttributes({ 'service.name': serviceName }).merge(detectResources({ detectors: [envDetector] })).attributes;
  } catch (err) {
    // The service name (set by the caller) has to do.
    diag.error('otel', 'could not read the OTEL_* resource for the stall-in-progress push', err);
    return {};
  }
}
