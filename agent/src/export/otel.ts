// Longer than 300 lines: one exporter with two pipelines (loopwatch's own OTLP one, an app's MeterProvider) and the
// stall-in-progress push that both configure; what loads them is apart (otel-load.ts, otel-own.ts).
import type { Histogram, Meter, MeterProvider, Observable, BatchObservableResult } from '@opentelemetry/api';
import type { MetricsCollector } from './collect';
import { LOOPWATCH_STALL_IN_PROGRESS, METRICS } from '../metrics/names';
import type { Diagnostics } from '../runtime/diag';
import type { ResolvedOtel } from '../config/config';
import { loadOtelApi, otelRegistered } from '../runtime/otel-global';
import { otelSdkSharedState, type OtelSdkSharedState } from '../runtime/internals';
import { loopStarted } from '../runtime/loop';
import type { OtlpPushConfig, ResourceValue } from './otlp-push';
import { readOtelEnv, type OtelEnvSettings } from './otel-env';
import { ownPipelinePackages, requireInTurns, type TurnLoad } from './otel-load';
import type { LoopwatchProducer, OtelKinds } from './otel-producer';

// What exports (otel-own, -producer, -replay, otlp-push and the SDK) loads once there is something to export to, not
// at start: most processes have nothing, and each module loaded at start blocks the app's loop. (readOtelEnv still
// says each bad OTEL_* variable at start.)
/* eslint-disable @typescript-eslint/no-require-imports */
const ownPipeline = (): typeof import('./otel-own') => require('./otel-own') as typeof import('./otel-own');
const otlpPush = (): typeof import('./otlp-push') => require('./otlp-push') as typeof import('./otlp-push');
/* eslint-enable @typescript-eslint/no-require-imports */

/** A stall is pushed by the watchdog once it has lasted this long, then at most every PUSH_EVERY_MS. */
const PUSH_AFTER_MS = 1000;
const PUSH_EVERY_MS = 5000;

const SCOPE = 'loopwatch';

/**
 * Publishes loopwatch's metrics through OpenTelemetry.
 *
 * With OTLP asked for and no MeterProvider registered, loopwatch exports through a pipeline of its own (otel-own.ts),
 * exact: a MetricProducer hands the SDK the counts, sums and bucket boundaries of shared memory (otel-producer.ts).
 *
 * Otherwise through the app's MeterProvider, via the metrics API. The API has no proxy meter provider: instruments
 * created before the app's SDK registers stay no-ops forever. So until a real provider is registered we check for
 * one on a slow unref'd timer and bind once it appears. The check reads the API's global registry; the API itself is
 * loaded only once something is registered there (see otel-global.ts). Gauges and counters are observable
 * instruments read at collection time; histograms are replayed into synchronous histograms with the same bucket
 * boundaries (otel-replay.ts: exact counts, sums exact up to floating-point rounding, series appear at their first
 * observation) — the API offers an app's provider nothing better.
 */
export class OtelExporter {
  private meter: Meter | undefined;
  private detectTimer: NodeJS.Timeout | undefined;
  private observables: Observable[] = [];
  private callback: ((r: BatchObservableResult) => void) | undefined;
  private own: { shutdown(): Promise<void> } | undefined;
  private ownLogs: (import('@opentelemetry/api').LoggerProvider & { shutdown(): Promise<void> }) | undefined;
  private producer: LoopwatchProducer | undefined;
  private stopping = false;
  /** The resource of loopwatch's own OTLP export, when it runs one. */
  private ownResource: ResourceLike | undefined;
  /** The OTEL_* variables, validated once (one line per bad one). */
  private readonly env: OtelEnvSettings;
  /** Loading loopwatch's own pipeline, a package per turn of the loop (otel-load.ts). */
  private loading: TurnLoad | undefined;

  constructor(
    private readonly collector: MetricsCollector,
    private readonly options: ResolvedOtel,
    private readonly diag: Diagnostics,
    private readonly version: string,
    /** Called once bound to an OTLP pipeline, for the watchdog's in-progress push (export/otlp-push.ts). */
    private readonly onOtlp: (config: OtlpPushConfig) => void = () => {},
  ) {
    this.env = readOtelEnv(process.env, (line) => diag.warn(line));
  }

