/**
 * Stall in progress over OTLP, pushed by the watchdog thread.
 *
 * OTLP export runs on the main thread, so it sends nothing while the main thread is blocked: a backend fed only
 * by OTLP would see `loopwatch.eventloop.stall.in_progress` at 0 until the freeze is over — too late to page
 * anyone. While a thread has been blocked for `afterMs`, the watchdog pushes that one gauge itself, every
 * `everyMs`, through the same OTLP exporter package, endpoint variables and resource as the main thread's export,
 * and pushes it once more when the stall ends (so a backend that keeps the last value — the Collector's
 * Prometheus exporter does, for minutes — does not keep a freeze that is over).
 */
import { describe, type Diagnostics } from '../runtime/diag';
import type { SignalSettings } from './otel-env';
import { METRIC_EXPORTERS, requireOtlpExporter, type OtlpProtocol } from './otlp-protocol';
import { ATTR_THREAD_NAME, LOOPWATCH_STALL_IN_PROGRESS, metricDefinition } from '../metrics/names';

export type ResourceValue = string | number | boolean | (string | number | boolean)[];

/** What the main thread tells the watchdog once loopwatch's metrics are bound to an OTLP pipeline. */
export interface OtlpPushConfig {
  protocol: OtlpProtocol;
  /** The main thread's export resource (its attributes, async ones settled), so the pushed series is the same series. */
  resource: Record<string, ResourceValue>;
  /**
   * The main thread's `OTEL_EXPORTER_OTLP_*` variables as they are at bind time: the watchdog's environment is a copy
   * taken at its start, before an app's dotenv or SDK setup may have set them.
   */
  env: Record<string, string>;
  /** loopwatch's version, the instrumentation scope's version. */
  scopeVersion: string;
  /** The main thread's OTLP logs settings: the watchdog's in-progress `loopwatch.stall` records go there (live-log.ts). */
  logs?: SignalSettings;
  /** Push once a thread has been blocked this long… */
  afterMs: number;
  /** …then again this often while it stays blocked. */
  everyMs: number;
}

export interface InProgressPoint {
  thread: string;
  seconds: number;
}

/** A thread as the push sees it (ThreadDirectory's entries). */
export interface PushThread {
  name: string;
  state: { running: boolean; blockedForMs(nowNs: bigint): number };
}

/**
 * When to push. Pure: the caller gives the time and the threads, `send` does the I/O. One push at a time; while one
 * is in flight only the latest state waits (so a slow or dead endpoint costs one pending push, not a queue).
 *
 * An episode starts with the first push of a thread blocked for `afterMs` and ends with a push of 0 for every thread
 * it pushed — also for one that has gone since (a terminated worker), and at `close()` (agent stopped, process
 * exiting), since a backend keeps the last value of a series it hears no more of.
 */
export class StallPush {
  /** Time of the last push of the current episode. */
  private lastPushNs: bigint | undefined;
  /** Threads pushed with a value above 0 in this episode: each gets its 0 before the episode is over. */
  private readonly pushed = new Set<string>();
  private inFlight = false;
  private pending: PushJob | undefined;
  private drained: (() => void)[] = [];
  /** After close() (agent stopping, process exiting) nothing more is pushed. */
  private closed = false;

  constructor(
    private readonly policy: Pick<OtlpPushConfig, 'afterMs' | 'everyMs'>,
    private readonly send: (points: InProgressPoint[], atMs: number) => Promise<void>,
    /** Told when an episode opens (a value above 0 went out) and when its closing push has been sent. */
    private readonly onEpisode: (open: boolean) => void = () => {},
    private readonly wallMs: () => number = Date.now,
  ) {}

