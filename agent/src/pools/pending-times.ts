/**
 * Pending acquire timestamps keyed by a numeric request id (tarn's event ids:
 * increasing integers), in a preallocated ring: slot = id mod capacity. No
 * allocation and no Map churn per acquire. Bounded: when a request's slot is
 * still held by another pending request (more than `capacity` pending at
 * once), the new request is not timed (counted in `dropped`), so a pool whose
 * acquires never settle cannot grow memory.
 */
export class PendingTimes {
  private readonly ids: Float64Array;
  private readonly times: Float64Array;
  private readonly mask: number;
  private count = 0;
  dropped = 0;
  /** `capacity` is rounded up to a power of two (default 4096 → 64 KB). */
  constructor(capacity = 4096) {
    let n = 1;
    while (n < capacity) n *= 2;
    this.mask = n - 1;
    this.ids = new Float64Array(n).fill(-1);
    this.times = new Float64Array(n);
  }
  get capacity(): number {
    return this.mask + 1;
  }
  start(id: number, t: number): void {
    const i = id & this.mask;
    if (this.ids[i] !== -1) {
      this.dropped++;
      return;
    }
    this.ids[i] = id;
    this.times[i] = t;
    this.count++;
  }
  /** Removes and returns the start time, or undefined if not tracked. */
  take(id: number): number | undefined {
    const i = id & this.mask;
    if (this.ids[i] !== id) return undefined;
    this.ids[i] = -1;
    this.count--;
    return this.times[i];
  }
  get size(): number {
    return this.count;
  }
  clear(): void {
    this.ids.fill(-1);
    this.count = 0;
  }
}
