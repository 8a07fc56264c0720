import type { ThreadDirectory } from '../channel/directory';

/** When an ongoing stall is reported: first at this age, then every `everyMs` while it lasts (liveReport options). */
export interface ProgressSchedule {
  afterMs: number;
  everyMs: number;
}
const DEFAULT_SCHEDULE: ProgressSchedule = { afterMs: 1000, everyMs: 5000 };
/** Poll cadence while a thread is stalled (progress reports; attribution samples on its own timer). */
const STALLED_POLL_MS = 50;
const MIN_POLL_MS = 5;
const MAX_POLL_MS = 1000;
/**
 * Idle cadence when every running thread has a native deadline (native.ts): those wake the watchdog themselves when
 * a heartbeat is overdue, so this only refreshes the watchdog's bookkeeping (its CPU counter for OTLP, a thread that
 * gave its deadline up, which is then never blind for longer than the timer path's own 1 s cap).
 */
const COVERED_IDLE_MS = MAX_POLL_MS;

/**
 * Watches every thread's heartbeat from the watchdog thread and tells when a
 * stall starts, how it goes and when it ends — while the stalled thread
 * itself cannot run any code.
 */
export class StallWatch {
  private readonly ongoing = new Map<number, { nextReportMs: number }>();

  constructor(
    private readonly directory: ThreadDirectory,
    private readonly report: boolean,
    private readonly write: (line: string) => void,
    private readonly hooks: {
      onStallStart?(threadId: number): void;
      onStallEnd?(threadId: number): void;
      /** A stall reached a report age: the caller reports it (else the plain progress line is written, if `report`). */
      onProgress?(threadId: number, blockedMs: number): void;
    } = {},
    private readonly schedule: ProgressSchedule = DEFAULT_SCHEDULE,
  ) {}

  /**
   * Checks every thread; returns how many ms from now the next check is useful.
   *
   * A thread whose heartbeat is `threshold` old may be in a stall: any block of
   * the threshold or longer is still running then, whatever the heartbeat's
   * (adaptive) interval was, so attribution starts there and sees every stall.
   * Before that nothing can be declared, so the watchdog sleeps until then
   * instead of waking on a fixed short period (each wake-up costs CPU even
   * when nothing happens). A `covered` thread has a native deadline that
   * wakes the watchdog at that moment by itself: no timer is set for it. Progress reports use the blocked time proper
   * (`blockedForMs`, which never overstates).
   */
  poll(nowNs: bigint, covered: (threadId: number) => boolean = () => false): number {
    let next = COVERED_IDLE_MS;
    // A thread that went away mid-stall (a worker terminated while blocked) ends its stall here: its attribution
    // session would otherwise stay connected for good.
    for (const id of this.ongoing.keys()) {
      if (this.directory.get(id) === undefined) {
        this.ongoing.delete(id);
        this.hooks.onStallEnd?.(id);
      }
    }
    for (const t of this.directory.threads()) {
      const suspect = t.state.running && t.state.heartbeatAgeMs(nowNs) >= t.state.thresholdMs;
      const blockedMs = t.state.blockedForMs(nowNs);
      if (suspect) next = Math.min(next, STALLED_POLL_MS);
      else if (!t.state.running) next = Math.min(next, MAX_POLL_MS);
      // Parked in an idle wait (heartbeat/idle-wait.ts): not stalled; looked at again a threshold on, not every 5 ms.
      else if (t.state.parked && !covered(t.id)) next = Math.min(next, Math.max(MIN_POLL_MS, t.state.thresholdMs));
      else if (!covered(t.id)) {
        const dueMs = Number(t.state.lastBeatNs - nowNs) / 1e6 + t.state.thresholdMs;
        next = Math.min(next, Math.max(MIN_POLL_MS, Math.ceil(dueMs)));
      }
      const current = this.ongoing.get(t.id);
      if (suspect) {
        let entry = current;
        if (!entry) {
          entry = { nextReportMs: this.schedule.afterMs };
          this.ongoing.set(t.id, entry);
          this.hooks.onStallStart?.(t.id);
        }
        if (blockedMs >= entry.nextReportMs) {
          // The next one at the next multiple of `everyMs` (a late poll does not bring two in a row).
          while (entry.nextReportMs <= blockedMs) entry.nextReportMs += this.schedule.everyMs;
          if (this.hooks.onProgress) this.hooks.onProgress(t.id, blockedMs);
          else if (this.report) this.write(`thread "${t.name}" has been blocked for ${(blockedMs / 1000).toFixed(1)} s (stall in progress)`);
        }
      } else if (current) {
        this.ongoing.delete(t.id);
        this.hooks.onStallEnd?.(t.id);
      }
    }
    return next;
  }
}
