/**
 * The getter the watchdog runs inside the blocked code (a V8 interrupt, `EVAL_EXPRESSION`): one sample of the
 * blocked stack with its request, trace context and resource type, noted in the stall's mark. Nothing here may
 * throw or load a module; errors are reported once the thread runs again.
 */
import * as path from 'node:path';
import { countRequestsInFlight } from './connections';
import { captureFrames } from './frames';
import { graphqlOperationOf } from './graphql';
import { routeOf, type compileRoutePatterns } from './route';
import type { RequestTracking } from './request-tracking';
import type { SpanCapture } from './span-capture';
import type { StallMarks } from './stall-mark';
import type { AttributionSample, RequestRecord } from './thread-types';
import type { StackFrame } from '../types';
import { activeSpanFromGlobal } from '../runtime/otel-global';
import { missedSamples } from './stall-timing';

const INVALID_TRACE = /^0+$/;
/**
 * The agent's own heartbeat code (compiled next to this folder). A sample taken inside it was read while the thread
 * was beating: the block is over (the request was serviced after a native call or builtin returned, and after the
 * callback it blocked). Named by its directory, not imported: attribution must not depend on the heartbeat.
 */
const HEARTBEAT_DIR = path.resolve(__dirname, '..', 'heartbeat') + path.sep;

export class InterruptSampler {
  /** Installed under `GETTER_KEY`; its own frame and everything it calls are left out of the sample. */
  readonly getter: (requestedMs?: number, lateAfterMs?: number, sinceNs?: string) => AttributionSample | null;
  /** A sample of the current thread now (tests, and in-process fallbacks). */
  readonly sample: () => AttributionSample;
  private readonly deferred: [string, unknown][] = [];

  constructor(
    private readonly tracking: RequestTracking,
    private readonly spans: SpanCapture,
    private readonly marks: StallMarks<RequestRecord>,
    private readonly wantTrace: boolean,
    private readonly routePatterns: ReturnType<typeof compileRoutePatterns>,
    private readonly onError: (what: string, err: unknown) => void,
    /** ThreadAttributionOptions.lastBeatNs. */
    private readonly lastBeatNs?: () => bigint,
  ) {
    const self = this;
    this.getter = function loopwatchAttributionGetter(requestedMs?: number, lateAfterMs?: number, sinceNs?: string): AttributionSample | null {
      try {
        // Asked for a stall that is over (a beat ran since): serviced in later code, e.g. the next request's.
        if (sinceNs !== undefined && self.lastBeatNs && String(self.lastBeatNs()) !== sinceNs) return null;
        const now = process.hrtime.bigint();
        const m = self.marks.live(now);
        const { s, request } = self.sampleFrom(loopwatchAttributionGetter, m ? m.requestsInFlight : self.countInflight());
        if (s.frames.some((f) => f.fileName.startsWith(HEARTBEAT_DIR))) return null;
        const missed = missedSamples(now, requestedMs, lateAfterMs);
        if (missed) {
          s.late = true;
          s.missed = missed;
        }
        self.noteStall(s, now, request);
        return s;
      } catch (err) {
        self.deferError('sampling the blocked thread', err);
        return null;
      }
    };
    this.sample = function loopwatchAttributionSample(): AttributionSample {
      return self.sampleFrom(loopwatchAttributionSample, self.countInflight()).s;
    };
  }

  // Errors inside a V8 interrupt (sampling the blocked code) are reported once the thread runs again.
  private deferError(what: string, err: unknown): void {
    const deferred = this.deferred;
    if (deferred.length >= 10) return;
    if (deferred.push([what, err]) === 1) {
      setImmediate(() => {
        for (const [w, e] of deferred.splice(0)) this.onError(w, e);
      }).unref();
    }
  }

  // Walks every active handle (one per connection): once per stall, at its first sample (only that one's count is
  // used), not on every sample inside the stall it measures.
  private countInflight(): number | undefined {
    try {
      // Undefined where the private internals it needs are missing (runtime/internals.ts said so, once).
      return countRequestsInFlight();
    } catch (err) {
      this.deferError('counting the requests in flight', err);
      return undefined;
    }
  }

  /** One sample, and the request it names (read once: the stall's first sample notes it too). */
  private sampleFrom(above: Function, inflightNow: number | undefined): { s: AttributionSample; request: RequestRecord | undefined } {
    const frames = captureFrames(above);
    // Drop the evaluated expression's own frame(s) (no file name) on top.
    while (frames.length && !frames[0]!.fileName) frames.shift();
    const s: AttributionSample = { frames, inRequest: false };
    if (inflightNow !== undefined) s.inflight = inflightNow;
    if (!this.tracking.tracks) s.tracked = false;
    let request: RequestRecord | undefined;
    try {
      // A string: in a request's connection, which request unknown (the route is unknown, the code still served one).
      const record = this.tracking.current(calledByHttpParser(frames));
      if (record !== undefined) {
        s.inRequest = true;
        if (typeof record === 'string') s.unknownRequest = record;
        else {
          request = record;
          s.route = routeOf(record.method, record, undefined, this.routePatterns);
          const op = graphqlOperationOf(record);
          if (op) s.graphqlOperation = op;
        }
      }
    } catch (err) {
      this.deferError('reading the route (a framework getter threw)', err);
    }
    if (this.wantTrace) {
      try {
        const sc = activeSpanFromGlobal()?.spanContext();
        if (sc && !INVALID_TRACE.test(sc.traceId)) {
          s.traceId = sc.traceId;
          s.spanId = sc.spanId;
        }
      } catch (err) {
        this.deferError('reading the active span', err);
      }
    }
    const rt = resourceTypeFromStack(frames, s.inRequest);
    if (rt) s.resourceType = rt;
    return { s, request };
  }

  // Notes which request stalled and which were in flight (at the stall's first sample), and counts the sample.
  private noteStall(s: AttributionSample, now: bigint, request: RequestRecord | undefined): void {
    const m = this.marks.live(now);
    if (m) return this.marks.continueWith(m, s, now);
    let activeSpan;
    try {
      activeSpan = this.spans.activeSpan();
    } catch (err) {
      this.deferError('reading the active span', err);
    }
    this.marks.begin(s, now, request, activeSpan, this.spans.inflightNow());
  }
}

/** node:http's parser callbacks: code with one of them under it runs for the request the parser is on. */
const PARSER_CALLBACKS = new Set(['parserOnHeadersComplete', 'parserOnIncoming', 'parserOnBody', 'parserOnMessageComplete']);

/** Whether node:http's parser called the running code (one of its callbacks is on the stack, from `node:_http_*`). */
export function calledByHttpParser(frames: readonly StackFrame[]): boolean {
  for (let i = frames.length - 1; i >= 0; i--) {
    const f = frames[i];
    if (PARSER_CALLBACKS.has(f.functionName) && f.fileName.startsWith('node:_http_')) return true;
  }
  return false;
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
