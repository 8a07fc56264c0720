/**
 * Per-thread half of stall attribution. Runs on every monitored thread at agent start.
 *
 * Steady-state cost is one diagnostics_channel subscriber per HTTP request (where requests are tracked, see
 * `requests`: an identity check, or an AsyncLocalStorage `enterWith` on a connection without a frame of its own;
 * with span events also a `close` listener and two links of a list); requests in flight are counted only when a
 * stall is sampled (connections.ts), and no stack is captured on the hot path.
 * The expensive part — capturing the stack — happens only when the watchdog asks, during a stall: the watchdog's
 * inspector session runs `EVAL_EXPRESSION` as a V8 interrupt on the blocked thread, so the getter sees the blocked
 * code's stack and async context (or, if the thread is inside a native call, runs the moment the call returns,
 * still inside its JavaScript caller).
 */
import { compileRoutePatterns, startRouteLinking, stopRouteLinking } from './route';
import { startDeepAttribution, type DeepAttribution } from './deep';
import { provideCurrentRequest } from './graphql';
import { InterruptSampler } from './interrupt-sampler';
import { RequestTracking } from './request-tracking';
import { SpanCapture } from './span-capture';
import { markEvidence, StallMarks } from './stall-mark';
import { GETTER_KEY, type RequestRecord, type StallContext, type ThreadAttributionHandle, type ThreadAttributionOptions } from './thread-types';

export { resourceTypeFromStack } from './interrupt-sampler';
export type { AttributionSample, StallContext, ThreadAttributionHandle, ThreadAttributionOptions } from './thread-types';

// The getter's key is defined beside the types, so that the watchdog's sampler reads it without loading this side.
export { GETTER_KEY };
/** What the watchdog evaluates on a blocked thread. */
export const EVAL_EXPRESSION = `(function(){var g=globalThis[Symbol.for(${JSON.stringify(GETTER_KEY)})];return g?g():null})()`;

/**
 * Installs request bookkeeping and the stall-time getter on the current thread. Idempotent per thread. Made of:
 * request tracking (request-tracking.ts), span events' bookkeeping (span-capture.ts), the getter run inside V8
 * interrupts (interrupt-sampler.ts), the stall's mark it writes (stall-mark.ts), deep mode (deep.ts).
 */
export function startThreadAttribution(options: ThreadAttributionOptions = {}): ThreadAttributionHandle {
  const g = globalThis as Record<symbol, unknown>;
  const key = Symbol.for(GETTER_KEY);
  const handleKey = Symbol.for(GETTER_KEY + '.handle');
  const existing = g[handleKey] as ThreadAttributionHandle | undefined;
  if (existing) return existing;

  const onError = options.onError ?? (() => {});
  // Koa and hapi keep no route on node's request: link them as they load (routes/index.ts).
  startRouteLinking(onError);
  const wantTrace = options.otel !== false;
  const wantSpanEvents = options.spanEvents === true && wantTrace;
  let deep: DeepAttribution | undefined;
  if (options.deep) {
    try {
      deep = startDeepAttribution(options.deep.thresholdMs, onError);
    } catch (err) {
      onError('could not start deep attribution', err);
    }
  }
  // Decided once deep mode is known to run (its async_hooks are what would make AsyncLocalStorage's paid for).
  const tracking = new RequestTracking(options, deep !== undefined, onError);
  const marks = new StallMarks<RequestRecord>();
  const spans = new SpanCapture(marks, onError);
  const sampler = new InterruptSampler(tracking, spans, marks, wantTrace, compileRoutePatterns(options.routePatterns ?? []), onError, options.lastBeatNs);
  // OpenTelemetry registered since the last look: a tracer makes span events live, a context manager makes request
  // tracking paid for (under 'auto'). Looked at on each heartbeat, not on each request (a global lookup per request
  // was 0.14 % of a saturated server's main thread).
  const refresh = (): void => {
    if (wantSpanEvents) spans.refresh();
    tracking.refresh();
  };
  tracking.refreshAll = refresh;
  const getter = sampler.getter;
  g[key] = getter;
  // GraphQL plugins (graphql.ts) attach their operation to the request this names.
  provideCurrentRequest(() => tracking.current(), onError);

  const handle: ThreadAttributionHandle = {
    stop() {
      marks.clear();
      deep?.stop();
      tracking.stop();
      spans.stop();
      provideCurrentRequest(undefined);
      stopRouteLinking();
      if (g[key] === getter) delete g[key];
      delete g[handleKey];
    },
    get tracksRequests() {
      return tracking.tracks;
    },
    sample: sampler.sample,
    takeStall(sinceNs: bigint, endNs: bigint): StallContext | undefined {
      const out: StallContext = {};
      const long = deep?.take(sinceNs, endNs);
      if (long) out.deep = long;
      const m = marks.take(sinceNs, endNs);
      if (!m) return long ? out : undefined;
      out.evidence = markEvidence(m);
      const s = spans.spansOf(m);
      if (s) out.spans = s;
      return out;
    },
    onRequestEndDuringMark(fn) {
      spans.onDelayedRequestEnd = fn;
    },
    refresh,
  };
  refresh();
  g[handleKey] = handle;
  return handle;
}
