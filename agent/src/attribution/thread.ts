/**
 * Per-thread half of stall attribution. Runs on every monitored thread at agent start.
 *
 * Steady-state cost is one diagnostics_channel subscriber per HTTP request (an AsyncLocalStorage `enterWith`,
 * a Set insert and a `close` listener); no stack is captured on the hot path. The expensive part — capturing
 * the stack — happens only when the watchdog asks, during a stall: the watchdog's inspector session runs
 * `EVAL_EXPRESSION` as a V8 interrupt on the blocked thread, so the getter sees the blocked code's stack and
 * async context (or, if the thread is inside a native call, runs the moment the call returns, still inside
 * its JavaScript caller).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import * as dc from 'node:diagnostics_channel';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { captureFrames } from './frames';
import { routeOf } from './route';
import type { StackFrame } from '../types';

/** Global symbol key under which the per-thread getter is installed. */
export const GETTER_KEY = 'loopwatch.attribution.v1';
/** What the watchdog evaluates on a blocked thread. */
export const EVAL_EXPRESSION = `(function(){var g=globalThis[Symbol.for(${JSON.stringify(GETTER_KEY)})];return g?g():null})()`;

/** One look at a blocked thread, taken by the getter inside the blocked thread. JSON-serialisable. */
export interface AttributionSample {
  /** Innermost first, not source-mapped (mapping happens on the thread after the stall). */
  frames: StackFrame[];
  route?: string;
  traceId?: string;
  spanId?: string;
  resourceType?: string;
  /** In-flight HTTP requests on this thread at the time of the sample. */
  inflight: number;
  /** Whether the blocked code runs in the context of an HTTP request. */
  inRequest: boolean;
}

/** The request itself is the bookkeeping record (no per-request allocation beyond the Set entry). */
type RequestRecord = IncomingMessage & { [kTemplate]?: string };
export interface ThreadAttributionOptions {
  /** Read trace/span ids from `@opentelemetry/api`'s active span. Default true. */
  otel?: boolean;
}

export interface ThreadAttributionHandle {
  stop(): void;
  /** Takes a sample of the current thread now (tests, and in-process fallbacks). */
  sample(): AttributionSample;
}

const kTemplate = Symbol('loopwatch.routeTemplate');

interface OtelApi {
  trace: { getActiveSpan(): { spanContext(): { traceId: string; spanId: string } } | undefined };
}
let otelApi: OtelApi | null | undefined;
function loadOtel(): OtelApi | null {
  if (otelApi === undefined) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      otelApi = require('@opentelemetry/api') as OtelApi;
    } catch {
      otelApi = null;
    }
  }
  return otelApi;
}

const INVALID_TRACE = /^0+$/;

/** Installs request bookkeeping and the stall-time getter on the current thread. Idempotent per thread. */
export function startThreadAttribution(options: ThreadAttributionOptions = {}): ThreadAttributionHandle {
  const g = globalThis as Record<symbol, unknown>;
  const key = Symbol.for(GETTER_KEY);
  const existing = g[Symbol.for(GETTER_KEY + '.handle')] as ThreadAttributionHandle | undefined;
  if (existing) return existing;

  const als = new AsyncLocalStorage<RequestRecord>();
  const inflight = new Set<RequestRecord>();
  const otel = options.otel === false ? null : loadOtel();

  function onClose(this: ServerResponse): void {
    inflight.delete(this.req as RequestRecord);
  }
  const onRequestStart = (msg: unknown): void => {
    const { request, response } = msg as { request: RequestRecord; response: ServerResponse };
    inflight.add(request);
    response.once('close', onClose);
    als.enterWith(request);
  };
  // fastify ≥ 5 publishes its route template on a tracing channel around the handler.
  const onFastifyHandler = (msg: unknown): void => {
    const m = msg as { request?: { raw?: RequestRecord }; route?: { url?: string } };
    const raw = m.request?.raw;
    if (raw && typeof m.route?.url === 'string') raw[kTemplate] = m.route.url;
  };
  dc.subscribe('http.server.request.start', onRequestStart);
  dc.subscribe('tracing:fastify.request.handler:start', onFastifyHandler);

  const sampleFrom = (above: Function): AttributionSample => {
    const frames = captureFrames(above);
    // Drop the evaluated expression's own frame(s) (no file name) on top.
    while (frames.length && !frames[0]!.fileName) frames.shift();
    const s: AttributionSample = { frames, inflight: inflight.size, inRequest: false };
    try {
      const record = als.getStore();
      if (record) {
        s.inRequest = true;
        s.route = routeOf(record.method, record, record[kTemplate]);
      }
    } catch {
      /* a framework getter threw: no route */
    }
    if (otel) {
      try {
        const sc = otel.trace.getActiveSpan()?.spanContext();
        if (sc && !INVALID_TRACE.test(sc.traceId)) {
          s.traceId = sc.traceId;
          s.spanId = sc.spanId;
        }
      } catch {
        /* no tracing */
      }
    }
    const rt = resourceTypeFromStack(frames, s.inRequest);
    if (rt) s.resourceType = rt;
    return s;
  };
  const getter = function loopwatchAttributionGetter(): AttributionSample | null {
    try {
      return sampleFrom(loopwatchAttributionGetter);
    } catch {
      return null;
    }
  };
  const sample = function loopwatchAttributionSample(): AttributionSample {
    return sampleFrom(loopwatchAttributionSample);
  };
  g[key] = getter;

  const handle: ThreadAttributionHandle = {
    stop() {
      dc.unsubscribe('http.server.request.start', onRequestStart);
      dc.unsubscribe('tracing:fastify.request.handler:start', onFastifyHandler);
      if (g[key] === getter) delete g[key];
      delete g[Symbol.for(GETTER_KEY + '.handle')];
      inflight.clear();
      als.disable();
    },
    sample,
  };
  g[Symbol.for(GETTER_KEY + '.handle')] = handle;
  return handle;
}

/**
 * Async resource type whose callback is running, inferred from the outermost frames of the stack (no async_hooks:
 * the default mode must not time or track every callback).
 */
export function resourceTypeFromStack(frames: readonly StackFrame[], inRequest: boolean): string | undefined {
  for (let i = frames.length - 1; i >= 0; i--) {
    const f = frames[i]!;
    const n = f.functionName;
    const file = f.fileName;
    if (n === 'listOnTimeout' || n === 'processTimers') return 'Timeout';
    if (n === 'processImmediate') return 'Immediate';
    if (n === 'parserOnIncoming' || n === 'parserOnHeadersComplete') return 'HTTPINCOMINGMESSAGE';
    if (n === 'processTicksAndRejections') return inRequest ? 'PROMISE' : 'TickObject';
    if (file === 'node:internal/fs/read/context' || n === 'FSReqCallback.readFileAfterRead' || /^FSReqCallback/.test(n)) return 'FSREQCALLBACK';
    if (n === 'onStreamRead' || n === 'addChunk') return 'TCPWRAP';
    if (file.includes('per_context/messageport') || n === 'MessagePort.<anonymous>') return 'MESSAGEPORT';
    if (n === 'Socket.emit' || n === 'Readable.read') return 'STREAM';
  }
  // No scheduler frame at the bottom: a continuation resumed by the microtask queue (an `await`).
  const outer = frames[frames.length - 1];
  if (outer && !outer.fileName.startsWith('node:')) return frames.length < 32 ? 'PROMISE' : undefined;
  return undefined;
}
