import type { StallAttribution } from '../attribution/aggregate';
import { culpritLabel } from '../attribution/culprit';
import type { LongCallback } from '../attribution/deep';
import { CulpritLimiter, groupKey, LabelBudget, type CulpritLimiterOptions } from './limiter';
import { HeldBackWindows, type HeldBackReports } from './held-back';
import { addStallSpanEvents } from '../attribution/spans';
import type { ThreadAttributionHandle } from '../attribution/thread';
import * as N from '../metrics/names';
import type { SeriesStore } from '../metrics/store';
import type { DetectedStall, SamplerClock } from '../heartbeat/sampler';
import type { StallEvent } from '../types';
import { addArrivals, eventOf, recordOfDetected, type StallRecord } from './record';
import { watchArrivalsIfServing, type Arrivals } from '../attribution/connections';

/**
 * How long a finished stall waits for the watchdog's attribution before it is
 * emitted without one. The watchdog notices the end within one poll (≤ 50 ms)
 * and may wait up to 150 ms for a sample still in flight (a native call returning).
 */
const ATTRIBUTION_WAIT_MS = 400;
/** Distinct culprits, routes and GraphQL operations per thread in the culprit metrics; the rest are `other` (docs/configuration.md). */
const CULPRIT_LABELS = 20;
const OTHER = 'other';

const realClock: SamplerClock = {
  nowNs: () => process.hrtime.bigint(),
  loopTime: () => performance.eventLoopUtilization(),
  wallMs: () => Date.now(),
};

/** Injected for tests (the defaults are the real clock and limits), and where held-back reports are said. */
export interface StallPipelineOptions {
  clock?: SamplerClock;
  limiter?: Omit<CulpritLimiterOptions, 'now'>;
  attributionWaitMs?: number;
  /** Says stall reports the per-culprit cap held back that no later report of their culprit said. */
  onHeldBack?: (reports: HeldBackReports) => void;
}

export type { HeldBackReports } from './held-back';

interface Pending {
  record: StallRecord;
  timer: NodeJS.Timeout;
  /** Deep mode's record of the callback that blocked. */
  deep: LongCallback | undefined;
  /** The beat that detected it (monotonic ns). */
  endNs: bigint;
}

/** Sees every finished stall, before the per-culprit event cap, with the monotonic ns of the beat that detected it. */
export type StallObserver = (event: StallEvent, detectedNs: bigint) => void;

/**
 * From a detected stall to the `stall` event: waits (bounded) for the
 * watchdog's attribution, merges it, counts the stall by culprit and route in
 * bounded metrics (every stall), and emits events at a capped rate per
 * culprit so one hot culprit cannot flood listeners and logs.
 */
export class StallPipeline {
  private readonly pending = new Map<bigint, Pending>();
  /** Stalls still counting the requests that arrived during them (finished once that is done). */
  private readonly counting = new Set<Arrivals>();
  private readonly culprits = new LabelBudget(CULPRIT_LABELS);
  private readonly routes = new LabelBudget(CULPRIT_LABELS, OTHER, () => this.routeFolded());
  private routesFolded: { add(v: number): void } | undefined;
  /** Named GraphQL operations, keyed `type name` (anonymous ones are their type alone: at most three, unbudgeted). */
  private readonly operations = new LabelBudget(CULPRIT_LABELS, OTHER, () => this.operationFolded());
  private operationsFolded: { add(v: number): void } | undefined;
  private readonly limiter: CulpritLimiter<StallEvent>;
  private readonly heldBack: HeldBackWindows;
  private readonly clock: SamplerClock;
  private readonly waitMs: number;
  private readonly counters = new Map<string, { time: { add(v: number): void }; count: { add(v: number): void } }>();
  private thread: ThreadAttributionHandle | undefined;
  /** Reports held back by the limiter (created at the first). */
  private suppressed: { add(v: number): void } | undefined;
  private onError: (what: string, err: unknown) => void = () => {};
  private readonly observers = new Set<StallObserver>();
  private settledWaiters: Array<() => void> = [];

