import { DELAY_BUCKETS, GC_BUCKETS, STALL_BUCKETS } from '../metrics/names';
import { bucketIndex, FINE_BUCKETS, fineIndex } from '../metrics/histogram';

/**
 * The shared-memory record of one monitored thread. The thread writes it
 * (heartbeat, delay samples, stalls, GC, loop utilization); the watchdog
 * worker and exporters read it at scrape time, even while the thread is
 * blocked. Values are cumulative since the agent started on that thread, so
 * any number of readers can compute their own windows.
 *
 * Single writer, many readers, no locks: each slot is an aligned 8-byte
 * write. A reader may see a histogram bucket updated before its sum; readers
 * derive counts from the buckets so the exposition stays consistent.
 */
export const GC_TYPES = ['major', 'minor', 'incremental', 'weakcb'] as const;
export type GcType = (typeof GC_TYPES)[number];

const HEADER = 16;
const enum H {
  LastBeatNs = 0, // BigInt64 slot, written with Atomics
  IntervalMs = 1,
  ThresholdMs = 2,
  EluActiveMs = 3,
  EluIdleMs = 4,
  DelaySum = 5,
  DelaySumSq = 6,
  StallSum = 7,
  Running = 8,
  StallStartedNs = 9, // reserved for the watchdog's stall-start bookkeeping
  ResolutionMs = 10,
  DeadlineId = 11, // the thread's native deadline id + 1 (0: none; the watchdog then polls on a timer)
  Parked = 12, // 1 while a worker thread waits for work in Atomics.wait (heartbeat/idle-wait.ts): idle, not stalled
}

const DELAY_COARSE = HEADER;
const DELAY_FINE = DELAY_COARSE + DELAY_BUCKETS.length + 1;
const STALL = DELAY_FINE + FINE_BUCKETS;
const GC = STALL + STALL_BUCKETS.length + 1;
const GC_STRIDE = GC_BUCKETS.length + 2; // counts incl. +Inf, then sum
// Per stall bucket, the latest stall with a trace: [value (s), timestamp (epoch s), trace id high, low 64 bits].
const EXEMPLAR = GC + GC_STRIDE * GC_TYPES.length;
const EXEMPLAR_STRIDE = 4;
const SIZE = EXEMPLAR + EXEMPLAR_STRIDE * (STALL_BUCKETS.length + 1);

export interface Exemplar {
  traceId: string;
  value: number;
  /** Epoch seconds. */
  timestamp: number;
}

export class ThreadState {
  readonly buffer: SharedArrayBuffer;
  private readonly f: Float64Array;
  private readonly b: BigInt64Array;
  private readonly u: BigUint64Array;

  constructor(buffer?: SharedArrayBuffer) {
    this.buffer = buffer ?? new SharedArrayBuffer(SIZE * 8);
    this.f = new Float64Array(this.buffer);
    this.b = new BigInt64Array(this.buffer);
    this.u = new BigUint64Array(this.buffer);
  }

  // --- writer side (the monitored thread) ---

  /**
   * `resolutionMs`: the delay-sampling resolution (coordinated-omission back-fill step); the heartbeat's
   * current interval starts there and adapts between beats (setInterval).
   */
  init(resolutionMs: number, thresholdMs: number, nowNs: bigint): void {
    this.f[H.ResolutionMs] = resolutionMs;
    this.f[H.IntervalMs] = resolutionMs;
    this.f[H.ThresholdMs] = thresholdMs;
    this.f[H.Running] = 1;
    this.beat(nowNs);
  }

  beat(nowNs: bigint): void {
    Atomics.store(this.b, H.LastBeatNs, nowNs);
  }

  /** The interval the next beat is scheduled with; readers use it to tell a late beat from a blocked thread. */
  setInterval(intervalMs: number): void {
    this.f[H.IntervalMs] = intervalMs;
  }

  setLoopTime(activeMs: number, idleMs: number): void {
    this.f[H.EluActiveMs] = activeMs;
    this.f[H.EluIdleMs] = idleMs;
  }

  /** `count`: how many resolution-spaced samples this one stands for (a beat scheduled at 5× the resolution: 5). */
  recordDelay(seconds: number, count = 1): void {
    const f = this.f;
    f[DELAY_COARSE + bucketIndex(DELAY_BUCKETS, seconds)] += count;
    f[DELAY_FINE + fineIndex(seconds)] += count;
    f[H.DelaySum] += seconds * count;
    f[H.DelaySumSq] += seconds * seconds * count;
  }

  recordStall(seconds: number): void {
    this.f[STALL + bucketIndex(STALL_BUCKETS, seconds)]++;
    this.f[H.StallSum] += seconds;
  }

  recordGc(type: GcType, seconds: number): void {
    const base = GC + GC_STRIDE * GC_TYPES.indexOf(type);
    this.f[base + bucketIndex(GC_BUCKETS, seconds)]++;
    this.f[base + GC_STRIDE - 1] += seconds;
  }

  /**
   * The GC histograms' cells, in recordGc's layout (per GC_TYPES entry: a count per GC_BUCKETS bucket, +Inf, then
   * the sum of seconds), for the native GC timer to add to directly (native.ts watchGc).
   */
  gcRegion(): Float64Array {
    return new Float64Array(this.buffer, GC * 8, GC_STRIDE * GC_TYPES.length);
  }

