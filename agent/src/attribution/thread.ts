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
import { AsyncLocalStorage } from 'node:async_hooks';
import * as dc from 'node:diagnostics_channel';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { captureFrames, culpritIndex } from './frames';
import { compileRoutePatterns, routeOf, startRouteLinking } from './route';
import { MAX_STALL_SPANS, type SpanLike, type StallSpans } from './spans';
import { InflightList } from './inflight';
import { createRequestContext, type RequestContext, type RequestScope } from './request-context';
import { countRequestsInFlight } from './connections';
import { startDeepAttribution, type DeepAttribution, type LongCallback } from './deep';
import type { StackFrame } from '../types';
import { activeSpanFromGlobal, loadOtelApi, otelRegistered } from '../runtime/otel-global';

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
  /**
   * In-flight HTTP requests on this thread at the stall's first sample (later samples of the same stall repeat it).
   * Absent: could not be counted.
   */
  inflight?: number;
  /** Whether the blocked code runs in the context of an HTTP request. */
  inRequest: boolean;
  /** Whether requests were tracked (false: `inRequest` is unknown, not false). Absent: tracked. */
  tracked?: boolean;
}

/** The request itself is the bookkeeping record (no per-request allocation beyond the Set entry). */
type RequestRecord = IncomingMessage & { [kTemplate]?: string; [kSpan]?: SpanLike };
export interface ThreadAttributionOptions {
  /** Read trace/span ids from `@opentelemetry/api`'s active span. Default true. */
  otel?: boolean;
  /** Remember each request's span so a stall can add a `loopwatch.stall` event to the spans it delayed. Default false. */
  spanEvents?: boolean;
  /** Deep mode: time every callback with async_hooks; callbacks this long get their exact type and origin. */
  deep?: { thresholdMs: number };
  /**
   * Track which request each callback runs for (AsyncLocalStorage). 'auto' (default): only where that is cheap
   * (AsyncLocalStorage on AsyncContextFrame) or already paid for (an OpenTelemetry context manager registered —
   * looked for again on each heartbeat, see `refresh` — or deep mode's own async_hooks).
   */
  requests?: 'auto' | boolean;
  /**
   * How a tracked request's context is kept (request-context.ts): 'connection' (default), one frame per connection,
   * the request named at stall time; 'request', one frame per request, exact for work left running after a response.
   */
  requestScope?: RequestScope;
  /** Route patterns for paths no framework names (`/users/:name`), tried in order before the id heuristics. */
  routePatterns?: readonly string[];
  /** Called once, at the first request that 'auto' leaves untracked (so the agent can say why routes are missing). */
  onUntrackedRequest?: () => void;
  /** Where the thread side reports its own errors (never thrown into the app). */
  onError?: (what: string, err: unknown) => void;
}

/** What the thread saw during one stall, for the stall pipeline (same thread). */
export interface StallContext {
  /** Spans to mark with a `loopwatch.stall` event (only with `spanEvents`). */
  spans?: StallSpans;
  /** Deep mode: the callback that blocked, with its exact type and where it was scheduled. */
  deep?: LongCallback;
}

export interface ThreadAttributionHandle {
  stop(): void;
  /** Whether requests are tracked now (they can start later under 'auto', when a context manager registers). */
  readonly tracksRequests: boolean;
  /** Takes a sample of the current thread now (tests, and in-process fallbacks). */
  sample(): AttributionSample;
  /**
   * What the samples taken between the beats at `sinceNs` and `endNs` (hrtime ns) saw, once: the stall pipeline
   * calls it at the first heartbeat after a stall. Undefined when no sample ran during that stall.
   */
  takeStall(sinceNs: bigint, endNs: bigint): StallContext | undefined;
  /**
   * Called when a request the stall delayed (or the stalled request itself) ends before the pipeline took the
   * mark: its span ends with the response, usually before the next heartbeat, so its event must be added now.
   */
  onRequestEndDuringMark(fn: (spans: StallSpans) => void): void;
  /** Looks again for an OpenTelemetry tracer or context manager registered since (the agent calls it every beat). */
  refresh(): void;
}

/**
 * AsyncLocalStorage built on async_hooks (Node 22 without --experimental-async-context-frame; Node 24 with
 * --no-async-context-frame): once a store is entered, every async resource the app creates — every promise
 * included — runs a JS init hook. The AsyncContextFrame implementation has no `_propagate`.
 */
const ALS_ON_ASYNC_HOOKS = typeof (AsyncLocalStorage.prototype as { _propagate?: unknown })._propagate === 'function';

