import type { StallAttribution } from './attribution/aggregate';
import { mergeAttribution } from './attribution/aggregate';
import { CulpritLimiter, groupKey, LabelBudget } from './attribution/limiter';
import * as N from './metrics/names';
import type { SeriesStore } from './metrics/store';
import type { DetectedStall } from './thread/sampler';
import type { StallEvent } from './types';

/**
 * How long a finished stall waits for the watchdog's attribution before it is
 * emitted without one. The watchdog notices the end within one poll (≤ 50 ms)
 * and may wait up to 150 ms for a sample still in flight (a native call returning).
 */
export const ATTRIBUTION_WAIT_MS = 400;
const CULPRIT_LABELS = 20;

interface Pending {
  event: StallEvent;
  timer: NodeJS.Timeout;
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

  constructor(
    private readonly threadName: string,
    private readonly attribution: boolean,
    private readonly store: SeriesStore,
    private readonly emit: (event: StallEvent) => void,
    private readonly onTraced: (seconds: number, traceId: string, startTime: number) => void = () => {},
  ) {}

  detected(stall: DetectedStall): void {
    const event: StallEvent = { durationMs: stall.durationMs, startTime: stall.startTime, thread: this.threadName, stack: [] };
    if (!this.attribution) return this.finish(event);
    const timer = setTimeout(() => {
      this.pending.delete(stall.sinceNs);
      this.finish(event);
    }, ATTRIBUTION_WAIT_MS);
    timer.unref();
    this.pending.set(stall.sinceNs, { event, timer });
  }

  /** The watchdog's attribution for the stall that began after the beat at `sinceNs`. */
  attributed(sinceNs: bigint, attribution: StallAttribution | undefined): void {
    const p = this.pending.get(sinceNs);
    if (!p) return;
    this.pending.delete(sinceNs);
    clearTimeout(p.timer);
    // Source maps resolve here, on the thread that loaded the code.
    this.finish(mergeAttribution(p.event, attribution));
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
