/**
 * Which request each callback runs for: whether requests are tracked (decided at start, and again on each
 * heartbeat under 'auto'), the `http.server.request.start` subscriber that enters a request's context where a
 * connection has no frame of its own.
 */
import * as dc from 'node:diagnostics_channel';
import { createRequestContext, type RequestContext, type UnknownRequest } from './request-context';
import type { RequestRecord, ThreadAttributionOptions } from './thread-types';
import { otelRegistered } from '../runtime/otel-global';
import { alsOnAsyncHooks } from '../runtime/internals';

type TrackingOptions = Pick<ThreadAttributionOptions, 'requests' | 'requestScope' | 'onUntrackedRequest'>;

export class RequestTracking {
  /** Whether requests are tracked now (they can start later under 'auto', when a context manager registers). */
  tracks: boolean;
  /** Called at the first request left untracked, to look for OpenTelemetry again first (the thread's refresh). */
  refreshAll: () => void = () => this.refresh();
  // Made when requests start being tracked (under 'auto' that can be later): before that nothing may enter a frame
  // (on async_hooks one would turn on a hook for every promise).
  private context: RequestContext<RequestRecord> | undefined;
  private mayTrackLater: boolean;
  private untrackedUnreported: boolean;
  private subscribed = false;
  private running = true;
  private readonly onRequestStart: (msg: unknown) => void;

  /** `deepRuns`: deep mode's async_hooks run, which is what would make AsyncLocalStorage's paid for. */
  constructor(
    private readonly options: TrackingOptions,
    deepRuns: boolean,
    private readonly onError: (what: string, err: unknown) => void,
  ) {
    // See ThreadAttributionOptions.requests. Under 'auto' without it, refresh() looks on each heartbeat whether an
    // OpenTelemetry context manager has since made AsyncLocalStorage paid for.
    this.tracks = options.requests === true || (options.requests !== false && (!alsOnAsyncHooks(onError) || deepRuns || otelRegistered('context')));
    if (this.tracks) this.trackingContext();
    this.mayTrackLater = !this.tracks && options.requests !== false;
    this.untrackedUnreported = options.requests !== false;
    // The request path, only while needsPerRequest() says so: the request context (request-context.ts,
    // request-frames.ts: on a framed connection one identity check, else one AsyncLocalStorage frame), nothing else. It must not read the server or the socket off the message: that
    // made V8 abort this function's optimisation (and node's AsyncContextFrame's) in a loop when the agent started
    // under load (+8 % CPU, docs/performance.md run 17). Requests in flight are counted at stall time.
    this.onRequestStart = (msg: unknown): void => {
      const request = (msg as { request: RequestRecord }).request;
      if (this.tracks) this.context!.enter(request);
      else if (this.untrackedUnreported) this.firstUntracked(request);
    };
    // With requests: false there is nothing to do per request (the untracked warning is not wanted either).
    if (this.tracks) this.subscribe(this.context!.needsPerRequest());
    else if (this.untrackedUnreported) this.subscribe(true);
  }

  /** The request the running code serves: undefined outside any, why not where it runs in a request's connection but which request is unknown. */
  current(calledByParser?: boolean): RequestRecord | UnknownRequest | undefined {
    return this.context?.current(calledByParser);
  }

  /** A context manager registered since the last look makes tracking paid for (under 'auto'). */
  refresh(): void {
    if (this.mayTrackLater && otelRegistered('context')) {
      this.tracks = true;
      this.mayTrackLater = false;
      if (this.running) this.trackingContext();
    }
    // Per request only while some connection runs outside a frame of its own (request-context.ts,
    // request-frames.ts; re-checked at most once a second).
    if (this.running && this.tracks) this.subscribe(this.context!.needsPerRequest());
  }

  stop(): void {
    this.running = false;
    this.subscribe(false);
    this.context?.stop();
  }

  /** Said once, at the first request left untracked — unless a context manager registered since the last beat. */
  private firstUntracked(request: RequestRecord): void {
    this.refreshAll();
    if (this.tracks) return this.context!.enter(request);
    this.untrackedUnreported = false;
    // Nothing more to do per request until requests are tracked: unsubscribed, node:http does not even build the
    // channel's message (refresh() subscribes again when a context manager appears).
    this.subscribe(false);
    try {
      this.options.onUntrackedRequest?.();
    } catch (err) {
      this.onError('reporting untracked requests', err);
    }
  }

  private trackingContext(): RequestContext<RequestRecord> {
    return (this.context ??= createRequestContext<RequestRecord>(this.options.requestScope ?? 'connection', this.onError));
  }

  private subscribe(on: boolean): void {
    if (on === this.subscribed) return;
    this.subscribed = on;
    if (on) dc.subscribe('http.server.request.start', this.onRequestStart);
    else dc.unsubscribe('http.server.request.start', this.onRequestStart);
  }
}