  poll(nowNs: bigint, threads: Iterable<PushThread>): void {
    if (this.closed) return;
    const points: InProgressPoint[] = [];
    let longestMs = 0;
    for (const t of threads) {
      if (!t.state.running) continue;
      const ms = t.state.blockedForMs(nowNs);
      longestMs = Math.max(longestMs, ms);
      points.push({ thread: t.name, seconds: ms / 1000 });
    }
    if (longestMs >= this.policy.afterMs) {
      if (this.lastPushNs !== undefined && Number(nowNs - this.lastPushNs) / 1e6 < this.policy.everyMs) return;
      this.lastPushNs = nowNs;
      this.push(this.withGone(points));
      for (const p of points) if (p.seconds > 0) this.pushed.add(p.thread);
      this.onEpisode(true);
    } else if (this.lastPushNs !== undefined) {
      // The episode is over: say so, with the values of now (0 for threads running again or gone).
      this.lastPushNs = undefined;
      this.closeEpisode(this.withGone(points));
    }
  }

  /** Ends an open episode at once (0 for every thread it pushed) and for good; resolves when nothing is left to send. */
  close(): Promise<void> {
    this.closed = true;
    if (this.lastPushNs !== undefined || this.pushed.size > 0) {
      this.lastPushNs = undefined;
      this.closeEpisode(this.withGone([]));
    }
    return this.inFlight ? new Promise((resolve) => this.drained.push(resolve)) : Promise.resolve();
  }

  /** Undefined when no push is in flight; else resolves once none is (the latest state sent too). */
  settled(): Promise<void> | undefined {
    return this.inFlight ? new Promise((resolve) => this.drained.push(resolve)) : undefined;
  }

  /** `points` plus a 0 for each thread of this episode that is not among them. */
  private withGone(points: InProgressPoint[]): InProgressPoint[] {
    const out = points.slice();
    for (const name of this.pushed) if (!points.some((p) => p.thread === name)) out.push({ thread: name, seconds: 0 });
    return out;
  }

  private closeEpisode(points: InProgressPoint[]): void {
    this.pushed.clear();
    this.push(points, () => {
      if (this.lastPushNs === undefined) this.onEpisode(false);
    });
  }

  private push(points: InProgressPoint[], sent?: () => void): void {
    const job: PushJob = { points, atMs: this.wallMs(), sent: sent ? [sent] : [] };
    if (this.inFlight) {
      // Only the latest state waits; a thread only the superseded state had (one that has gone, with its 0) stays.
      const old = this.pending;
      if (old) {
        for (const p of old.points) if (!job.points.some((q) => q.thread === p.thread)) job.points.push(p);
        job.sent.unshift(...old.sent);
      }
      this.pending = job;
      return;
    }
    this.run(job);
  }

  private run(job: PushJob): void {
    this.inFlight = true;
    // `send` reports its own failures and never rejects; `finally` keeps the chain going if one does anyway.
    void this.send(job.points, job.atMs).finally(() => {
      this.inFlight = false;
      for (const f of job.sent) f();
      const next = this.pending;
      this.pending = undefined;
      if (next) this.run(next);
      else for (const resolve of this.drained.splice(0)) resolve();
    });
  }
}

interface PushJob {
  points: InProgressPoint[];
  /** When the values were read (the data point's time). */
  atMs: number;
  /** Called once the job has been sent. */
  sent: (() => void)[];
}

/** The variables the OTLP exporters read their endpoint, headers, timeout, compression and certificates from. */
export const OTLP_ENV_PREFIX = 'OTEL_EXPORTER_OTLP_';

type HrTime = [number, number];
interface PushExporter {
  export(metrics: unknown, done: (result: { code: number; error?: Error }) => void): void;
}

/**
 * Sends in-progress points through the OTLP metric exporter of `config.protocol`, which reads the endpoint, headers,
 * timeout, compression and certificate variables itself (as the main thread's exporter does). The exporter is
 * loaded at the first push (~0.2 s of the watchdog's time, ~10 MB), so a process that never stalls for `afterMs`
 * never pays for it.
 */
