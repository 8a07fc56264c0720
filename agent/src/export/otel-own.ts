/**
 * loopwatch's own OTLP pipeline (OTLP asked for, no MeterProvider registered): a MeterProvider and a LoggerProvider
 * of loopwatch's own, **never registered globally**, whose exports can never hold the process open.
 *
 * Whatever the collector does (accepts and never answers, answers slowly, resets, fails TLS, is not in DNS):
 * - the exporters' sockets are unref'd (an in-flight export does not keep an app that is done alive);
 * - the SDK never waits on an export under a ref'd timer, and the exporters do not retry on ref'd timers
 *   (detachedExporter, withoutRetries);
 * - a failed export is one diagnostic line (at most once a minute), not silence;
 * - shutdown (agent.stop(), the last flush) waits at most SHUTDOWN_DEADLINE_MS.
 */
import { readFileSync } from 'node:fs';
import type { Agent as HttpAgent } from 'node:http';
import type { Socket } from 'node:net';
import { describe, type Diagnostics } from '../runtime/diag';
import type { OtlpSignal } from './otlp-protocol';
import { LOG_EXPORTERS, METRIC_EXPORTERS, requireOtlpExporter } from './otlp-protocol';
import type { OtelEnvSettings, SignalSettings } from './otel-env';

/** agent.stop() and the exit flush wait this long at most for the last export. */
export const SHUTDOWN_DEADLINE_MS = 2000;

interface ExportResult {
  code: number;
  error?: Error;
}
interface PushExporterLike {
  export(data: unknown, done: (r: ExportResult) => void): void;
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
  selectAggregationTemporality?(t: unknown): unknown;
}

/** Resolves with `p`, or after `ms` whatever `p` does; the timer holds the process only while someone awaits it. */
export function withDeadline<T>(p: Promise<T>, ms: number, onLate: () => void): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => {
      onLate();
      resolve(undefined);
    }, ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/**
 * An http(s) Agent factory for the OTLP HTTP exporters whose sockets never keep the process alive. Node re-refs a
 * kept-alive socket when it reuses it (`reuseSocket`), so both ways a socket gets a request are covered. Passing a
 * factory replaces the exporter's own, which would have read the certificate variables: they are read here.
 */
function unrefAgentFactory(signal: OtlpSignal, diag: Diagnostics, env = process.env): (protocol: string) => Promise<HttpAgent> {
  // A throw while making the agent rejects the promise, as the exporter expects of its factory.
  return (protocol) => new Promise((resolve) => resolve(unrefAgent(signal, diag, env, protocol)));
}

function unrefAgent(signal: OtlpSignal, diag: Diagnostics, env: NodeJS.ProcessEnv, protocol: string): HttpAgent {
  const file = (name: string): Buffer | undefined => {
    const path = env[`OTEL_EXPORTER_OTLP_${signal}_${name}`] ?? env[`OTEL_EXPORTER_OTLP_${name}`];
    if (!path) return undefined;
    try {
      return readFileSync(path);
    } catch (err) {
      diag.error('otel', `could not read the OTLP ${name.toLowerCase().replace('_', ' ')} file`, err);
      return undefined;
    }
  };
  const secure = protocol === 'https:';
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Agent } = (secure ? require('node:https') : require('node:http')) as typeof import('node:https');
  const agent = secure
    ? new Agent({ keepAlive: true, ca: file('CERTIFICATE'), cert: file('CLIENT_CERTIFICATE'), key: file('CLIENT_KEY') })
    : new Agent({ keepAlive: true });
  const create = agent.createConnection.bind(agent) as (...args: unknown[]) => Socket;
  (agent as unknown as { createConnection: (...args: unknown[]) => Socket }).createConnection = (...args: unknown[]) => create(...args).unref();
  const reuse = agent.reuseSocket.bind(agent);
  agent.reuseSocket = (socket: Socket, req) => {
    reuse(socket, req);
    socket.unref();
  };
  return agent;
}

/** The exporter class of a signal's validated protocol, loaded on demand; undefined if it cannot be. */
function exporterClass(signal: OtlpSignal, settings: SignalSettings, diag: Diagnostics): (new (config: object) => unknown) | undefined {
  const module = (signal === 'METRICS' ? METRIC_EXPORTERS : LOG_EXPORTERS)[settings.protocol];
  try {
    // Loaded only when needed: most apps bring their own SDK, or scrape Prometheus. Only http/protobuf is bundled.
    const loaded = requireOtlpExporter(module, settings.protocol, protocolVariable(signal)) as Record<string, new (config: object) => unknown>;
    return loaded[signal === 'METRICS' ? 'OTLPMetricExporter' : 'OTLPLogExporter'];
  } catch (err) {
    diag.error('otel', `could not load ${module}`, err);
    return undefined;
  }
}

/** The variable that chose a signal's protocol, for the message when its exporter is not installed. */
function protocolVariable(signal: OtlpSignal): string {
  const specific = `OTEL_EXPORTER_OTLP_${signal}_PROTOCOL`;
  return process.env[specific] ? specific : 'OTEL_EXPORTER_OTLP_PROTOCOL';
}

function origin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}

/** Constructor options for an OTLP exporter of loopwatch's own pipeline. */
export function exporterConfig(signal: OtlpSignal, settings: SignalSettings, diag: Diagnostics): object {
  const config: Record<string, unknown> = { timeoutMillis: settings.timeoutMs };
  if (settings.url) config.url = settings.url;
  // gRPC keeps its channel unref'd itself; only the HTTP exporters take an agent.
  if (settings.protocol !== 'grpc') config.httpAgentOptions = unrefAgentFactory(signal, diag);
  return config;
}

