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
 */
export class ThreadMonitor {
  readonly state = new ThreadState();
  private readonly timer: NodeJS.Timeout;
  private readonly gc: { stop(): void };

  constructor(intervalMs: number, thresholdMs: number, diag: Diagnostics, onStall: (s: DetectedStall) => void) {
    const sampler = new LoopSampler(this.state, intervalMs, thresholdMs, realClock, onStall);
    this.timer = setInterval(() => {
      try {
        sampler.beat();
      } catch (err) {
        diag.error('sampler', 'heartbeat failed', err);
      }
    }, intervalMs);
    // Ensure the heartbeat can't keep the app alive.
    this.timer.unref();
    this.gc = observeGc(this.state, (err) => diag.error('gc', 'GC observer failed', err));
  }

  stop(): void {
    clearInterval(this.timer);
    this.gc.stop();
    this.state.markStopped();
  }
}
