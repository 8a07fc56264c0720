/**
 * Span events' bookkeeping (only with `spanEvents`, once a tracer is registered): each request's server span,
 * the requests in flight (to reach the spans a stall delayed), and the responses that close while a stall's mark
 * is still waiting for the pipeline (their spans end with the response: the stall is measured then, see
 * `onDelayedRequestEnd`).
 */
import * as dc from 'node:diagnostics_channel';
import type { ServerResponse } from 'node:http';
import { InflightList } from './inflight';
import { MAX_STALL_SPANS, type SpanLike, type StallSpans } from './spans';
import type { StallMark, StallMarks } from './stall-mark';
import { kSpan, type RequestRecord } from './thread-types';
import { loadOtelApi, otelRegistered } from '../runtime/otel-global';
import { socketResponse } from '../runtime/internals';

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

/** A socket with pipelined responses queued on it (under this instance's symbol). */
type QueuedSocket = { _httpMessage?: unknown; once(event: 'close', fn: () => void): unknown } & Record<symbol, Set<ServerResponse> | undefined>;
type QueuedResponse = ServerResponse & Record<symbol, QueuedSocket | undefined>;
type RequestStart = { request: RequestRecord; response: ServerResponse; socket?: QueuedSocket | null; server?: { prependListener?: Function } | null };

export class SpanCapture {
  /** Set by refresh() once a tracer is registered; read (never loaded) inside interrupts. */
  private api: OtelApi | null = null;
  private running = true;
  /**
   * Called when a request the stall in progress delayed ends before the pipeline took the stall's mark: the stall
   * pipeline measures the stall then (a heartbeat, which makes its record and writes its span events from it), as
   * the span ends with the response.
   */
  onDelayedRequestEnd: (() => void) | undefined;
  // In-flight requests are counted from the servers' connections when a stall is sampled; they are kept (to reach
  // their spans) only while span events are live, in a list linked through the requests (inflight.ts: a Set of them
  // slowed a saturated server's GC 7x).
  private readonly inflight = new InflightList<RequestRecord>();
  private readonly servers = new WeakSet<object>();
  // Per instance, not per module: a stopped agent's queued responses and socket listener stay on a keep-alive
  // socket, and a restarted agent must neither find that set (its socket listener belongs to the stopped agent and
  // would end the new agent's responses on the old count) nor be found by it.
  private readonly kQueued = Symbol('loopwatch.queuedResponses');
  private readonly kQueuedOn = Symbol('loopwatch.queuedOn');
  // Listeners made once per instance (`this` is the emitter): nothing is allocated per request.
  private readonly onSpanRequest: (msg: unknown) => void;
  private readonly onClose: (this: ServerResponse) => void;
  private readonly onQueuedClose: (this: QueuedResponse) => void;
  private readonly onQueuedSocketClose: (this: QueuedSocket) => void;
  private readonly captureSpan: (this: { removeListener(e: string, l: Function): void }, req: RequestRecord) => void;

  constructor(
    private readonly marks: StallMarks<RequestRecord>,
    private readonly onError: (what: string, err: unknown) => void,
  ) {
    const self = this;
    this.onClose = function onClose(this: ServerResponse): void {
      self.responseClosed(this);
    };
    // A pipelined request queued behind an unanswered one: on Node 22 its response never emits 'close' when the
    // client drops the connection, so the socket's 'close' ends it too (whichever comes first; one listener per
    // pipelining socket, none for the usual one-request-at-a-time connection).
    this.onQueuedClose = function onQueuedClose(this: QueuedResponse): void {
      this[self.kQueuedOn]?.[self.kQueued]?.delete(this);
      self.responseClosed(this);
    };
    this.onQueuedSocketClose = function onQueuedSocketClose(this: QueuedSocket): void {
      const queued = this[self.kQueued];
      this[self.kQueued] = undefined;
      if (!queued) return;
      for (const res of queued) {
        res.removeListener('close', self.onQueuedClose);
        self.responseClosed(res);
      }
    };
    // OpenTelemetry's http instrumentation starts the server span in its `Server#emit('request')` wrapper, after
    // `http.server.request.start` is published: a 'request' listener, prepended once per server, is the first code
    // that runs inside that span's context. It stores the span on the request (no map: it goes with the request).
    this.captureSpan = function captureSpan(this: { removeListener(e: string, l: Function): void }, req: RequestRecord): void {
      if (!self.running) {
        this.removeListener('request', self.captureSpan);
        return;
      }
      try {
        const span = self.api!.trace.getActiveSpan();
        if (span) req[kSpan] = span;
      } catch (err) {
        self.onError('reading the request span', err);
      }
    };
    // Subscribed once span events go live (refresh()): keeps each request (to reach its span) until its response
    // closes, and captures server spans.
    this.onSpanRequest = (msg: unknown): void => this.requestStarted(msg as RequestStart);
  }

