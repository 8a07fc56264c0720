/**
 * When a stack sample is late. The watchdog stamps each request with the monotonic clock (`process.hrtime`, one
 * CLOCK_MONOTONIC for every thread of the process) and the getter reads the same clock when V8 runs it. In
 * interruptible code V8 services the request within microseconds (it checks at every function entry and loop
 * back-edge); a builtin that does not check (a large `JSON.parse`, `Array.prototype.sort`, a `Buffer` copy) or a
 * native call defers it until it returns, and the stack then shows whatever ran next, not what blocked.
 */

/** Monotonic ms, the same on every thread (hrtime.bigint in ms with µs resolution: exact as a double). */
export function monotonicMs(ns: bigint = process.hrtime.bigint()): number {
  return Number(ns / 1000n) / 1000;
}

/**
 * Lateness threshold for a sampling interval: one whole interval. A sample serviced later than that means the
 * thread went a full sampling period without checking for interrupts, so it cannot say what ran in that period;
 * on time, the delay measured on a loaded 2-CPU host stays under a few ms (docs/attribution.md). Never under 20 ms,
 * so scheduler noise (a descheduled thread) is not taken for a non-interruptible builtin.
 */
export function lateAfterMs(sampleIntervalMs: number): number {
  return Math.max(20, sampleIntervalMs);
}

/**
 * How many samples a sample requested at `requestedMs` and serviced at `nowNs` stands for that were never taken: 0
 * when on time, else its delay in `lateAfter` periods (at least 1). A late sample weighs that much unknown time
 * against the on-time samples when the culprit is decided (aggregate.ts, stall-mark.ts).
 */
export function missedSamples(nowNs: bigint, requestedMs: number | undefined, lateAfter: number | undefined): number {
  if (typeof requestedMs !== 'number' || typeof lateAfter !== 'number' || !(lateAfter > 0)) return 0;
  const delay = monotonicMs(nowNs) - requestedMs;
  return delay > lateAfter ? Math.max(1, Math.floor(delay / lateAfter)) : 0;
}

/**
 * The one rule weighing a stall's on-time samples against its late ones, run over the same samples by the watchdog's
 * aggregate (aggregate.ts) and the thread's own notes (stall-mark.ts): unknown (late) time at least the leading
 * culprit's on-time samples names no culprit (`late`), as the block was mostly where no sample could look;
 * otherwise the on-time samples decide, and `confidence` is the leader's share of all periods (3 decimals).
 */
export function weighSamples(leaderSamples: number, onTime: number, late: number): { stackSource: 'sampled' | 'late'; confidence: number } {
  if (late > 0 && !(leaderSamples > late)) return { stackSource: 'late', confidence: 0 };
  const periods = onTime + late;
  return { stackSource: 'sampled', confidence: periods > 0 ? Math.round((leaderSamples / periods) * 1000) / 1000 : 0 };
}
