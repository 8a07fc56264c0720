import type { Histogram, Meter, MeterProvider, Observable } from '@opentelemetry/api';
import type { Collected, MetricsCollector } from '../metrics/collect';
import { METRICS } from '../metrics/names';
import type { Diagnostics } from '../diag';
import type { ResolvedOtel } from '../config';
import { loadOtelApi, otelRegistered } from '../otel-global';

const SCOPE = 'loopwatch';

/**
 * Publishes loopwatch's metrics through the OpenTelemetry metrics API.
 *
 * The API has no proxy meter provider: instruments created before the app's
 * SDK registers stay no-ops forever. So until a real provider is registered
 * we check for one on a slow unref'd timer and bind once it appears; with
 * OTLP asked for and no provider, we start the SDK ourselves. The check reads
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
  private sdk: { shutdown(): Promise<void> } | undefined;
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
      this.startSdk();
      const started = this.globalProvider();
      if (started) return this.bind(started);
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

  get bound(): boolean {
    return this.meter !== undefined;
  }

  async stop(): Promise<void> {
    if (this.detectTimer) clearInterval(this.detectTimer);
    if (this.meter && this.callback) this.meter.removeBatchObservableCallback(this.callback, this.observables);
    this.meter = undefined;
    if (this.sdk) await this.sdk.shutdown().catch((err: unknown) => this.diag.error('otel', 'SDK shutdown failed', err));
  }

  private globalProvider(): MeterProvider | undefined {
    if (!otelRegistered('metrics')) return undefined;
    const api = loadOtelApi((err) => this.diag.error('otel', 'could not load @opentelemetry/api', err));
    if (!api) return undefined;
    // Through the API, which checks the registered provider's API version is compatible with ours.
    const provider = api.metrics.getMeterProvider();
    return provider.getMeter(SCOPE, this.version) instanceof api.createNoopMeter().constructor ? undefined : provider;
  }

  private startSdk(): void {
    try {
      // Loaded only when needed: the SDK is large and most apps bring their own.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { NodeSDK } = require('@opentelemetry/sdk-node') as typeof import('@opentelemetry/sdk-node');
      const sdk = new NodeSDK({ serviceName: this.options.serviceName, instrumentations: [] });
      sdk.start();
      this.sdk = sdk;
    } catch (err) {
      this.diag.error('otel', 'could not start the OpenTelemetry SDK for OTLP export', err);
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
