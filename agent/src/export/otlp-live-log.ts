/**
 * The watchdog's `loopwatch.stall` log record of a stall still running (state `in_progress`), over OTLP from the
 * watchdog thread: the main thread's log export cannot run while it is blocked, and a process killed mid-stall never
 * gets to send the final one. Same exporter package, endpoint settings and resource as the main thread's records
 * (OtlpPushConfig). Each record is exported as soon as it is emitted (a simple processor): the process may be killed
 * next, and the first failing `/livez` of a stall waits for its record (health/probes.ts).
 */
import type { Diagnostics } from '../runtime/diag';
import type { InProgressStall } from './otel-logs';
import { exporterConfig, withoutRetries } from './otel-own';
import { LOG_EXPORTERS, requireOtlpExporter } from './otlp-protocol';
import { useMainThreadOtlpEnv, type OtlpPushConfig, type PushOutage } from './otlp-push';

export interface LiveLogSender {
  /** Sends the record now; resolves once its export has ended (sent, or failed: said by the outage), never rejects. */
  emit(e: InProgressStall): Promise<void>;
  /** The SDK and exporter are loaded (the first emit loads them, synchronously: hundreds of ms on a loaded machine). */
  readonly loaded: boolean;
  /** Sends what is in flight and stops; never rejects. */
  close(): Promise<void>;
}

interface ExportResultLike {
  code: number;
  error?: Error;
}
interface LogExporterLike {
  export(records: unknown, done: (r: ExportResultLike) => void): void;
  shutdown(): Promise<void>;
  forceFlush?(): Promise<void>;
}

/**
 * Undefined when the main thread does not export logs over OTLP. The SDK and exporter are loaded at the first
 * record (a process whose stalls never reach the report age never pays for them).
 */
export function otlpLiveLogSender(config: OtlpPushConfig, diag: Diagnostics, outage: PushOutage): LiveLogSender | undefined {
  const logs = config.logs;
  if (!logs?.enabled) return undefined;
  let provider: (import('@opentelemetry/api').LoggerProvider & { forceFlush(): Promise<void>; shutdown(): Promise<void> }) | undefined;
  const start = (): NonNullable<typeof provider> => {
    useMainThreadOtlpEnv(config);
    /* eslint-disable @typescript-eslint/no-require-imports */
    const { LoggerProvider, SimpleLogRecordProcessor } = require('@opentelemetry/sdk-logs') as typeof import('@opentelemetry/sdk-logs');
    const { resourceFromAttributes } = require('@opentelemetry/resources') as typeof import('@opentelemetry/resources');
    const { OTLPLogExporter } = requireOtlpExporter(LOG_EXPORTERS[logs.protocol], logs.protocol) as unknown as { OTLPLogExporter: new (c: object) => LogExporterLike };
    /* eslint-enable @typescript-eslint/no-require-imports */
    const inner = new OTLPLogExporter(exporterConfig('LOGS', logs, diag));
    withoutRetries(inner, diag);
    const exporter: LogExporterLike = {
      export(records, done) {
        let ended!: () => void;
        exporting?.push(new Promise<void>((resolve) => (ended = resolve)));
        inner.export(records, (r) => {
          if (r.code === 0) outage.ok();
          else outage.failed(r.error ?? 'no detail');
          done(r);
          ended();
        });
      },
      shutdown: () => inner.shutdown(),
      forceFlush: () => inner.forceFlush?.() ?? Promise.resolve(),
    };
    const processor = new SimpleLogRecordProcessor({ exporter: exporter as unknown as import('@opentelemetry/sdk-logs').LogRecordExporter });
    return new LoggerProvider({ resource: resourceFromAttributes(config.resource), processors: [processor] });
  };
  let closed = false;
  /**
   * The exports started while a record is emitted. The simple processor exports each record inside its emit (the
   * resource has no asynchronous attributes), so these are that record's; its forceFlush() does not wait for them.
   */
  let exporting: Promise<void>[] | undefined;
  return {
    emit(e) {
      if (closed) return Promise.resolve();
      const mine: Promise<void>[] = [];
      try {
        provider ??= start();
        exporting = mine;
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        (require('./otel-logs') as typeof import('./otel-logs')).emitStallLog(e, diag, provider, 'in_progress');
      } catch (err) {
        diag.error('otel', 'could not push the in-progress stall log record over OTLP', err);
      } finally {
        exporting = undefined;
      }
      return Promise.all(mine).then(() => undefined);
    },
    get loaded() {
      return provider !== undefined;
    },
    close: () => {
      closed = true;
      return provider ? provider.shutdown().catch((err: unknown) => diag.error('otel', 'could not close the in-progress stall log export', err)) : Promise.resolve();
    },
  };
}