  start(): void {
    const provider = this.options.meterProvider ?? this.globalProvider();
    if (provider) return this.bind(provider);
    if (!this.options.otlp) return this.detect();
    const startOwn = (): void => {
      if (!this.startOwn()) this.detect();
    };
    // From a running loop (the app's own start() call), a package per turn (otel-load.ts); before it runs
    // (loopwatch/register, the main script), at once: the app is not running yet, and the pipeline is then there
    // before its first block. stop() while it loads finishes the start first, so that its flush exports.
    if (loopStarted()) this.loading = requireInTurns(ownPipelinePackages(this.env), startOwn);
    else startOwn();
  }

  /** While loopwatch's own pipeline loads, keeps a stall's log record for once it runs (true); else false. */
  holdLogWhileStarting(emit: () => void): boolean {
    return this.loading?.hold(emit) ?? false;
  }

  /** The app may register its SDK after loopwatch starts: keep looking, cheaply. */
  private detect(): void {
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
    return this.meter !== undefined || this.producer !== undefined;
  }

  async stop(): Promise<void> {
    this.loading?.finishNow();
    if (this.detectTimer) clearInterval(this.detectTimer);
    this.stopping = true;
    if (this.producer) this.producer.stopping = true;
    // loopwatch's own providers flush at shutdown, with the metrics still readable, so the last export has them —
    // for SHUTDOWN_DEADLINE_MS at most: a collector that never answers must not hold agent.stop() (or the process).
    if (this.own || this.ownLogs) {
      const { SHUTDOWN_DEADLINE_MS, withDeadline } = ownPipeline();
      const shutdown = Promise.all(
        [this.own, this.ownLogs].map((p) => p?.shutdown().catch((err: unknown) => this.diag.error('otel', 'OTLP export shutdown failed', err))),
      );
      await withDeadline(shutdown, SHUTDOWN_DEADLINE_MS, () =>
        this.diag.error('otel', `the last OTLP export did not finish within ${SHUTDOWN_DEADLINE_MS} ms; stopped without it`),
      );
    }
    if (this.meter && this.callback) this.meter.removeBatchObservableCallback(this.callback, this.observables);
    this.meter = undefined;
    this.producer = undefined;
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
   * standard variables, validated in otel-env.ts; `OTEL_SERVICE_NAME` / `OTEL_RESOURCE_ATTRIBUTES` name the resource.
   */
  private startOwn(): boolean {
    try {
      /* eslint-disable @typescript-eslint/no-require-imports */
      const { detectResources, envDetector, resourceFromAttributes } = require('@opentelemetry/resources') as typeof import('@opentelemetry/resources');
      const sdk = require('@opentelemetry/sdk-metrics') as typeof import('@opentelemetry/sdk-metrics');
      const api = require('@opentelemetry/api') as typeof import('@opentelemetry/api');
      // OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES win over the configured default name.
      const resource = resourceFromAttributes({ 'service.name': this.options.serviceName }).merge(detectResources({ detectors: [envDetector] }));
      const kinds: OtelKinds = {
        gauge: sdk.DataPointType.GAUGE,
        sum: sdk.DataPointType.SUM,
        histogram: sdk.DataPointType.HISTOGRAM,
        cumulative: sdk.AggregationTemporality.CUMULATIVE,
        double: api.ValueType.DOUBLE,
      };
      const { LoopwatchProducer } = require('./otel-producer') as typeof import('./otel-producer');
      const producer = new LoopwatchProducer(this.collector, resource, { name: SCOPE, version: this.version }, kinds, this.diag);
      /* eslint-enable @typescript-eslint/no-require-imports */
      const pipeline = ownPipeline().startOwnPipeline(this.env, resource, producer, this.diag);
      if (!pipeline) return false;
      this.own = pipeline.provider;
      this.ownLogs = pipeline.logs;
      this.ownResource = resource;
      this.producer = producer;
      this.setUpPush(pipeline.provider, true);
      return true;
    } catch (err) {
      this.diag.error('otel', 'could not start OTLP export', err);
      return false;
    }
  }

  private setUpPush(provider: MeterProvider, own: boolean): void {
    this.pushConfig(provider, own).then(
      (push) => {
        if (push && this.bound) this.onOtlp(push);
      },
      (err: unknown) => this.diag.error('otel', 'could not set up the stall-in-progress push', err),
    );
  }

  /**
   * Whether and how the watchdog pushes the stall in progress (see OtelOptions.stallPush): 'auto' pushes where OTLP
   * is the pipeline — loopwatch's own export, or an app MeterProvider with an OTLP exporter among its readers.
   */
  private async pushConfig(provider: MeterProvider, own: boolean): Promise<OtlpPushConfig | undefined> {
    const env = process.env;
    const mode = this.options.stallPush;
    if (mode === false) return undefined;
    if (mode === 'auto' && !own && !appExportsOtlp(provider, this.env.metrics.enabled)) return undefined;
    // An unusable endpoint or OTEL_METRICS_EXPORTER without otlp: said once at start (otel-env.ts), nothing pushed.
    if (!this.env.metrics.enabled) return undefined;
    const protocol = this.env.metrics.protocol;
    // The app's SDK keeps its resource in a private field. Its detectors may still be settling (host.id, …):
    // wait, or the pushed series would carry a resource of its own.
    const resource = own ? this.ownResource : otelSdkSharedState(provider, (what) => this.diag.error('otel', what))?.resource;
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
    const { OTLP_ENV_PREFIX } = otlpPush();
    for (const [k, v] of Object.entries(env)) if (k.startsWith(OTLP_ENV_PREFIX) && v !== undefined) otlpEnv[k] = v;
    return {
      protocol,
      resource: values,
      env: otlpEnv,
      // The watchdog's in-progress stall log records go where the main thread's go (export/otlp-live-log.ts).
      logs: this.env.logs,
      scopeVersion: this.version,
      afterMs: PUSH_AFTER_MS,
      everyMs: Math.min(PUSH_EVERY_MS, this.env.intervalMs),
    };
  }

  private bind(provider: MeterProvider): void {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const replay = new (require('./otel-replay') as typeof import('./otel-replay')).HistogramReplay();
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
        for (const c of this.collector.collect()) {
          if (c.kind === 'histogram') {
            for (const p of c.points) replay.replay(c.def.name, c.def.buckets ?? [], p, instrument(histograms, c.def.name));
          } else {
            // The last export of a stopping agent must not leave a backend holding a block in progress for minutes.
            const zero = this.stopping && c.def.name === LOOPWATCH_STALL_IN_PROGRESS;
            const observable = instrument(observables, c.def.name);
            for (const p of c.points) result.observe(observable, zero ? 0 : p.value, p.attributes);
          }
        }
        replay.endCollection();
      } catch (err) {
        this.diag.error('otel', 'collection failed', err);
      }
    };
    this.observables = [...observables.values()];
    meter.addBatchObservableCallback(this.callback, this.observables);
    this.meter = meter;
    this.setUpPush(provider, false);
  }
}

/** What is read of a resource: loopwatch's own, or the one in an SDK MeterProvider's private state. */
type ResourceLike = NonNullable<OtelSdkSharedState['resource']>;

/** The instrument made for each metric in bind(): every collected metric is one of METRICS, so it is there. */
function instrument<I>(made: ReadonlyMap<string, I>, name: string): I {
  const i = made.get(name);
  if (i === undefined) throw new Error(`no OTel instrument was made for ${name}`);
  return i;
}

/**
 * Whether an app MeterProvider exports over OTLP: one of its readers has an `OTLPMetricExporter` (the class of all
 * three OTLP exporter packages). Where the readers cannot be seen, an OTLP endpoint variable with
 * `OTEL_METRICS_EXPORTER` unset or including `otlp` (NodeSDK's rule) has to do.
 */
function appExportsOtlp(provider: object, otlpSelected: boolean): boolean {
  const collectors = otelSdkSharedState(provider)?.metricCollectors;
  if (Array.isArray(collectors)) return collectors.some((c) => c?._metricReader?._exporter?.constructor?.name === 'OTLPMetricExporter');
  const env = process.env;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT) && otlpSelected;
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
