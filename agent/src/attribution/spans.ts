/**
 * `loopwatch.stall` span events: on the stalled request's own span and on the span of every other request that
 * was in flight during the stall (its victims). Runs on the stalled thread, at the first heartbeat after the
 * stall, while the delayed requests' spans are still open (see docs/attribution.md for the window).
 */
import { ATTR_CONFIDENCE, ATTR_CULPRIT, ATTR_STACK_SOURCE, ATTR_STALL_GRAPHQL_OPERATION_NAME, ATTR_STALL_GRAPHQL_OPERATION_TYPE, ATTR_STALL_ROUTE, ATTR_THREAD_NAME } from '../metrics/names';
import type { GraphqlOperation } from '../types';
import type { StackEvidence } from './aggregate';
import { UNKNOWN_CULPRIT } from './culprit';

export const STALL_SPAN_EVENT = 'loopwatch.stall';
/** Spans marked per stall at most (a span keeps its own event limit too). */
export const MAX_STALL_SPANS = 1000;

/** The part of an OpenTelemetry `Span` used here (duck-typed: no hard dependency on the API's version). */
export interface SpanLike {
  addEvent(name: string, attributes?: Record<string, string | number | boolean>, startTime?: number): unknown;
  isRecording(): boolean;
  spanContext(): { traceId: string; spanId: string };
}

/** The requests a stall delayed, as taken by the getter during the stall. */
export interface StallSpans {
  /** The stalled request's span (its server span), or the span active in the blocked code. */
  culprit?: SpanLike;
  /** Spans of the other in-flight requests. */
  victims: SpanLike[];
  /** Route template of the stalled request. */
  route?: string;
  /** Its GraphQL operation (loopwatchYoga()/loopwatchApollo()), read at the same sample as the route. */
  graphqlOperation?: GraphqlOperation;
}

/** What a span event says about its stall: read from the stall record (stall/record.ts), never worked out here. */
export interface StallSpanInfo {
  readonly durationMs: number;
  readonly startTime: number;
  readonly thread: string;
  /** Culprit, how the stack was read and the culprit's share, as the stall event says them. */
  readonly evidence: StackEvidence;
}

/**
 * Adds one `loopwatch.stall` event to each span. Attributes: duration, role (`culprit` on the stalled request's
 * own span, `victim` on the others), the culprit (`unknown` when no sample named one) with its code location, how
 * the stack was read and the culprit's share (the log record's `loopwatch.stall.stack_source` and `.confidence`),
 * and the stalled request's route (`loopwatch.stall.route`: on a victim's span, `http.route` would read as the
 * victim's own route) and GraphQL operation (`loopwatch.stall.graphql.operation.type` and `.name`, likewise). Returns the number of spans marked. Ended spans are skipped (the SDK would warn).
 */
export function addStallSpanEvents(target: StallSpans, stall: StallSpanInfo): number {
  const { culprit, stackSource, confidence } = stall.evidence;
  const common: Record<string, string | number | boolean> = {
    'loopwatch.stall.duration_ms': Math.round(stall.durationMs * 10) / 10,
    [ATTR_THREAD_NAME]: stall.thread,
    [ATTR_CULPRIT]: culprit?.name ?? UNKNOWN_CULPRIT,
    [ATTR_STACK_SOURCE]: stackSource,
    [ATTR_CONFIDENCE]: confidence,
  };
  const f = culprit?.frame;
  if (f) {
    common['code.function.name'] = f.functionName;
    common['code.file.path'] = f.fileName;
    common['code.line.number'] = f.lineNumber;
  }
  if (target.route) common[ATTR_STALL_ROUTE] = target.route;
  const op = target.graphqlOperation;
  if (op) {
    common[ATTR_STALL_GRAPHQL_OPERATION_TYPE] = op.type;
    if (op.name !== undefined) common[ATTR_STALL_GRAPHQL_OPERATION_NAME] = op.name;
  }

  let marked = 0;
  const seen = new Set<SpanLike>();
  const mark = (span: SpanLike | undefined, role: 'culprit' | 'victim'): void => {
    if (!span || seen.has(span) || marked >= MAX_STALL_SPANS) return;
    seen.add(span);
    if (!span.isRecording()) return;
    span.addEvent(STALL_SPAN_EVENT, { ...common, 'loopwatch.stall.role': role }, stall.startTime);
    marked++;
  };
  mark(target.culprit, 'culprit');
  for (const v of target.victims) mark(v, 'victim');
  return marked;
}
