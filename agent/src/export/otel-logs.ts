import { context, logs, ROOT_CONTEXT, SeverityNumber, trace, TraceFlags, type LoggerProvider } from '@opentelemetry/api';
import type { Diagnostics } from '../runtime/diag';
import { ATTR_BLOCKED_WITHIN, ATTR_CONFIDENCE, ATTR_CULPRIT, ATTR_GRAPHQL_OPERATION_NAME, ATTR_GRAPHQL_OPERATION_TYPE, ATTR_HTTP_ROUTE, ATTR_STACK_SOURCE, ATTR_THREAD_NAME } from '../metrics/names';
import { culpritLabel } from '../attribution/culprit';
import type { HeldBackReports, StallEvent } from '../types';
import { formatHeldBack } from './console';

const STALL_EVENT_NAME = 'loopwatch.stall';
/** `loopwatch.stall.state`: the watchdog's report of a stall still running, or the stalled thread's once it is over. */
export type StallLogState = 'in_progress' | 'ended';

/**
 * A stall still running, as the watchdog knows it so far (watchdog/live-report.ts): what its samples show, with the
 * duration so far. No stack source before the first sample, and none of the fields only the stalled thread decides
 * once the block is over (confidence, samples, victims, deep mode's origin…).
 */
export type InProgressStall = Pick<StallEvent, 'durationMs' | 'startTime' | 'thread' | 'stack' | 'stallId' | 'culprit' | 'route' | 'traceId' | 'spanId' | 'resourceType'> & {
  stackSource?: StallEvent['stackSource'];
};

/** What a record is written from: a stall event (`ended`) or a stall in progress (the fields it lacks read as absent). */
type StallLogSource = StallEvent | (InProgressStall & Partial<Omit<StallEvent, keyof InProgressStall>>);

/**
 * One OpenTelemetry log record per (rate-capped) stall, through the app's global
 * LoggerProvider or the one loopwatch's own OTLP export runs (`provider`), carrying
 * the stalled request's trace context. Attribute names follow the semantic
 * conventions where they exist (code.*, http.route, thread.name). The watchdog writes the same record, with state
 * `in_progress` and the duration so far, while a stall lasts (watchdog/live-report.ts); `loopwatch.stall.id` links them.
 */
export function emitStallLog(e: StallLogSource, diag: Diagnostics, provider?: LoggerProvider, state: StallLogState = 'ended'): void {
  try {
    const top = e.stack.at(0);
    const attributes: Record<string, string | number> = {
      'loopwatch.stall.duration_ms': Math.round(e.durationMs * 10) / 10,
      [ATTR_THREAD_NAME]: e.thread,
      // The same label as the culprit counter and the span events (`unknown` when no sample named the code).
      [ATTR_CULPRIT]: culpritLabel(e),
      'loopwatch.stall.state': state,
    };
    if (e.stackSource) attributes[ATTR_STACK_SOURCE] = e.stackSource;
    if (e.confidence !== undefined) attributes[ATTR_CONFIDENCE] = e.confidence;
    if (e.blockedWithin?.length) attributes[ATTR_BLOCKED_WITHIN] = e.blockedWithin.join(' | ');
    if (e.stallId) attributes['loopwatch.stall.id'] = e.stallId;
    if (e.suppressed) attributes['loopwatch.stall.suppressed'] = e.suppressed;
    // A late stack's top frame ran after the blocking call: the code.* location would name an innocent function.
    if (top && e.stackSource !== 'late') {
      attributes['code.function.name'] = top.functionName;
      attributes['code.file.path'] = top.fileName;
      attributes['code.line.number'] = top.lineNumber;
      attributes['code.column.number'] = top.columnNumber;
    }
    if (e.stack.length) attributes['code.stacktrace'] = e.stack.map((f) => `    at ${f.functionName || '<anonymous>'} (${f.fileName}:${f.lineNumber}:${f.columnNumber})`).join('\n');
    if (e.route) attributes[ATTR_HTTP_ROUTE] = e.route;
    else if (e.unknownRequest) attributes['loopwatch.stall.request_unknown'] = e.unknownRequest;
    if (e.graphqlOperation) {
      attributes[ATTR_GRAPHQL_OPERATION_TYPE] = e.graphqlOperation.type;
      if (e.graphqlOperation.name) attributes[ATTR_GRAPHQL_OPERATION_NAME] = e.graphqlOperation.name;
    }
    if (e.resourceType) attributes['loopwatch.resource.type'] = e.resourceType;
    if (e.victims !== undefined) attributes['loopwatch.stall.victims'] = e.victims;
    const origin = e.origin?.[0];
    if (origin) attributes['loopwatch.stall.origin'] = `${origin.functionName || '<anonymous>'} (${origin.fileName}:${origin.lineNumber}:${origin.columnNumber})`;
    const ctx =
      e.traceId && e.spanId ? trace.setSpanContext(ROOT_CONTEXT, { traceId: e.traceId, spanId: e.spanId, traceFlags: TraceFlags.SAMPLED }) : context.active();
    (provider ?? logs).getLogger('loopwatch').emit({
      eventName: STALL_EVENT_NAME,
      severityNumber: SeverityNumber.WARN,
      severityText: 'WARN',
      body: `${state === 'ended' ? 'event loop stalled for' : 'event loop blocked (stall in progress) for'} ${Math.round(e.durationMs)} ms on ${e.thread}${e.culprit ? ` in ${e.culprit}` : ''}${e.route ? ` (${e.route})` : ''}`,
      attributes,
      timestamp: e.startTime,
      context: ctx,
    });
  } catch (err) {
    diag.error('otel', 'could not emit the stall log record', err);
  }
}

/** `eventName` of the record that says stall reports the per-culprit cap held back (formatHeldBack's line). */
const HELD_BACK_EVENT_NAME = 'loopwatch.stall.suppressed';

/**
 * One log record for stall reports the per-culprit cap held back that no later report said: the culprit label (as
 * on the counters), the route they were grouped by when no culprit was known, the thread and how many.
 */
export function emitHeldBackLog(r: HeldBackReports, diag: Diagnostics, provider?: LoggerProvider): void {
  try {
    const attributes: Record<string, string | number> = {
      [ATTR_THREAD_NAME]: r.thread,
      [ATTR_CULPRIT]: culpritLabel(r),
      'loopwatch.stall.suppressed': r.suppressed,
    };
    if (r.route !== undefined) attributes[ATTR_HTTP_ROUTE] = r.route;
    (provider ?? logs).getLogger('loopwatch').emit({
      eventName: HELD_BACK_EVENT_NAME,
      severityNumber: SeverityNumber.WARN,
      severityText: 'WARN',
      body: formatHeldBack(r),
      attributes,
      timestamp: r.untilMs,
    });
  } catch (err) {
    diag.error('otel', 'could not emit the log record of stall reports held back', err);
  }
}