  constructor(
    private readonly threadName: string,
    private readonly attribution: boolean,
    private readonly store: SeriesStore,
    private readonly emit: (event: StallEvent) => void,
    private readonly onTraced: (seconds: number, traceId: string, startTime: number) => void = () => {},
    options: StallPipelineOptions = {},
  ) {
    this.clock = options.clock ?? realClock;
    const clock = this.clock;
    this.limiter = new CulpritLimiter<StallEvent>({ ...options.limiter, now: () => clock.wallMs() });
    this.heldBack = new HeldBackWindows(this.limiter, this.clock, threadName, options.onHeldBack ?? (() => {}), (what, err) => this.onError(what, err));
    this.waitMs = options.attributionWaitMs ?? ATTRIBUTION_WAIT_MS;
  }

  /**
   * The thread side of attribution (what its samples saw during each stall). `beatNow` runs a heartbeat now if the
   * thread has been busy a threshold or more since its last one (heartbeat/monitor.ts `beatIfBusy`): called when a
   * request the stall delayed ends before the next scheduled beat, as its span ends with its response. That beat
   * measures the stall — the one measure its event, counters and every span event carry — and makes its record,
   * and the span events are written from the record there (`detected`). Errors go to `onError`.
   */
  useThread(thread: ThreadAttributionHandle, beatNow: () => void, onError: (what: string, err: unknown) => void): void {
    this.thread = thread;
    this.onError = onError;
    thread.onRequestEndDuringMark(() => {
      try {
        beatNow();
      } catch (err) {
        this.onError('could not measure a stall as a request it delayed ended', err);
      }
    });
  }

  detected(stall: DetectedStall): void {
    const record = recordOfDetected(stall, this.threadName);
    // Requests that arrived during the stall are read in the next loop turns: the event waits for them (≤ 2 turns).
    record.arrivals = watchArrivalsIfServing(this.onError);
    if (record.arrivals) this.counting.add(record.arrivals);
    if (!this.attribution) return this.finish(eventOf(record, undefined, undefined), record, stall.endNs);
    const deep = this.onThreadSide(stall, record);
    const timer = setTimeout(() => this.waitedFor(stall.sinceNs), this.waitMs);
    timer.unref();
    this.pending.set(stall.sinceNs, { record, timer, deep, endNs: stall.endNs });
  }

  /**
   * The wait for the watchdog's attribution is over. It is emitted without one only after the messages already
   * queued are read: when another stall followed this one at once (back-to-back requests, a queue consumer), the
   * timer fires in the timers phase right after that block, before the poll phase delivers the attribution the
   * watchdog posted during it; an immediate runs after that poll phase.
   */
  private waitedFor(sinceNs: bigint): void {
    setImmediate(() => {
      const p = this.pending.get(sinceNs);
      if (!p) return;
      this.pending.delete(sinceNs);
      this.finish(eventOf(p.record, undefined, p.deep), p.record, p.endNs);
    }).unref();
  }

  /** The watchdog's attribution for the stall that began after the beat at `sinceNs`. */
  attributed(sinceNs: bigint, attribution: StallAttribution | undefined): void {
    const p = this.pending.get(sinceNs);
    if (!p) return;
    this.pending.delete(sinceNs);
    clearTimeout(p.timer);
    // Source maps resolve here, on the thread that loaded the code.
    this.finish(eventOf(p.record, attribution, p.deep), p.record, p.endNs);
  }

  /**
   * At the first heartbeat after the stall, before the delayed requests can finish: span events must be added
   * while their spans are open, so they cannot wait for the watchdog's attribution.
   */
  private onThreadSide(stall: DetectedStall, record: StallRecord): LongCallback | undefined {
    if (!this.thread) return undefined;
    try {
      const ctx = this.thread.takeStall(stall.sinceNs, stall.endNs);
      // The thread's notes decide the evidence, before any span event is written: the event says the same.
      record.evidence = ctx?.evidence;
      if (ctx?.spans && record.evidence) addStallSpanEvents(ctx.spans, { ...record, evidence: record.evidence });
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
    for (const a of [...this.counting]) a.settleNow();
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const p of waiting) {
      clearTimeout(p.timer);
      this.finish(eventOf(p.record, undefined, p.deep), p.record, p.endNs);
    }
  }

  stop(): void {
    // Each stops counting by itself within two loop turns; a stall the agent stopped before is not reported.
    this.counting.clear();
    for (const p of this.pending.values()) clearTimeout(p.timer);
    this.pending.clear();
    this.heldBack.stop();
    this.wakeSettled();
  }

