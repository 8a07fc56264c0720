import { performance } from 'node:perf_hooks';
import { isMainThread } from 'node:worker_threads';
import type { Diagnostics } from '../runtime/diag';
import type { Deadline, LoopMeter, Native } from '../runtime/native';
import { observeGc, type GcTiming } from './gc';
import { LoopSampler, type DetectedStall, type SamplerClock } from './sampler';
import { ThreadState } from '../channel/thread-state';
import { wrapAtomicsWait } from './idle-wait';

const realClock: SamplerClock = {
  nowNs: () => process.hrtime.bigint(),
  loopTime: () => {
    const u = performance.eventLoopUtilization();
    return { active: u.active, idle: u.idle };
  },
  wallMs: Date.now,
};

/**
 * Measures the thread it runs on: one unref'd heartbeat timer (delay samples,
 * stalls, loop utilization) and GC timing (native or a PerformanceObserver),
 * all written to shared memory.
 * The heartbeat is a timeout re-armed by each beat with the interval the
 * sampler asks for (adaptive, see LoopSampler).
 */
export class ThreadMonitor {
  readonly state = new ThreadState();
  private timer: NodeJS.Timeout;
  private stopped = false;
  private readonly gc: GcTiming;
  private readonly beatHooks: Array<{ fn: () => void; component: string }> = [];
  private readonly parkHooks: Array<{ fn: () => void; component: string }> = [];
  private unwrapWait: (() => void) | undefined;
  private readonly beat: () => number;
  private readonly sampler: LoopSampler;
  /** The interval the heartbeat timer runs with now (ms). */
  private current: number;
  private readonly tick: () => void;
  private deadline: Deadline | undefined;
  private readonly meter: LoopMeter | undefined;

  constructor(
    resolutionMs: number,
    thresholdMs: number,
    maxIntervalMs: number,
    diag: Diagnostics,
    onStall: (s: DetectedStall) => void,
    /**
     * A native deadline (native.ts) pushed to one threshold after every beat: the watchdog sleeps on it and wakes
     * only once a beat is overdue. Without one the watchdog polls on its own timer.
     */
    deadline?: Deadline,
    /**
     * A native loop meter (native.ts): a stall's duration is then the busy span of the loop iteration it blocked,
     * measured in C, and the heartbeat beats every `maxIntervalMs` even while the loop is busy.
     */
    meter?: LoopMeter,
    /** The native addon, to time GC pauses from V8's callbacks instead of a PerformanceObserver (thread/gc.ts). */
    native?: Native,
  ) {
    this.deadline = deadline;
    this.meter = meter;
    const dropDeadline = (why: string, err?: unknown): void => {
      diag.error('native', `${why}; the watchdog polls this thread on a timer instead`, err);
      this.closeDeadline();
    };
    // Pushed back right after each beat is published, before a stall's listeners run (they may run app code, and
    // the watchdog must be woken if that blocks): it can only fire once the beat is a threshold old.
    const pushDeadline = (ms = thresholdMs): void => {
      const d = this.deadline;
      if (!d) return;
      try {
        if (!d.arm(ms)) dropDeadline('could not re-arm the native deadline');
      } catch (err) {
        dropDeadline('could not re-arm the native deadline', err);
      }
    };
    const sampler = (this.sampler = new LoopSampler(this.state, resolutionMs, thresholdMs, realClock, onStall, maxIntervalMs, () => pushDeadline(), meter?.cells));
    this.current = sampler.initialIntervalMs;
    // After the sampler's first beat, so the first deadline is one threshold after it.
    try {
      if (deadline && !deadline.arm(thresholdMs)) dropDeadline('could not arm the native deadline');
      else this.state.setDeadlineId(deadline?.id);
    } catch (err) {
      dropDeadline('could not arm the native deadline', err);
    }
    this.beat = (): number => {
      let next = this.current;
      try {
        next = sampler.beat();
      } catch (err) {
        diag.error('sampler', 'heartbeat failed', err);
      }
      this.runHooks(this.beatHooks, diag, 'heartbeat task failed');
      return next;
    };
    this.tick = (): void => this.schedule(this.beat());
    this.timer = setTimeout(this.tick, this.current);
    this.timer.unref();
    if (!isMainThread) {
      this.unwrapWait = wrapAtomicsWait({
        park: () => {
          try {
            // The work before the wait is measured (and reported) now: a parked worker may not loop again for long.
            if (sampler.busySinceBeatReaches()) this.beat();
            this.runHooks(this.parkHooks, diag, 'task before an idle wait failed');
            this.state.setParked(true);
          } catch (err) {
            diag.error('heartbeat', 'could not mark the thread parked in an idle wait', err);
          }
        },
        resume: (waitNs) => {
          try {
            const beatNs = sampler.creditIdleWait(waitNs);
            // The deadline falls one threshold after the moved beat: the busy time before the wait counts.
            pushDeadline(Math.max(1, thresholdMs - Number(process.hrtime.bigint() - beatNs) / 1e6));
          } catch (err) {
            diag.error('heartbeat', 'could not time the end of an idle wait', err);
          } finally {
            this.state.setParked(false);
          }
        },
      });
    }
    this.gc = observeGc(this.state, (what, err) => diag.error('gc', what, err), native);
  }

