import type { ThreadState } from '../channel/thread-state';

/** What the sampler needs from the runtime; injected so the logic is testable with a fake clock. */
export interface SamplerClock {
  /** Monotonic time in ns (process.hrtime.bigint()). */
  nowNs(): bigint;
  /** Cumulative event-loop active/idle time in ms (performance.eventLoopUtilization()). */
  loopTime(): { active: number; idle: number };
  /** Wall-clock ms (Date.now()). */
  wallMs(): number;
}

export interface DetectedStall {
  durationMs: number;
  /** Epoch ms when the block began. */
  startTime: number;
  /** Monotonic ns at which the block ended (first beat after it). */
  endNs: bigint;
  /** Monotonic ns of the last beat before the block: identifies the stall across threads. */
  sinceNs: bigint;
}

/** Upper bound on coordinated-omission back-fill per beat (a 10-minute block at 10 ms). */
const MAX_BACKFILL = 60_000;

/**
 * Share of the stall threshold a stall's measured duration may be inflated by the other callbacks that ran
 * in its heartbeat window (their busy time is counted with it): the interval adapts to keep
 * `utilization × interval` under this.
 */
const DURATION_ERROR_BUDGET = 0.1;

/**
 * Runs on every heartbeat of a monitored thread.
 *
 * - Delay: a beat due after `interval` ms that runs `d` ms late is one delay
 *   sample of `d`, standing for `interval / resolution` samples at the
 *   configured resolution; if `d` spans several resolution steps, the samples
 *   a `resolution`-spaced timer would have taken during the block (`d - r`,
 *   `d - 2r`, …) are recorded too, so a 2 s block at 10 ms weighs as ~200
 *   samples (nodejs/node#34661) whatever the current interval.
 * - Stall: the thread's busy time between two beats (event-loop utilization
 *   delta, capped by the gap) is how long it ran without yielding; at or over
 *   the threshold — and with the beat late by at least `threshold - interval`,
 *   which any single block that long forces — that is one stall with that
 *   duration.
 * - Interval: each timer wake-up costs CPU even on an idle loop (~0.1 ms on a
 *   VM), so the next interval grows from the resolution up to `maxIntervalMs`
 *   while the loop is quiet: the busy time of other callbacks sharing a
 *   stall's window (≈ utilization × interval) stays under 10 % of the
 *   threshold. `maxIntervalMs` is at most half the threshold, so a block of
 *   the threshold always delays a beat by half the threshold or more, and a
 *   stretch of short callbacks can never pass for a stall.
 * - With a loop meter (native, `meterCells`; agent/native/meter.c) a stall is instead one event-loop iteration
 *   whose busy span — from the loop's return from polling for I/O to its next poll, a stretch in which nothing
 *   else can run — reaches the threshold, and its duration is that span: the longest span the meter completed
 *   since the last beat, or the one in progress now (the block just ended, the beat runs in the same iteration).
 *   Other callbacks no longer inflate it, so the interval stays at `maxIntervalMs` even while the loop is busy (a
 *   JavaScript timer every 10 ms cost ~0.4 % CPU per request at saturation, docs/performance.md run 20).
 */
export class LoopSampler {
  private prevNs: bigint;
  private prevActive: number;
  private interval: number;
  private readonly errorBudgetMs: number;
  private readonly maxIntervalMs: number;
  /** The meter's first span began when the meter was made, maybe before the loop ran: see longestSpan(). */
  private firstSpan = true;
  private readonly firstSpanId: number;

  constructor(
    private readonly state: ThreadState,
    private readonly resolutionMs: number,
    private readonly thresholdMs: number,
    private readonly clock: SamplerClock,
    private readonly onStall: (stall: DetectedStall) => void,
    maxIntervalMs: number = resolutionMs,
    /** Runs right after each beat is published, before anything else (a stall's listeners may run app code). */
    private readonly afterBeat: () => void = () => {},
    /** The loop meter's cells (agent/native/meter.c). */
    private readonly meterCells?: Float64Array,
  ) {
    // Whole multiples of the resolution keep the sample weights integral.
    this.maxIntervalMs = Math.max(resolutionMs, Math.floor(maxIntervalMs / resolutionMs) * resolutionMs);
    this.prevNs = clock.nowNs();
    const t = clock.loopTime();
    this.prevActive = t.active;
    this.interval = meterCells ? this.maxIntervalMs : resolutionMs;
    this.firstSpanId = meterCells ? meterCells[0] : NaN;
    if (meterCells) {
      meterCells[4] = thresholdMs;
      // Before the loop started (utilization all zero), the first iteration holds the rest of the script's run:
      // ignored by the meter if it completes before the first beat, which otherwise sets the script's part aside.
      if (t.active + t.idle === 0) {
        meterCells[5] = Infinity;
        meterCells[6] = meterCells[0];
      }
    }
    this.errorBudgetMs = DURATION_ERROR_BUDGET * thresholdMs;
    state.init(resolutionMs, thresholdMs, this.prevNs);
    state.setLoopTime(t.active, t.idle);
  }

  /** The interval the first beat is scheduled with (ms). */
  get initialIntervalMs(): number {
    return this.interval;
  }