export function otlpInProgressSender(config: OtlpPushConfig, outage: PushOutage): (points: InProgressPoint[], atMs: number) => Promise<void> {
  const def = metricDefinition(LOOPWATCH_STALL_IN_PROGRESS);
  /** Set at the first push, once everything it needs has loaded. */
  let loaded: { exporter: PushExporter; resource: unknown; kinds: { gauge: number; cumulative: number; double: number } } | undefined;
  return (points, atMs) =>
    new Promise<void>((resolve) => {
      try {
        if (!loaded) {
          useMainThreadOtlpEnv(config);
          /* eslint-disable @typescript-eslint/no-require-imports */
          const { resourceFromAttributes } = require('@opentelemetry/resources') as typeof import('@opentelemetry/resources');
          const sdk = require('@opentelemetry/sdk-metrics') as typeof import('@opentelemetry/sdk-metrics');
          const api = require('@opentelemetry/api') as typeof import('@opentelemetry/api');
          const { OTLPMetricExporter } = requireOtlpExporter(METRIC_EXPORTERS[config.protocol], config.protocol) as unknown as { OTLPMetricExporter: new () => PushExporter };
          /* eslint-enable @typescript-eslint/no-require-imports */
          const resource = resourceFromAttributes(config.resource);
          const kinds = { gauge: sdk.DataPointType.GAUGE, cumulative: sdk.AggregationTemporality.CUMULATIVE, double: api.ValueType.DOUBLE };
          loaded = { exporter: new OTLPMetricExporter(), resource, kinds };
        }
        const { exporter, resource, kinds } = loaded;
        const time: HrTime = [Math.floor(atMs / 1000), (atMs % 1000) * 1e6];
        const request = {
          resource,
          scopeMetrics: [
            {
              scope: { name: 'loopwatch', version: config.scopeVersion },
              metrics: [
                {
                  descriptor: { name: def.name, description: def.description, unit: def.unit, valueType: kinds.double },
                  aggregationTemporality: kinds.cumulative,
                  dataPointType: kinds.gauge,
                  dataPoints: points.map((p) => ({ startTime: time, endTime: time, attributes: { [ATTR_THREAD_NAME]: p.thread }, value: p.seconds })),
                },
              ],
            },
          ],
        };
        exporter.export(request, (result) => {
          if (result.code !== 0) outage.failed(result.error ?? 'no detail');
          else outage.ok();
          resolve();
        });
      } catch (err) {
        outage.failed(err);
        resolve();
      }
    });
}

/** The exporters read their settings from this thread's environment: make it the main thread's, as of bind time. */
export function useMainThreadOtlpEnv(config: Pick<OtlpPushConfig, 'env'>): void {
  // Unsets each variable (process.env's delete), as `delete process.env[key]` does.
  for (const key of Object.keys(process.env)) if (key.startsWith(OTLP_ENV_PREFIX)) Reflect.deleteProperty(process.env, key);
  Object.assign(process.env, config.env);
}

/**
 * Failed pushes, said once per outage: the first failure is one line, the next ones are only counted (`count`, the
 * error self-metric), and the first push that goes through again says how many failed. Shared by the watchdog's
 * metric and log pushes (one collector down is one outage).
 */
export class PushOutage {
  private failures = 0;

  constructor(
    private readonly diag: Pick<Diagnostics, 'warn'>,
    private readonly count: () => void,
  ) {}

  failed(err: unknown): void {
    this.failures++;
    try {
      this.count();
    } catch (countErr) {
      this.diag.warn(`otel: could not count a failed push: ${describe(countErr)}`);
    }
    if (this.failures === 1) this.diag.warn(`otel: could not push the stall in progress over OTLP: ${describe(err)} (said again when a push goes through)`);
  }

  ok(): void {
    if (this.failures === 0) return;
    const n = this.failures;
    this.failures = 0;
    this.diag.warn(`otel: the OTLP push of the stall in progress works again, after ${n} failed push${n === 1 ? '' : 'es'}`);
  }
}