/**
 * The exporter packages retry a failed export (429, 502–504, resets, DNS errors, timeouts) on ref'd timers, for up to
 * their timeout: a failing collector would hold an idle process for that long, every export. loopwatch's points
 * are cumulative (the next export carries them) and a stall record is worth less than an app that cannot exit, so
 * its own exporters send each export once. The retrying layer is a private field of the exporter (otlp-exporter-base
 * 0.2xx/0.3xx): each part is checked before use; where it is not there the exporter keeps its retries.
 */
export function withoutRetries(exporter: object, diag: Diagnostics): void {
  interface Transport {
    send?: unknown;
    _transport?: Transport;
    constructor?: { name?: string };
  }
  const delegate = (exporter as { _delegate?: { _transport?: Transport } })._delegate;
  const retrying = delegate?._transport;
  if (delegate && retrying?.constructor?.name === 'RetryingTransport' && typeof retrying._transport?.send === 'function') delegate._transport = retrying._transport;
  else diag.error('otel', 'the OTLP exporter has no retrying transport where expected; its retries may hold an idle process for up to its timeout');
}

/**
 * What the SDK's reader / batch processor calls, around an OTLP exporter, so that no export holds the process:
 * - the SDK awaits each export under a ref'd timeout timer (up to OTEL_METRIC_EXPORT_TIMEOUT, 30 s): the SDK is
 *   answered at once and the export tracked here; `forceFlush()` (the last flush at shutdown) waits for it;
 * - one export in flight at most: one due while the last is still out is skipped (cumulative points: the next export
 *   carries them), so a hanging collector costs one socket, not one per interval;
 * - a failed export is one diagnostic line (at most once a minute).
 */
function detachedExporter(inner: PushExporterLike, diag: Diagnostics, what: string, where: string): PushExporterLike {
  let inFlight: Promise<void> | undefined;
  // Keyed by the collector, not the signal: one collector down is one line, not one for metrics and one for logs.
  const failed = (err: unknown) => diag.error('otel', `OTLP export to ${origin(where)} failed`, `${what}: ${describe(err)}`);
  return {
    export(data, done) {
      if (!inFlight) {
        inFlight = new Promise<void>((resolve) => {
          try {
            inner.export(data, (r) => {
              if (r.code !== 0) failed(r.error ?? 'no detail');
              resolve();
            });
          } catch (err) {
            failed(err);
            resolve();
          }
        }).finally(() => (inFlight = undefined));
      }
      done({ code: 0 });
    },
    forceFlush: async () => {
      await inFlight;
      await inner.forceFlush();
    },
    shutdown: async () => {
      await inFlight;
      await inner.shutdown();
    },
    selectAggregationTemporality: inner.selectAggregationTemporality?.bind(inner),
  };
}

export interface OwnPipeline {
  provider: import('@opentelemetry/api').MeterProvider & { shutdown(): Promise<void> };
  logs: (import('@opentelemetry/api').LoggerProvider & { shutdown(): Promise<void> }) | undefined;
}

/** Starts the providers; undefined (with the reason said) if metrics cannot be exported. */
export function startOwnPipeline(
  settings: OtelEnvSettings,
  resource: import('@opentelemetry/resources').Resource,
  producer: import('@opentelemetry/sdk-metrics').MetricProducer,
  diag: Diagnostics,
): OwnPipeline | undefined {
  let logs: OwnPipeline['logs'];
  const LogExporter = settings.logs.enabled ? exporterClass('LOGS', settings.logs, diag) : undefined;
  if (LogExporter) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { LoggerProvider, BatchLogRecordProcessor } = require('@opentelemetry/sdk-logs') as typeof import('@opentelemetry/sdk-logs');
      const inner = new LogExporter(exporterConfig('LOGS', settings.logs, diag)) as PushExporterLike;
      withoutRetries(inner, diag);
      const exporter = detachedExporter(inner, diag, 'stall log records', settings.logs.url ?? 'the default endpoint') as unknown as import('@opentelemetry/sdk-logs').LogRecordExporter;
      logs = new LoggerProvider({ resource, processors: [new BatchLogRecordProcessor({ exporter })] });
    } catch (err) {
      diag.error('otel', 'could not start OTLP export of stall log records', err);
    }
  }
  const MetricExporter = settings.metrics.enabled ? exporterClass('METRICS', settings.metrics, diag) : undefined;
  if (!MetricExporter) return undefined;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { MeterProvider, PeriodicExportingMetricReader } = require('@opentelemetry/sdk-metrics') as typeof import('@opentelemetry/sdk-metrics');
    const inner = new MetricExporter(exporterConfig('METRICS', settings.metrics, diag)) as PushExporterLike;
    withoutRetries(inner, diag);
    const exporter = detachedExporter(inner, diag, 'metrics', settings.metrics.url ?? 'the default endpoint');
    const reader = new PeriodicExportingMetricReader({
      exporter: exporter as unknown as import('@opentelemetry/sdk-metrics').PushMetricExporter,
      exportIntervalMillis: settings.intervalMs,
      // The SDK refuses a timeout longer than the interval.
      exportTimeoutMillis: Math.min(settings.intervalMs, settings.exportTimeoutMs),
      metricProducers: [producer],
    });
    return { provider: new MeterProvider({ resource, readers: [reader] }), logs };
  } catch (err) {
    diag.error('otel', 'could not start OTLP export of loopwatch metrics', err);
    return undefined;
  }
}