  /** Links the stall bucket holding `seconds` to a trace (OpenMetrics exemplar). `traceId`: 32 hex digits. */
  setStallExemplar(seconds: number, traceId: string, epochMs: number): void {
    if (!/^[0-9a-f]{32}$/.test(traceId)) return;
    const base = EXEMPLAR + EXEMPLAR_STRIDE * bucketIndex(STALL_BUCKETS, seconds);
    // Timestamp last: a reader that sees 0 there skips the slot.
    this.f[base + 1] = 0;
    this.f[base] = seconds;
    this.u[base + 2] = BigInt(`0x${traceId.slice(0, 16)}`);
    this.u[base + 3] = BigInt(`0x${traceId.slice(16)}`);
    this.f[base + 1] = epochMs / 1000;
  }

  /**
   * A worker thread entering (true) or leaving (false) an idle wait. Leaving, the thread writes its fresh beat
   * first, so a reader never sees it unparked with the beat from before the wait.
   */
  setParked(parked: boolean): void {
    this.f[H.Parked] = parked ? 1 : 0;
  }

  markStopped(): void {
    this.f[H.Running] = 0;
  }

  /** The native deadline this thread re-arms on every beat (native.ts), or undefined when it has none (any more). */
  setDeadlineId(id: number | undefined): void {
    this.f[H.DeadlineId] = id === undefined || id < 0 ? 0 : id + 1;
  }

  // --- reader side (any thread) ---

  get running(): boolean {
    return this.f[H.Running] === 1;
  }
  /** Inside an idle wait (Atomics.wait on a worker thread): the thread is waiting for work, not blocked. */
  get parked(): boolean {
    return this.f[H.Parked] === 1;
  }
  get lastBeatNs(): bigint {
    return Atomics.load(this.b, H.LastBeatNs);
  }
  /** The heartbeat's current interval (adaptive: between the resolution and the configured maximum). */
  get intervalMs(): number {
    return this.f[H.IntervalMs];
  }
  /** The id of the thread's native deadline, if it has one. */
  get deadlineId(): number | undefined {
    const v = this.f[H.DeadlineId];
    return v > 0 ? v - 1 : undefined;
  }
  /** The delay-sampling resolution (ms). */
  get resolutionMs(): number {
    return this.f[H.ResolutionMs];
  }
  get thresholdMs(): number {
    return this.f[H.ThresholdMs];
  }
  get loopActiveMs(): number {
    return this.f[H.EluActiveMs];
  }
  get loopIdleMs(): number {
    return this.f[H.EluIdleMs];
  }
  get delaySum(): number {
    return this.f[H.DelaySum];
  }
  get delaySumSq(): number {
    return this.f[H.DelaySumSq];
  }
  get stallSum(): number {
    return this.f[H.StallSum];
  }
  delayBuckets(): Float64Array {
    return this.f.subarray(DELAY_COARSE, DELAY_COARSE + DELAY_BUCKETS.length + 1);
  }
  delayFine(): Float64Array {
    return this.f.subarray(DELAY_FINE, DELAY_FINE + FINE_BUCKETS);
  }
  stallBuckets(): Float64Array {
    return this.f.subarray(STALL, STALL + STALL_BUCKETS.length + 1);
  }
  gcBuckets(type: GcType): Float64Array {
    const base = GC + GC_STRIDE * GC_TYPES.indexOf(type);
    return this.f.subarray(base, base + GC_BUCKETS.length + 1);
  }
  /** The latest exemplar of each stall bucket (undefined where no traced stall landed). */
  stallExemplars(): (Exemplar | undefined)[] {
    const out: (Exemplar | undefined)[] = [];
    for (let i = 0; i <= STALL_BUCKETS.length; i++) {
      const base = EXEMPLAR + EXEMPLAR_STRIDE * i;
      const timestamp = this.f[base + 1];
      out.push(
        timestamp > 0
          ? {
              value: this.f[base],
              timestamp,
              traceId: this.u[base + 2].toString(16).padStart(16, '0') + this.u[base + 3].toString(16).padStart(16, '0'),
            }
          : undefined,
      );
    }
    return out;
  }

  gcSum(type: GcType): number {
    return this.f[GC + GC_STRIDE * GC_TYPES.indexOf(type) + GC_STRIDE - 1];
  }

  /**
   * Time since the last beat, in ms (0 when stopped or parked in an idle wait). From the threshold on, a
   * block that may turn out to be a stall is under way (it may still end short).
   */
  heartbeatAgeMs(nowNs: bigint): number {
    return this.running && !this.parked ? Number(nowNs - this.lastBeatNs) / 1e6 : 0;
  }

  /**
   * How long the thread has been blocked right now, in ms, as seen from
   * another thread: heartbeat age minus the beat interval (so it never
   * overstates), or 0 below the stall threshold, when stopped or when parked in an idle wait.
   */
  blockedForMs(nowNs: bigint): number {
    if (!this.running || this.parked) return 0;
    const age = Number(nowNs - this.lastBeatNs) / 1e6 - this.intervalMs;
    return age >= this.thresholdMs ? age : 0;
  }
}