  /** Where this thread's GC pauses come from. */
  get gcSource(): GcTiming['source'] {
    return this.gc.source;
  }

  /**
   * One heartbeat now, outside the timer: the thread is about to exit, and a block in its last callback would
   * otherwise never be seen (the unref'd timer does not fire again).
   */
  finalBeat(): void {
    if (!this.stopped) this.beat();
  }

  /**
   * One heartbeat now, outside the timer, if the thread has been busy a threshold or more since its last beat (so a
   * stall may have just ended), and the timer re-armed from it: a request the stall delayed is ending, and its span
   * event is written from the stall's record, which only a beat makes (stall/pipeline.ts). The next beat comes one
   * interval after this one, as after a timer beat.
   */
  beatIfBusy(): void {
    if (this.stopped || !this.sampler.busySinceBeatReaches()) return;
    this.schedule(this.beat());
  }

  /** Re-arms the heartbeat timer `next` ms from now (the interval the beat that just ran asked for). */
  private schedule(next: number): void {
    if (this.stopped) return;
    if (next === this.current) {
      // Same interval: reuse the timer (no allocation per beat).
      this.timer.refresh();
    } else {
      this.current = next;
      clearTimeout(this.timer);
      this.timer = setTimeout(this.tick, next);
      // Ensure the heartbeat can't keep the app alive.
      this.timer.unref();
    }
  }

  /** Runs `fn` after every beat (work that can wait ≤ one interval, batched instead of done on every event). */
  onBeat(fn: () => void, component: string): void {
    this.beatHooks.push({ fn, component });
  }

  /**
   * Runs `fn` when this worker thread parks in an idle wait (heartbeat/idle-wait.ts), after the work before the wait
   * was measured: work that cannot wait for the thread's next loop turn, which a parked worker may not take for long.
   */
  onPark(fn: () => void, component: string): void {
    this.parkHooks.push({ fn, component });
  }

  private runHooks(hooks: ReadonlyArray<{ fn: () => void; component: string }>, diag: Diagnostics, what: string): void {
    for (const h of hooks) {
      try {
        h.fn();
      } catch (err) {
        diag.error(h.component, what, err);
      }
    }
  }

  stop(): void {
    this.stopped = true;
    this.unwrapWait?.();
    this.unwrapWait = undefined;
    clearTimeout(this.timer);
    this.gc.stop();
    this.state.markStopped();
    this.closeDeadline();
    this.meter?.close();
  }

  private closeDeadline(): void {
    // The slot first: the watchdog must not take up a descriptor number that is about to be freed and reused.
    this.state.setDeadlineId(undefined);
    const d = this.deadline;
    this.deadline = undefined;
    d?.close();
  }
}
