import type { StallAttribution } from '../attribution/aggregate';
import { mergeAttribution, mergeDeep } from '../attribution/aggregate';
import type { LongCallback } from '../attribution/deep';
import { CulpritLimiter, groupKey, LabelBudget } from './limiter';
import { addStallSpanEvents } from '../attribution/spans';
import type { ThreadAttributionHandle } from '../attribution/thread';
import * as N from '../metrics/names';
import type { SeriesStore } from '../metrics/store';
import type { DetectedStall } from '../heartbeat/sampler';
import type { StallEvent } from '../types';

/**
 * How long a finished stall waits for the watchdog's attribution before it is
 * emitted without one. The watchdog notices the end within one poll (≤ 50 ms)
 * and may wait up to 150 ms for a sample still in flight (a native call returning).
 */
export const ATTRIBUTION_WAIT_MS = 400;
const CULPRIT_LABELS = 20;

/** The parts of the thread's shared state read here. */
export interface LoopState {
  readonly loopActiveMs: number;
  readonly lastBeatNs: bigint;
  readonly thresholdMs: number;
}

interface Pending {
  event: StallEvent;
  timer: NodeJS.Timeout;
  /** Deep mode's record of the callback that blocked. */
  deep: LongCallback | undefined;
}

/**
 * From a detected stall to the `stall` event: waits (bounded) for the
 * watchdog's attribution, merges it, counts the stall by culprit and route in
 * bounded metrics (every stall), and emits events at a capped rate per
 * culprit so one hot culprit cannot flood listeners and logs.
 */
export class StallPipeline {
  private readonly pending = new Map<bigint, Pending>();
  private readonly culprits = new LabelBudget(CULPRIT_LABELS);
  private readonly routes = new LabelBudget(CULPRIT_LABELS);
  private readonly limiter = new CulpritLimiter();
  private readonly counters = new Map<string, { time: { add(v: number): void }; count: { add(v: number): void } }>();
  private thread: ThreadAttributionHandle | undefined;
  private onError: (what: string, err: unknown) => void = () => {};

  constructor(
    private readonly threadName: string,
    private readonly attribution: boolean,
    private readonly store: SeriesStore,
    private readonly emit: (event: StallEvent) => void,
    private readonly onTraced: (seconds: number, traceId: string, startTime: number) => void = () => {},
  ) {}

  /**
   * The thread side of attribution (what its samples saw during each stall). `loop` is this thread's shared state
   * (last beat and loop busy time then), to time a stall that a request outlived by less than a heartbeat.
   * Errors go to `onError`.
   */
  useThread(thread: ThreadAttributionHandle, loop: LoopState, onError: (what: string, err: unknown) => void): void {
    this.thread = thread;
    this.onError = onError;
    thread.onRequestEndDuringMark((spans) => {
      try {
        // The stall is over (the request is ending) but no beat has measured it yet: measure it the way the
        // heartbeat will, as loop busy time since the last beat, capped by wall time.
        const busyMs = Math.min(performance.eventLoopUtilization().active - loop.loopActiveMs, Number(process.hrtime.bigint() - loop.lastBeatNs) / 1e6);
        if (busyMs < loop.thresholdMs) return;
        addStallSpanEvents(spans, { durationMs: busyMs, startTime: performance.timeOrigin + performance.now() - busyMs, thread: this.threadName });
      } catch (err) {
        this.onError('could not add stall span events', err);
      }
    });
  }

  detected(stall: DetectedStall): void {
    const event: StallEvent = { durationMs: stall.durationMs, startTime: stall.startTime, thread: this.threadName, stack: [] };
    if (!this.attribution) return this.finish(event);
    const deep = this.onThreadSide(stall, event);
    const timer = setTimeout(() => {
      this.pending.delete(stall.sinceNs);
      this.finish(mergeDeep(event, deep));
    }, ATTRIBUTION_WAIT_MS);
    timer.unref();
    this.pending.set(stall.sinceNs, { event, timer, deep });
  }

  /** The watchdog's attribution for the stall that began after the beat at `sinceNs`. */
  attributed(sinceNs: bigint, attribution: StallAttribution | undefined): void {
    const p = this.pending.get(sinceNs);
    if (!p) return;
    this.pending.delete(sinceNs);
    clearTimeout(p.timer);
    // Source maps resolve here, on the thread that loaded the code.
    this.finish(mergeDeep(mergeAttribution(p.event, attribution), p.deep));
  }

  /**
   * At the first heartbeat after the stall, before the delayed requests can finish: span events must be added
   * while their spans are open, so they cannot wait for the watchdog's attribution.
   */
  private onThreadSide(stall: DetectedStall, event: StallEvent): LongCallback | undefined {
    if (!this.thread) return undefined;
    try {
      const ctx = this.thread.takeStall(stall.sinceNs, stall.endNs);
      if (ctx?.spans) addStallSpanEvents(ctx.spans, event);
      return ctx?.deep;
    } catch (err) {
      this.onError('could not add stall span events', err);
      return undefined;
    }
  }

  /**
   * Emits now, with what they have, the stalls still waiting for the watchdog's attribution (the agent is stopping
   * or the thread exiting: they must be counted and reported, not dropped).
   */
  flush(): void {
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const p of waiting) {
      clearTimeout(p.timer);
      this.finish(mergeDeep(p.event, p.deep));
    }
  }

  stop(): void {
    for (const p of this.pending.values()) clearTimeout(p.timer);
    this.pending.clear();
  }

  private finish(event: StallEvent): void {
    this.count(event);
    if (event.traceId) this.onTraced(event.durationMs / 1000, event.traceId, event.startTime + event.durationMs);
    if (this.limiter.take(groupKey(event)).allowed) this.emit(event);
  }

  private count(event: StallEvent): void {
    const culprit = this.culprits.label(event.culprit ?? 'unknown');
    const route = event.route === undefined ? undefined : this.routes.label(event.route);
    const key = `${culprit}\u0000${route ?? ''}`;
    let c = this.counters.get(key);
    if (!c) {
      const attrs: Record<string, string> = { [N.ATTR_CULPRIT]: culprit, [N.ATTR_THREAD_NAME]: this.threadName };
      if (route !== undefined) attrs[N.ATTR_HTTP_ROUTE] = route;
      c = { time: this.store.counter(N.LOOPWATCH_STALL_CULPRIT_TIME, attrs), count: this.store.counter(N.LOOPWATCH_STALL_CULPRIT_COUNT, attrs) };
      this.counters.set(key, c);
    }
    c.time.add(event.durationMs / 1000);
    c.count.add(1);
  }
}
