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
 * Runs on every heartbeat of a monitored thread.
 *
 * - Delay: a beat due every `intervalMs` that runs `d` ms late is one delay
 *   sample of `d`; if `d` spans several intervals, the beats that never ran
 *   would have seen `d - interval`, `d - 2·interval`, … — they are recorded
 *   too, so a 2 s block at 10 ms weighs as ~200 samples (nodejs/node#34661).
 * - Stall: the thread's busy time between two beats (event-loop utilization
 *   delta, capped by the gap) is how long it ran without yielding; at or over
 *   the threshold that is one stall with that exact duration.
 */
export class LoopSampler {
  private prevNs: bigint;
  private prevActive: number;

  constructor(
    private readonly state: ThreadState,
    private readonly intervalMs: number,
    private readonly thresholdMs: number,
    private readonly clock: SamplerClock,
    private readonly onStall: (stall: DetectedStall) => void,
  ) {
    this.prevNs = clock.nowNs();
    const t = clock.loopTime();
    this.prevActive = t.active;
    state.init(intervalMs, thresholdMs, this.prevNs);
    state.setLoopTime(t.active, t.idle);
  }

  beat(): void {
    const now = this.clock.nowNs();
    const loop = this.clock.loopTime();
    const gapMs = Number(now - this.prevNs) / 1e6;
    const busyMs = Math.min(loop.active - this.prevActive, gapMs);
    const sinceNs = this.prevNs;
    this.prevNs = now;
    this.prevActive = loop.active;

    const state = this.state;
    state.beat(now);
    state.setLoopTime(loop.active, loop.idle);

    const delayMs = gapMs - this.intervalMs;
    if (delayMs > 0) {
      state.recordDelay(delayMs / 1000);
      let missed = delayMs - this.intervalMs;
      for (let n = 0; missed > 0 && n < MAX_BACKFILL; n++, missed -= this.intervalMs) {
        state.recordDelay(missed / 1000);
      }
    } else {
      state.recordDelay(0);
    }

    if (busyMs >= this.thresholdMs) {
      state.recordStall(busyMs / 1000);
      this.onStall({ durationMs: busyMs, startTime: this.clock.wallMs() - busyMs, endNs: now, sinceNs });
    }
  }
}