const kTemplate = Symbol('loopwatch.routeTemplate');
const kSpan = Symbol('loopwatch.span');
/** A sample this long after the previous one belongs to another stall (samples of one stall are ≤ 50 ms apart). */
const MARK_STALE_NS = 1_000_000_000n;

/** The getter's notes on the stall in progress, kept until the pipeline takes them (one at a time: bounded). */
interface StallMark {
  /** hrtime of the first sample of this stall, and of the latest. */
  atNs: bigint;
  lastNs: bigint;
  request: RequestRecord | undefined;
  /** Span active in the blocked code at the first sample. */
  activeSpan: SpanLike | undefined;
  /** Requests in flight at the first sample (the ones the stall delays), kept only with span events. */
  inflight: RequestRecord[];
  /** How many requests were in flight at the first sample (undefined: could not be counted). */
  requestsInFlight: number | undefined;
  /** The frames seen most often so far (a late sample may land after the blocking call returned). */
  frames: StackFrame[];
  /** Samples per culprit frame (at most one per sample of this stall, so bounded by the sample cap). */
  votes: Map<string, { frames: StackFrame[]; n: number }>;
  route: string | undefined;
  /** Spans already marked because their request ended before the pipeline took the mark. */
  flushed?: Set<SpanLike>;
}

interface OtelApi {
  trace: { getActiveSpan(): (SpanLike & { spanContext(): { traceId: string; spanId: string } }) | undefined };
}
let otelApi: OtelApi | null | undefined;
/**
 * The OTel API, once tracing is registered (otel-global.ts: loading it costs ~5 MB, useless without a
 * tracer). Never loads inside a V8 interrupt: callers there only read what an earlier request loaded.
 */
function otelIfTracing(onError: (what: string, err: unknown) => void): OtelApi | null {
  if (otelApi !== undefined) return otelApi;
  if (!otelRegistered('trace')) return null;
  otelApi = loadOtelApi((err) => onError('could not load @opentelemetry/api', err)) as OtelApi | null;
  return otelApi;
}

const INVALID_TRACE = /^0+$/;

/** Counts a sample for its culprit frame; the mark keeps the frames of the most frequent (the earliest on a tie). */
function vote(m: StallMark, frames: StackFrame[]): void {
  if (!frames.length) return;
  const key = keyOf(frames);
  let v = m.votes.get(key);
  if (!v) {
    v = { frames, n: 0 };
    m.votes.set(key, v);
  }
  v.n++;
  let best = v;
  for (const c of m.votes.values()) if (c.n > best.n) best = c;
  if (best.n > (m.votes.get(keyOf(m.frames))?.n ?? 0)) m.frames = best.frames;
}
function keyOf(frames: StackFrame[]): string {
  if (!frames.length) return '';
  const i = culpritIndex(frames);
  const f = frames[i >= 0 ? i : 0]!;
  return `${f.functionName}\u0000${f.fileName}\u0000${f.lineNumber}`;
}

