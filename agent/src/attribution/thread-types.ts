/**
 * The thread side of attribution, as the rest of the agent sees it: what a sample holds, the options, what the
 * stall pipeline takes per stall, the handle. Also the per-request record the units share.
 */
import type { IncomingMessage } from 'node:http';
import type { StackEvidence } from './aggregate';
import type { LongCallback } from './deep';
import type { RequestScope, UnknownRequest } from './request-context';
import type { SpanLike, StallSpans } from './spans';
import type { GraphqlOperation, StackFrame } from '../types';

/** The per-thread sample getter's global key (`Symbol.for`), which the watchdog's samples evaluate. */
export const GETTER_KEY = 'loopwatch.attribution.v1';

/** The request's server span, captured by span-capture.ts. */
export const kSpan = Symbol('loopwatch.span');
/** The request itself is the bookkeeping record (no per-request allocation beyond the Set entry). */
export type RequestRecord = IncomingMessage & { [kSpan]?: SpanLike };

/** One look at a blocked thread, taken by the getter inside the blocked thread. JSON-serialisable. */
export interface AttributionSample {
  /** Innermost first, not source-mapped (mapping happens on the thread after the stall). */
  frames: StackFrame[];
  route?: string;
  /** The GraphQL operation a plugin attached to the request (graphql.ts). */
  graphqlOperation?: GraphqlOperation;
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
  /** In a request's connection, but which request is unknown, and why (request-context.ts): no route then. */
  unknownRequest?: UnknownRequest;
  /** Whether requests were tracked (false: `inRequest` is unknown, not false). Absent: tracked. */
  tracked?: boolean;
  /**
   * Serviced so long after the watchdog asked (stall-timing.ts) that the thread ran without checking for interrupts
   * meanwhile (inside a builtin or native call): the stack was read after that call returned, and shows whatever ran
   * next. Not evidence of what blocked. Absent: on time.
   */
  late?: true;
  /** Late only: the sampling periods it was late by (the unknown time it stands for, in samples; at least 1). */
  missed?: number;
}

export interface ThreadAttributionOptions {
  /**
   * The thread's last heartbeat (monotonic ns, its shared state's). A sample the watchdog asked for the stall that
   * began after the beat it names is dropped when another beat has run since: the stall is over, and the stack and
   * request the getter would read are whatever runs next (the next request's handler), not what blocked.
   */
  lastBeatNs?: () => bigint;
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
   * the request named at stall time where it can be told (else `unknownRequest`); 'request', one frame per request,
   * exact for work left running after a response.
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
  /** What the thread's samples of this stall show: culprit, how the stack was read, the culprit's share. */
  evidence?: StackEvidence;
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
   * mark: its span ends with the response, usually before the next heartbeat, so the stall must be measured now
   * (a beat), while the span is open for its event.
   */
  onRequestEndDuringMark(fn: () => void): void;
  /** Looks again for an OpenTelemetry tracer or context manager registered since (the agent calls it every beat). */
  refresh(): void;
}
