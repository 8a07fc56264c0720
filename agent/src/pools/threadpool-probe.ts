/**
 * The libuv threadpool's queue wait, probed: every interval one 1-byte
 * `crypto.randomFill` (a threadpool job in every Node version) is submitted
 * through the *unwrapped* API; the time from submit to callback, minus the
 * smallest such time ever seen (the probe's intrinsic dispatch cost), is the
 * wait a job submitted at that moment spent queued. One probe in flight at a
 * time. It needs no wrapping of anything, so it is cheap to leave on.
 */
import { performance } from 'node:perf_hooks';
import cryptoMod = require('node:crypto');

export interface ProbeListener {
  /** Before each probe is submitted (the monitor's periodic work rides on the probe's timer). */
  beforeProbe(first: boolean): void;
  /** A completed probe's wait in seconds. */
  onWait(seconds: number): void;
  onError(err: unknown, where: string): void;
}

export class QueueWaitProbe {
  private timer: NodeJS.Timeout | null = null;
  private readonly buf = Buffer.alloc(1);
  private submitted = 0;
  private outstanding = false;
  probes = 0;
  private min = Infinity;
  lastWait = 0;
  /** Captured at construction: the probe must not go through (or be counted by) the operation wrappers. */
  private readonly randomFill: typeof cryptoMod.randomFill = cryptoMod.randomFill;
  /** One callback for every probe: nothing is allocated per probe. */
  private readonly done = (err: Error | null): void => this.onDone(err);

  constructor(private readonly listener: ProbeListener) {}

  /** Smallest round trip seen (s), 0 before the first probe. */
  get baseline(): number {
    return this.min === Infinity ? 0 : this.min;
  }

  start(intervalMs: number): void {
    // The first probe waits one interval: the threadpool is created (and
    // UV_THREADPOOL_SIZE read) on first use, and the app's main module may
    // still set UV_THREADPOOL_SIZE after a preloaded agent starts.
    this.timer = setInterval(() => this.tick(), Math.max(10, intervalMs));
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private tick(): void {
    this.listener.beforeProbe(this.probes === 0);
    if (this.outstanding || !this.timer) return;
    this.outstanding = true;
    this.submitted = performance.now();
    try {
      this.randomFill(this.buf, 0, 1, this.done);
    } catch (err) {
      this.outstanding = false;
      this.listener.onError(err, 'probe');
    }
  }

  private onDone(err: Error | null): void {
    const rt = (performance.now() - this.submitted) / 1000;
    this.outstanding = false;
    if (err) return this.listener.onError(err, 'probe');
    this.probes++;
    if (rt < this.min) this.min = rt;
    const wait = rt - this.min;
    this.lastWait = wait;
    // A probe that completes after stop() is not reported.
    if (this.timer) this.listener.onWait(wait);
  }
}