/** Installs request bookkeeping and the stall-time getter on the current thread. Idempotent per thread. */
export function startThreadAttribution(options: ThreadAttributionOptions = {}): ThreadAttributionHandle {
  const g = globalThis as Record<symbol, unknown>;
  const key = Symbol.for(GETTER_KEY);
  const existing = g[Symbol.for(GETTER_KEY + '.handle')] as ThreadAttributionHandle | undefined;
  if (existing) return existing;

  // Per instance, not per module: a stopped agent's queued responses and socket listener stay on a keep-alive
  // socket, and a restarted agent must neither find that set (its socket listener belongs to the stopped agent and
  // would end the new agent's responses on the old count) nor be found by it.
  const kQueued: unique symbol = Symbol('loopwatch.queuedResponses');
  const kQueuedOn: unique symbol = Symbol('loopwatch.queuedOn');
  type QueuedSocket = {
    [kQueued]?: Set<ServerResponse> | undefined;
    _httpMessage?: unknown;
    once(event: 'close', fn: () => void): unknown;
  };
  type QueuedResponse = ServerResponse & { [kQueuedOn]?: QueuedSocket };

  const wantTrace = options.otel !== false;
  const routePatterns = compileRoutePatterns(options.routePatterns ?? []);
  const wantSpanEvents = options.spanEvents === true;
  // In-flight requests are counted from the servers' connections when a stall is sampled; they are kept (to reach
  // their spans) only while span events are live, in a list linked through the requests (inflight.ts: a Set of them
  // slowed a saturated server's GC 7x).
  const inflight = new InflightList<RequestRecord>();
  const onError = options.onError ?? (() => {});
  // Made when requests start being tracked (under 'auto' that can be later): before that nothing may enter a frame
  // (on async_hooks one would turn on a hook for every promise).
  let context: RequestContext<RequestRecord> | undefined;
  const trackingContext = (): RequestContext<RequestRecord> => (context ??= createRequestContext<RequestRecord>(options.requestScope ?? 'connection', onError));
  // Errors inside a V8 interrupt (sampling the blocked code) are reported once the thread runs again.
  const deferred: [string, unknown][] = [];
  const deferError = (what: string, err: unknown): void => {
    if (deferred.length >= 10) return;
    if (deferred.push([what, err]) === 1) {
      setImmediate(() => {
        for (const [w, e] of deferred.splice(0)) onError(w, e);
      }).unref();
    }
  };
  // Koa and hapi keep no route on node's request: link them as they load (routes/index.ts).
  startRouteLinking(onError);
  // Set by refresh() once a tracer is registered (span events only); read (never loaded) inside interrupts.
  let spanEvents: OtelApi | null = null;
  let running = true;
  let uncountableReported = false;
  let mark: StallMark | undefined;
  let deep: DeepAttribution | undefined;
  if (options.deep) {
    try {
      deep = startDeepAttribution(options.deep.thresholdMs, onError);
    } catch (err) {
      onError('could not start deep attribution', err);
    }
  }
  // Request tracking (see ThreadAttributionOptions.requests), decided once deep mode is known to run (its
  // async_hooks are what would make AsyncLocalStorage's paid for). Under 'auto' without it, refresh() looks on each
  // heartbeat whether an OpenTelemetry context manager has since made AsyncLocalStorage paid for.
  let tracksRequests =
    options.requests === true || (options.requests !== false && (!ALS_ON_ASYNC_HOOKS || deep !== undefined || otelRegistered('context')));
  if (tracksRequests) trackingContext();
  let mayTrackLater = !tracksRequests && options.requests !== false;
  let untrackedUnreported = options.requests !== false;
  // OpenTelemetry registered since the last look: a tracer makes span events live, a context manager makes request
  // tracking paid for (under 'auto'). Looked at on each heartbeat, not on each request (a global lookup per request
  // was 0.14 % of a saturated server's main thread).
  const refresh = (): void => {
    if (running && wantSpanEvents && spanEvents === null && wantTrace) {
      spanEvents = otelIfTracing(onError);
      // Not called for a request being published now (a channel's subscribers are copied on change): the first
      // request it sees gets its listener too.
      if (spanEvents) dc.subscribe('http.server.request.start', onSpanRequest);
    }
    if (mayTrackLater && otelRegistered('context')) {
      tracksRequests = true;
      mayTrackLater = false;
      if (running) trackingContext();
    }
    // Per request only while some connection runs outside a frame of its own (request-context.ts; re-checked at
    // most once a second).
    if (running && tracksRequests) subscribeRequests(context!.needsPerRequest());
  };

  let flushEarly: ((spans: StallSpans) => void) | undefined;
  function onClose(this: ServerResponse): void {
    responseClosed(this);
  }
  // A pipelined request queued behind an unanswered one: on Node 22 its response never emits 'close' when the
  // client drops the connection, so the socket's 'close' ends it too (whichever comes first; one listener per
  // pipelining socket, none for the usual one-request-at-a-time connection).
  function onQueuedClose(this: QueuedResponse): void {
    this[kQueuedOn]?.[kQueued]?.delete(this);
    responseClosed(this);
  }
  function onQueuedSocketClose(this: QueuedSocket): void {
    const queued = this[kQueued];
    this[kQueued] = undefined;
    if (!queued) return;
    for (const res of queued) {
      res.removeListener('close', onQueuedClose);
      responseClosed(res);
    }
  }
  function responseClosed(res: ServerResponse): void {
    // Runs inside the app's emit('close'): nothing here may throw (a response whose `req` was replaced or removed
    // by a framework has no request to unlink).
    const req = res.req as RequestRecord | undefined;
    if (!spanEvents || !req || typeof req !== 'object') return;
    inflight.remove(req);
    // Runs before the http instrumentation's own 'close' listener (registered later) ends the span.
    if (mark && req[kSpan] && flushEarly) endedDuringMark(req, req[kSpan]!, mark);
  }
  function endedDuringMark(req: RequestRecord, span: SpanLike, m: StallMark): void {
    if (m.flushed?.has(span) || process.hrtime.bigint() - m.lastNs > MARK_STALE_NS) return;
    const isCulprit = req === m.request;
    if (!isCulprit && !m.inflight.includes(req)) return;
    (m.flushed ??= new Set()).add(span);
    const spans: StallSpans = isCulprit ? { culprit: span, victims: [], frames: m.frames } : { victims: [span], frames: m.frames };
    if (m.route) spans.route = m.route;
    try {
      flushEarly!(spans);
    } catch (err) {
      onError('span event for a request that ended during a stall', err);
    }
  }
  // OpenTelemetry's http instrumentation starts the server span in its `Server#emit('request')` wrapper, after
  // `http.server.request.start` is published: a 'request' listener, prepended once per server, is the first code
  // that runs inside that span's context. It stores the span on the request (no map: it goes with the request).
  const servers = new WeakSet<object>();
  function captureSpan(this: { removeListener(e: string, l: Function): void }, req: RequestRecord): void {
    if (!running) {
      this.removeListener('request', captureSpan);
      return;
    }
    try {
      const span = spanEvents!.trace.getActiveSpan();
      if (span) req[kSpan] = span;
    } catch (err) {
      onError('reading the request span', err);
    }
  }
  // The request path: the request context (request-context.ts: on a watched connection one identity check, else one
  // AsyncLocalStorage frame), nothing else. It must not read the server or the socket off the message: that made V8
  // abort this function's optimisation (and node's AsyncContextFrame's) in a loop when the agent started under load
  // (+8 % CPU, docs/performance.md run 17). Requests in flight are counted at stall time.
  const onRequestStart = (msg: unknown): void => {
    const request = (msg as { request: RequestRecord }).request;
    if (tracksRequests) context!.enter(request);
    else if (untrackedUnreported) {
      // Said once, at the first request left untracked — unless a context manager registered since the last beat.
      refresh();
      if (tracksRequests) context!.enter(request);
      else {
        untrackedUnreported = false;
        // Nothing more to do per request until requests are tracked: unsubscribed, node:http does not even build
        // the channel's message (refresh() subscribes again when a context manager appears).
        subscribeRequests(false);
        try {
          options.onUntrackedRequest?.();
        } catch (err) {
          onError('reporting untracked requests', err);
        }
      }
    }
  };
  let requestsSubscribed = false;
  function subscribeRequests(on: boolean): void {
    if (on === requestsSubscribed) return;
    requestsSubscribed = on;
    if (on) dc.subscribe('http.server.request.start', onRequestStart);
    else dc.unsubscribe('http.server.request.start', onRequestStart);
  }
  // Span events' own subscriber, subscribed once they go live (refresh()): keeps each request (to reach its span)
  // until its response closes, and captures server spans.
  const onSpanRequest = (msg: unknown): void => {
    const { request, response, socket, server } = msg as {
      request: RequestRecord;
      response: ServerResponse;
      socket?: QueuedSocket | null;
      server?: { prependListener?: Function } | null;
    };
    // Published before node:http assigns the response: a socket still busy with an earlier response means this
    // one is queued behind it (pipelining).
    if (!socket || !socket._httpMessage || socket._httpMessage === response || typeof socket.once !== 'function') {
      // `on`, not `once`: a response emits 'close' once, and `once` would allocate a wrapper per request and
      // search the listener list to remove it.
      response.on('close', onClose);
    } else {
      let queued = socket[kQueued];
      if (!queued) {
        queued = socket[kQueued] = new Set();
        socket.once('close', onQueuedSocketClose);
      }
      queued.add(response);
      (response as QueuedResponse)[kQueuedOn] = socket;
      response.on('close', onQueuedClose);
    }
    inflight.add(request);
    if (server && !servers.has(server)) {
      servers.add(server);
      if (typeof server.prependListener === 'function') server.prependListener('request', captureSpan);
    }
  };
  // fastify ≥ 5 publishes its route template on a tracing channel around the handler.
  const onFastifyHandler = (msg: unknown): void => {
    const m = msg as { request?: { raw?: RequestRecord }; route?: { url?: string } };
    const raw = m.request?.raw;
    if (raw && typeof m.route?.url === 'string') raw[kTemplate] = m.route.url;
  };
  // With requests: false there is nothing to do per request (the untracked warning is not wanted either).
  if (tracksRequests) subscribeRequests(context!.needsPerRequest());
  else if (untrackedUnreported) subscribeRequests(true);
  dc.subscribe('tracing:fastify.request.handler:start', onFastifyHandler);

  // Walks every active handle (one per connection): once per stall, at its first sample (only that one's count is
  // used), not on every sample inside the stall it measures.
  const countInflight = (): number | undefined => {
    try {
      const n = countRequestsInFlight();
      if (n === undefined && !uncountableReported) {
        uncountableReported = true;
        deferError('counting the requests in flight', new Error('process._getActiveHandles() is missing: requests in flight are not counted'));
      }
      return n;
    } catch (err) {
      deferError('counting the requests in flight', err);
      return undefined;
    }
  };
  const sampleFrom = (above: Function, inflightNow: number | undefined): AttributionSample => {
    const frames = captureFrames(above);
    // Drop the evaluated expression's own frame(s) (no file name) on top.
    while (frames.length && !frames[0]!.fileName) frames.shift();
    const s: AttributionSample = { frames, inRequest: false };
    if (inflightNow !== undefined) s.inflight = inflightNow;
    if (!tracksRequests) s.tracked = false;
    try {
      // null: in a connection's context whose request is gone (the route is unknown, the code still served one).
      const record = context?.current();
      if (record !== undefined) {
        s.inRequest = true;
        if (record) s.route = routeOf(record.method, record, record[kTemplate], routePatterns);
      }
    } catch (err) {
      deferError('reading the route (a framework getter threw)', err);
    }
    if (wantTrace) {
      try {
        const sc = activeSpanFromGlobal()?.spanContext();
        if (sc && !INVALID_TRACE.test(sc.traceId)) {
          s.traceId = sc.traceId;
          s.spanId = sc.spanId;
        }
      } catch (err) {
        deferError('reading the active span', err);
      }
    }
    const rt = resourceTypeFromStack(frames, s.inRequest);
    if (rt) s.resourceType = rt;
    return s;
  };
  // Runs inside the blocked code (a V8 interrupt): notes which request stalled and which were in flight.
  const noteStall = (s: AttributionSample, now: bigint): void => {
    let record: RequestRecord | undefined;
    try {
      record = context?.current() ?? undefined;
    } catch (err) {
      record = undefined;
      deferError('reading the request context', err);
    }
    if (mark && now - mark.lastNs < MARK_STALE_NS) {
      mark.lastNs = now;
      vote(mark, s.frames);
      return;
    }
    let activeSpan: SpanLike | undefined;
    try {
      activeSpan = spanEvents?.trace.getActiveSpan();
    } catch (err) {
      deferError('reading the active span', err);
    }
    const list = spanEvents ? inflight.first(MAX_STALL_SPANS) : [];
    mark = { atNs: now, lastNs: now, request: record, activeSpan, inflight: list, frames: s.frames, votes: new Map(), route: s.route, requestsInFlight: s.inflight };
    vote(mark, s.frames);
  };
  const getter = function loopwatchAttributionGetter(): AttributionSample | null {
    try {
      const now = process.hrtime.bigint();
      const m = mark;
      const continuing = m !== undefined && now - m.lastNs < MARK_STALE_NS;
      const s = sampleFrom(loopwatchAttributionGetter, continuing ? m.requestsInFlight : countInflight());
      noteStall(s, now);
      return s;
    } catch (err) {
      deferError('sampling the blocked thread', err);
      return null;
    }
  };
  const takeStall = (sinceNs: bigint, endNs: bigint): StallContext | undefined => {
    const out: StallContext = {};
    const long = deep?.take(sinceNs, endNs);
    if (long) out.deep = long;
    const m = mark;
    // Taken once; a mark from before this stall (a sample with no stall detected on this side) is dropped too.
    if (!m || m.atNs > endNs) return long ? out : undefined;
    mark = undefined;
    if (m.atNs < sinceNs) return long ? out : undefined;
    if (spanEvents) {
      const victims: SpanLike[] = [];
      const done = m.flushed;
      for (const r of m.inflight) {
        const span = r[kSpan];
        if (r !== m.request && span && !done?.has(span)) victims.push(span);
      }
      const culprit = m.request?.[kSpan] ?? m.activeSpan;
      const spans: StallSpans = { victims, frames: m.frames };
      if (culprit && !done?.has(culprit)) spans.culprit = culprit;
      if (m.route) spans.route = m.route;
      out.spans = spans;
    }
    return out;
  };
  const sample = function loopwatchAttributionSample(): AttributionSample {
    return sampleFrom(loopwatchAttributionSample, countInflight());
  };
  g[key] = getter;

  const handle: ThreadAttributionHandle = {
    stop() {
      running = false;
      mark = undefined;
      deep?.stop();
      subscribeRequests(false);
      dc.unsubscribe('http.server.request.start', onSpanRequest);
      dc.unsubscribe('tracing:fastify.request.handler:start', onFastifyHandler);
      if (g[key] === getter) delete g[key];
      delete g[Symbol.for(GETTER_KEY + '.handle')];
      inflight.clear();
      context?.stop();
    },
    get tracksRequests() {
      return tracksRequests;
    },
    sample,
    takeStall,
    onRequestEndDuringMark(fn) {
      flushEarly = fn;
    },
    refresh,
  };
  refresh();
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