  /** Records one beat; returns the interval (ms) to schedule the next beat with. */
  beat(): number {
    const now = this.clock.nowNs();
    const loop = this.clock.loopTime();
    const gapMs = Number(now - this.prevNs) / 1e6;
    const busyMs = Math.min(loop.active - this.prevActive, gapMs);
    const sinceNs = this.prevNs;
    const interval = this.interval;
    const r = this.resolutionMs;
    this.prevNs = now;
    this.prevActive = loop.active;

    const state = this.state;
    const next = this.nextInterval(busyMs, gapMs);
    this.interval = next;
    // Interval before the beat timestamp: a reader never pairs a fresh beat with a stale, shorter interval.
    state.setInterval(next);
    state.beat(now);
    this.afterBeat();
    state.setLoopTime(loop.active, loop.idle);

    const delayMs = gapMs - interval;
    const weight = interval / r;
    if (delayMs > 0) {
      state.recordDelay(delayMs / 1000, weight);
      let missed = delayMs - r;
      for (let n = 0; missed > 0 && n < MAX_BACKFILL; n++, missed -= r) {
        state.recordDelay(missed / 1000);
      }
    } else {
      state.recordDelay(0, weight);
    }

    if (this.meterCells) {
      const span = this.longestSpan(this.meterCells, Number(now) / 1e6, loop.active, loop.idle);
      if (span) {
        state.recordStall(span.durationMs / 1000);
        this.onStall({ durationMs: span.durationMs, startTime: this.clock.wallMs() - span.sinceStartMs, endNs: now, sinceNs });
      }
    } else if (busyMs >= this.thresholdMs && delayMs >= this.thresholdMs - interval) {
      state.recordStall(busyMs / 1000);
      this.onStall({ durationMs: busyMs, startTime: this.clock.wallMs() - busyMs, endNs: now, sinceNs });
    }
    return next;
  }

  /**
   * The busy time of the loop iterations that reached the threshold since the last beat, if any: those the meter
   * completed since then (added up by the meter) and the one in progress (which the block that just ended belongs
   * to when it ran in this same iteration), each counting only its busy time after the previous beat. Several add up
   * to one stall, from the start of the first: the watchdog saw one freeze from the previous beat on (the old
   * window-based measure counted them together too). `sinceStartMs`: how long before now the first began.
   */
  private longestSpan(c: Float64Array, nowMs: number, activeMs: number, idleMs: number): { durationMs: number; sinceStartMs: number } | undefined {
    // Each iteration's busy time is split at the beats that ran inside it (a beat runs in an iteration's timers
    // phase): what a beat counted is written to cells 5–6, and the meter leaves it out when the iteration completes,
    // so two blocks in one iteration on either side of a beat are two stalls, as two back-to-back requests are.
    let preLoopMs = 0;
    if (this.firstSpan) {
      // A meter made before the event loop started (agent started by the main or a worker's script): the script's
      // run up to the loop's start is not an iteration. The loop started `active + idle` ms ago (event-loop
      // utilization counts from the loop's start).
      this.firstSpan = false;
      preLoopMs = Math.max(0, nowMs - (activeMs + idleMs) - this.firstSpanId);
    }
    let durationMs = c[2];
    let startMs = c[3];
    c[2] = 0;
    const current = nowMs - c[0] - (idleMs - c[1]);
    const counted = c[0] !== c[6] ? 0 : c[5] === Infinity ? preLoopMs : c[5];
    const currentNew = current - counted;
    // Counted from here on: the meter subtracts it when this iteration completes.
    c[5] = current;
    c[6] = c[0];
    if (currentNew >= this.thresholdMs) {
      if (durationMs === 0) startMs = nowMs - currentNew;
      durationMs += currentNew;
    }
    return durationMs >= this.thresholdMs ? { durationMs, sinceStartMs: nowMs - startMs } : undefined;
  }

  /**
   * Whether the thread has been busy a threshold or more since the last beat: a worker about to park in an idle
   * wait beats first then (heartbeat/idle-wait.ts), so the work before the wait is measured as the stall it is.
   */
  busySinceBeatReaches(thresholdMs: number = this.thresholdMs): boolean {
    return this.clock.loopTime().active - this.prevActive >= thresholdMs;
  }

  /**
   * Takes an idle wait of `waitNs` (Atomics.wait on a worker thread, heartbeat/idle-wait.ts) out of what the next
   * beat measures: event-loop utilization counts a wait inside JavaScript as busy, and the beat that follows would
   * otherwise see the wait as a stall and its length as loop delay. The last beat moves forward by the wait (in
   * the shared state too, so the watchdog times a block after the wait from the wait's end), and with the loop
   * meter the wait counts as already counted busy time of the iteration it ran in. Returns the moved beat (ns).
   */
  creditIdleWait(waitNs: bigint): bigint {
    const waitMs = Number(waitNs) / 1e6;
    this.prevNs += waitNs;
    this.prevActive += waitMs;
    const c = this.meterCells;
    if (c) {
      if (c[6] !== c[0]) {
        c[6] = c[0];
        c[5] = waitMs;
      } else if (c[5] !== Infinity) c[5] += waitMs;
    }
    this.state.beat(this.prevNs);
    return this.prevNs;
  }

  private nextInterval(busyMs: number, gapMs: number): number {
    if (this.meterCells) return this.maxIntervalMs;
    const r = this.resolutionMs;
    if (this.maxIntervalMs <= r) return r;
    const utilization = gapMs > 0 ? busyMs / gapMs : 1;
    const ideal = utilization > 0 ? this.errorBudgetMs / utilization : this.maxIntervalMs;
    return Math.max(r, Math.min(this.maxIntervalMs, Math.floor(ideal / r) * r));
  }
}
