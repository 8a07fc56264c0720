/** Where a finished stall goes besides the metrics: the app's 'stall' listeners and an OpenTelemetry log record. */
import type { EventEmitter } from 'node:events';
import type { ResolvedConfig } from '../config/config';
import { formatHeldBack } from '../export/console';
import type { OtelExporter } from '../export/otel';
import { describe, type Diagnostics } from '../runtime/diag';
import { otelRegistered } from '../runtime/otel-global';
import type { HeldBackReports, LoopwatchEvents, StallEvent } from '../types';

/** One OTel log record per stall, once a LoggerProvider is registered (loads the OTel API only then). */
export function emitStallLog(event: StallEvent, diag: Diagnostics, otel: OtelExporter | undefined): void {
  // The app's LoggerProvider if it registered one, else the one loopwatch's own OTLP export runs (if it does).
  const own = otelRegistered('logs') ? undefined : otel?.ownLoggerProvider;
  if (!own && !otelRegistered('logs')) {
    // A stall that ended while loopwatch's own OTLP pipeline loads gets its record once it runs.
    otel?.holdLogWhileStarting(() => emitStallLog(event, diag, otel));
    return;
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    (require('../export/otel-logs') as typeof import('../export/otel-logs')).emitStallLog(event, diag, own);
  } catch (err) {
    diag.error('otel', 'could not load the OpenTelemetry logs API', err);
  }
}

/**
 * On the main thread: stall reports the per-culprit cap held back that no later report said, where its stall reports
 * go — one line on stderr with `LOOPWATCH_LOG=stderr`, and a log record where stall log records are written.
 */
export function sayHeldBack(reports: HeldBackReports, config: Pick<ResolvedConfig, 'log' | 'otel'>, diag: Diagnostics, otel: OtelExporter | undefined): void {
  if (config.log === 'stderr') diag.warn(formatHeldBack(reports));
  if (config.otel) emitHeldBackLog(reports, diag, otel);
}

/** The log record of stall reports the cap held back, through the same provider as the stall records. */
function emitHeldBackLog(reports: HeldBackReports, diag: Diagnostics, otel: OtelExporter | undefined): void {
  const own = otelRegistered('logs') ? undefined : otel?.ownLoggerProvider;
  if (!own && !otelRegistered('logs')) return;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    (require('../export/otel-logs') as typeof import('../export/otel-logs')).emitHeldBackLog(reports, diag, own);
  } catch (err) {
    diag.error('otel', 'could not load the OpenTelemetry logs API', err);
  }
}

export function emitStall(agent: EventEmitter<LoopwatchEvents>, event: StallEvent, diag: Diagnostics): void {
  // Each listener on its own: a throwing one must neither become an uncaught exception thrown from loopwatch's
  // timer nor keep the listeners after it from hearing of the stall. (`rawListeners` keeps `once` semantics.)
  for (const listener of agent.rawListeners('stall') as Array<(e: StallEvent) => void>) {
    try {
      listener.call(agent, event);
    } catch (err) {
      diag.error('events', `a 'stall' listener threw: ${describe(err)}`);
    }
  }
}
