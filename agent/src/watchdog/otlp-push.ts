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
import type { Diagnostics } from '../diag';
import { METRIC_EXPORTERS } from '../export/otlp-protocol';
import { ATTR_THREAD_NAME, LOOPWATCH_STALL_IN_PROGRESS, METRICS } from '../metrics/names';

export type ResourceValue = string | number | boolean | (string | number | boolean)[];

/** What the main thread tells the watchdog once loopwatch's metrics are bound to an OTLP pipeline. */
export interface OtlpPushConfig {
  /** A key of METRIC_EXPORTERS. */
  protocol: string;
  /** The main thread's export resource (its synchronous attributes), so the pushed series is the same series. */
  resource: Record<string, ResourceValue>;
  /** loopwatch's version, the instrumentation scope's version. */
  scopeVersion: string;
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
 */
export class StallPush {
  /** Time of the last push of the current episode (a stretch with some thread blocked ≥ afterMs). */
  private lastPushNs: bigint | undefined;
  private inFlight = false;
  private pending: InProgressPoint[] | undefined;

  constructor(
    private readonly policy: Pick<OtlpPushConfig, 'afterMs' | 'everyMs'>,
    private readonly send: (points: InProgressPoint[]) => Promise<void>,
  ) {}

  poll(nowNs: bigint, threads: Iterable<PushThread>): void {
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
      this.push(points);
    } else if (this.lastPushNs !== undefined) {
      // The episode is over: say so, with the values of now (0 for threads running again).
      this.lastPushNs = undefined;
      this.push(points);
    }
  }

  private push(points: InProgressPoint[]): void {
    if (this.inFlight) {
      this.pending = points;
      return;
    }
    this.inFlight = true;
    // `send` reports its own failures and never rejects; `finally` keeps the chain going if one does anyway.
    void this.send(points).finally(() => {
      this.inFlight = false;
      const next = this.pending;
      this.pending = undefined;
      if (next) this.push(next);
    });
  }
}

type HrTime = [number, number];
interface PushExporter {
  export(metrics: unknown, done: (result: { code: number; error?: Error }) => void): void;
}

/**
 * Sends in-progress points through the OTLP metric exporter of `config.protocol`, which reads the endpoint, headers,
 * timeout, compression and certificate variables itself (as the main thread's exporter does). The exporter is
 * loaded at the first push, so a process that never stalls for `afterMs` never pays for it in the watchdog.
 */
export function otlpInProgressSender(config: OtlpPushConfig, diag: Diagnostics): (points: InProgressPoint[]) => Promise<void> {
  const def = METRICS.find((m) => m.name === LOOPWATCH_STALL_IN_PROGRESS)!;
  let exporter: PushExporter | undefined;
  let resource: unknown;
  let kinds: { gauge: number; cumulative: number; double: number } | undefined;
  return (points) =>
    new Promise<void>((resolve) => {
      try {
        if (!exporter) {
          /* eslint-disable @typescript-eslint/no-require-imports */
          const { resourceFromAttributes } = require('@opentelemetry/resources') as typeof import('@opentelemetry/resources');
          const sdk = require('@opentelemetry/sdk-metrics') as typeof import('@opentelemetry/sdk-metrics');
          const api = require('@opentelemetry/api') as typeof import('@opentelemetry/api');
          const { OTLPMetricExporter } = require(METRIC_EXPORTERS[config.protocol]!) as { OTLPMetricExporter: new () => PushExporter };
          /* eslint-enable @typescript-eslint/no-require-imports */
          resource = resourceFromAttributes(config.resource);
          kinds = { gauge: sdk.DataPointType.GAUGE, cumulative: sdk.AggregationTemporality.CUMULATIVE, double: api.ValueType.DOUBLE };
          exporter = new OTLPMetricExporter();
        }
        const ms = Date.now();
        const time: HrTime = [Math.floor(ms / 1000), (ms % 1000) * 1e6];
        const request = {
          resource,
          scopeMetrics: [
            {
              scope: { name: 'loopwatch', version: config.scopeVersion },
              metrics: [
                {
                  descriptor: { name: def.name, description: def.description, unit: def.unit, valueType: kinds!.double },
                  aggregationTemporality: kinds!.cumulative,
                  dataPointType: kinds!.gauge,
                  dataPoints: points.map((p) => ({ startTime: time, endTime: time, attributes: { [ATTR_THREAD_NAME]: p.thread }, value: p.seconds })),
                },
              ],
            },
          ],
        };
        exporter.export(request, (result) => {
          if (result.code !== 0) diag.error('otel', 'could not push the stall in progress over OTLP', result.error);
          resolve();
        });
      } catch (err) {
        diag.error('otel', 'could not push the stall in progress over OTLP', err);
        resolve();
      }
    });
}