  /** loopwatch/test: every stall, uncapped (a test that blocks must fail even when others blocked the same way). */
  observe(observer: StallObserver): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  /**
   * Resolves once no detected stall waits for its attribution (each waits at most `attributionWaitMs`) or for the
   * requests that arrived during it (a few loop turns).
   */
  settled(): Promise<void> {
    if (this.pending.size === 0 && this.counting.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.settledWaiters.push(resolve));
  }

  private wakeSettled(): void {
    if (this.pending.size !== 0 || this.counting.size !== 0 || this.settledWaiters.length === 0) return;
    const waiters = this.settledWaiters;
    this.settledWaiters = [];
    for (const wake of waiters) wake();
  }

  /** Counts, exemplifies and (rate-capped) emits the event, every part from the one record. */
  private finish(event: StallEvent, record: StallRecord, detectedNs: bigint): void {
    const arrivals = record.arrivals;
    if (arrivals && !arrivals.settled) return arrivals.whenSettled(() => this.finish(event, record, detectedNs));
    if (arrivals) this.counting.delete(arrivals);
    addArrivals(event, record);
    this.count(event, record);
    if (event.traceId) this.onTraced(record.durationMs / 1000, event.traceId, record.startTime + record.durationMs);
    for (const observer of this.observers) {
      try {
        observer(event, detectedNs);
      } catch (err) {
        this.onError('a stall observer threw', err);
      }
    }
    // The event is kept (by reference) only by the first report a window holds back: it names the group if they are
    // said on their own.
    const decision = this.limiter.take(groupKey(event), event);
    if (decision.windowClosesAt !== undefined) this.heldBack.closeAt(decision.windowClosesAt);
    if (!decision.allowed) {
      this.suppressed ??= this.store.counter(N.LOOPWATCH_STALL_REPORTS_SUPPRESSED, { [N.ATTR_REASON]: N.SUPPRESSED_CULPRIT_RATE, [N.ATTR_THREAD_NAME]: this.threadName });
      this.suppressed.add(1);
    } else {
      // What the cap held back since this culprit's last report is said once, on this one.
      if (decision.suppressed > 0) event.suppressed = decision.suppressed;
      this.emit(event);
    }
    this.wakeSettled();
  }

  /**
   * Says the reports held back in every window still open (the agent is stopping or the thread exiting): nothing
   * later can say them. Windows that close on their own are said by a timer.
   */
  closeReportWindows(): void {
    this.heldBack.closeAll();
  }

  /** A stall whose route was over the budget and counted as `other`: said in a self-metric, never silent. */
  private routeFolded(): void {
    this.routesFolded ??= this.store.counter(N.LOOPWATCH_ROUTES_FOLDED, { [N.ATTR_THREAD_NAME]: this.threadName });
    this.routesFolded.add(1);
  }

  /** A stall whose GraphQL operation was over the budget and counted under the name `other`: said in a self-metric. */
  private operationFolded(): void {
    this.operationsFolded ??= this.store.counter(N.LOOPWATCH_GRAPHQL_OPERATIONS_FOLDED, { [N.ATTR_THREAD_NAME]: this.threadName });
    this.operationsFolded.add(1);
  }

  private count(event: StallEvent, record: StallRecord): void {
    const culprit = this.culprits.label(culpritLabel(event));
    const route = event.route === undefined ? undefined : this.routes.label(event.route);
    // The event's operation is the one source; the label only bounds its name (a folded one keeps its type).
    const op = event.graphqlOperation;
    const opName = op?.name === undefined ? undefined : this.operations.label(`${op.type} ${op.name}`) === OTHER ? OTHER : op.name;
    const key = `${culprit}\u0000${route ?? ''}\u0000${op?.type ?? ''}\u0000${opName ?? ''}`;
    let c = this.counters.get(key);
    if (!c) {
      const attrs: Record<string, string> = { [N.ATTR_CULPRIT]: culprit, [N.ATTR_THREAD_NAME]: this.threadName };
      if (route !== undefined) attrs[N.ATTR_HTTP_ROUTE] = route;
      if (op) attrs[N.ATTR_GRAPHQL_OPERATION_TYPE] = op.type;
      if (opName !== undefined) attrs[N.ATTR_GRAPHQL_OPERATION_NAME] = opName;
      c = { time: this.store.counter(N.LOOPWATCH_STALL_CULPRIT_TIME, attrs), count: this.store.counter(N.LOOPWATCH_STALL_CULPRIT_COUNT, attrs) };
      this.counters.set(key, c);
    }
    c.time.add(record.durationMs / 1000);
    c.count.add(1);
  }
}