  /** Whether span events are live (a tracer registered). */
  get live(): boolean {
    return this.api !== null;
  }

  /** Goes live once a tracer is registered (looked for on each heartbeat, not on each request). */
  refresh(): void {
    if (!this.running || this.api !== null) return;
    this.api = otelIfTracing(this.onError);
    // Not called for a request being published now (a channel's subscribers are copied on change): the first
    // request it sees gets its listener too.
    if (this.api) dc.subscribe('http.server.request.start', this.onSpanRequest);
  }

  /** Inside the interrupt: the span active in the blocked code (may throw: the caller defers the error). */
  activeSpan(): SpanLike | undefined {
    return this.api?.trace.getActiveSpan();
  }

  /** Inside the interrupt, at a stall's first sample: the requests it delays (only while live). */
  inflightNow(): RequestRecord[] {
    return this.api ? this.inflight.first(MAX_STALL_SPANS) : [];
  }

  /** The spans of a taken mark; undefined while not live. */
  spansOf(m: StallMark<RequestRecord>): StallSpans | undefined {
    if (!this.api) return undefined;
    const victims: SpanLike[] = [];
    for (const r of m.inflight) {
      const span = r[kSpan];
      if (r !== m.request && span) victims.push(span);
    }
    const culprit = m.request?.[kSpan] ?? m.activeSpan;
    const spans: StallSpans = { victims };
    if (culprit) spans.culprit = culprit;
    if (m.route) spans.route = m.route;
    if (m.graphqlOperation) spans.graphqlOperation = m.graphqlOperation;
    return spans;
  }

  stop(): void {
    this.running = false;
    dc.unsubscribe('http.server.request.start', this.onSpanRequest);
    this.inflight.clear();
  }

  private requestStarted({ request, response, socket, server }: RequestStart): void {
    // Published before node:http assigns the response: a socket still busy with an earlier response means this
    // one is queued behind it (pipelining).
    const assigned = socket ? socketResponse(socket) : undefined;
    if (!socket || !assigned || assigned === response || typeof socket.once !== 'function') {
      // `on`, not `once`: a response emits 'close' once, and `once` would allocate a wrapper per request and
      // search the listener list to remove it.
      response.on('close', this.onClose);
    } else {
      let queued = socket[this.kQueued];
      if (!queued) {
        queued = socket[this.kQueued] = new Set();
        socket.once('close', this.onQueuedSocketClose);
      }
      queued.add(response);
      (response as QueuedResponse)[this.kQueuedOn] = socket;
      response.on('close', this.onQueuedClose);
    }
    this.inflight.add(request);
    if (server && !this.servers.has(server)) {
      this.servers.add(server);
      if (typeof server.prependListener === 'function') server.prependListener('request', this.captureSpan);
    }
  }

  private responseClosed(res: ServerResponse): void {
    // Runs inside the app's emit('close'): nothing here may throw (a response whose `req` was replaced or removed
    // by a framework has no request to unlink).
    const req = res.req as RequestRecord | undefined;
    if (!this.api || !req || typeof req !== 'object') return;
    this.inflight.remove(req);
    // Runs before the http instrumentation's own 'close' listener (registered later) ends the span.
    const measureNow = this.onDelayedRequestEnd;
    if (!req[kSpan] || !measureNow) return;
    const m = this.marks.live(process.hrtime.bigint());
    if (!m || (req !== m.request && !m.inflight.includes(req))) return;
    try {
      measureNow();
    } catch (err) {
      this.onError('measuring a stall as a request it delayed ended', err);
    }
  }
}
