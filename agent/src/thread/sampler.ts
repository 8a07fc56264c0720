import type { ThreadState } from './state';

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
 */
export class LoopSampler {
  private prevNs: bigint;
  private prevActive: number;
  private interval: number;
  private readonly errorBudgetMs: number;
  private readonly maxIntervalMs: number;

  constructor(
    private readonly state: ThreadState,
    private readonly resolutionMs: number,
    private readonly thresholdMs: number,
    private readonly clock: SamplerClock,
    private readonly onStall: (stall: DetectedStall) => void,
    maxIntervalMs: number = resolutionMs,
    /** Runs right after each beat is published, before anything else (a stall's listeners may run app code). */
    private readonly afterBeat: () => void = () => {},
  ) {
    // Whole multiples of the resolution keep the sample weights integral.
    this.maxIntervalMs = Math.max(resolutionMs, Math.floor(maxIntervalMs / resolutionMs) * resolutionMs);
    this.prevNs = clock.nowNs();
    const t = clock.loopTime();
    this.prevActive = t.active;
    this.interval = resolutionMs;
    this.errorBudgetMs = DURATION_ERROR_BUDGET * thresholdMs;
    state.init(resolutionMs, thresholdMs, this.prevNs);
    state.setLoopTime(t.active, t.idle);
  }

  /** The interval the first beat is scheduled with (ms). */
  get initialIntervalMs(): number {
    return this.resolutionMs;
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

    if (busyMs >= this.thresholdMs && delayMs >= this.thresholdMs - interval) {
      state.recordStall(busyMs / 1000);
      this.onStall({ durationMs: busyMs, startTime: this.clock.wallMs() - busyMs, endNs: now, sinceNs });
    }
    return next;
  }

  private nextInterval(busyMs: number, gapMs: number): number {
    const r = this.resolutionMs;
    if (this.maxIntervalMs <= r) return r;
    const utilization = gapMs > 0 ? busyMs / gapMs : 1;
    const ideal = utilization > 0 ? this.errorBudgetMs / utilization : this.maxIntervalMs;
    return Math.max(r, Math.min(this.maxIntervalMs, Math.floor(ideal / r) * r));
  }
}
