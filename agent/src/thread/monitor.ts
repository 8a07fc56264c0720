import { performance } from 'node:perf_hooks';
import type { Diagnostics } from '../diag';
import { observeGc } from './gc';
import { LoopSampler, type DetectedStall, type SamplerClock } from './sampler';
import { ThreadState } from './state';

const realClock: SamplerClock = {
  nowNs: process.hrtime.bigint,
  loopTime: () => {
    const u = performance.eventLoopUtilization();
    return { active: u.active, idle: u.idle };
  },
  wallMs: Date.now,
};

/**
 * Measures the thread it runs on: one unref'd heartbeat timer (delay samples,
 * stalls, loop utilization) and a GC observer, all written to shared memory.
 * The heartbeat is a timeout re-armed by each beat with the interval the
 * sampler asks for (adaptive, see LoopSampler).
 */
export class ThreadMonitor {
  readonly state = new ThreadState();
  private timer: NodeJS.Timeout;
  private stopped = false;
  private readonly gc: { stop(): void };
  private readonly beatHooks: Array<{ fn: () => void; component: string }> = [];
  private readonly beat: () => number;

  constructor(
    resolutionMs: number,
    thresholdMs: number,
    maxIntervalMs: number,
    diag: Diagnostics,
    onStall: (s: DetectedStall) => void,
  ) {
    const sampler = new LoopSampler(this.state, resolutionMs, thresholdMs, realClock, onStall, maxIntervalMs);
    let current = sampler.initialIntervalMs;
    this.beat = (): number => {
      let next = current;
      try {
        next = sampler.beat();
      } catch (err) {
        diag.error('sampler', 'heartbeat failed', err);
      }
      for (const h of this.beatHooks) {
        try {
          h.fn();
        } catch (err) {
          diag.error(h.component, 'heartbeat task failed', err);
        }
      }
      return next;
    };
    const tick = (): void => {
      const next = this.beat();
      if (this.stopped) return;
      if (next === current) {
        // Same interval: reuse the timer (no allocation per beat).
        this.timer.refresh();
      } else {
        current = next;
        this.timer = setTimeout(tick, next);
        // Ensure the heartbeat can't keep the app alive.
        this.timer.unref();
      }
    };
    this.timer = setTimeout(tick, current);
    this.timer.unref();
    this.gc = observeGc(this.state, (err) => diag.error('gc', 'GC observer failed', err));
  }

  /**
   * One heartbeat now, outside the timer: the thread is about to exit, and a block in its last callback would
   * otherwise never be seen (the unref'd timer does not fire again).
   */
  finalBeat(): void {
    if (!this.stopped) this.beat();
  }

  /** Runs `fn` after every beat (work that can wait ≤ one interval, batched instead of done on every event). */
  onBeat(fn: () => void, component: string): void {
    this.beatHooks.push({ fn, component });
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.gc.stop();
    this.state.markStopped();
  }
}
