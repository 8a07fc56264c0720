/**
 * The libuv threadpool as pool kind `libuv` (one per process): the monitor
 * and its metric wiring.
 *
 * - `max`: UV_THREADPOOL_SIZE parsed the way libuv parses it (threadpool-size.ts).
 * - `used`/`idle`/`pending`: from counting the *in-flight* operations of the
 *   built-in threadpool-backed APIs (threadpool-ops.ts wraps them; zlib and
 *   dns when the app loads them, threadpool-lazy.ts).
 *   used = min(inFlight, max), pending = max(0, inFlight − max), idle = max − used.
 * - `wait_time`: a real probe of the queue (threadpool-probe.ts).
 *
 * What it cannot see (documented in docs/pools.md): threadpool work submitted
 * by native addons (N-API async work, e.g. bcrypt, sharp), zlib *streams*,
 * FileHandle methods, WebCrypto, and Node's own internal use — these are
 * missing from the counts but do show in the probe's wait. The probe's time
 * also includes any event-loop blocking between the job's completion and its
 * callback.
 */
import {
  type OnAdapterError,
  type PoolSink,
  type SinkFactory,
  type ThreadpoolFamilySink,
  type ThreadpoolMonitorHandle,
  type ThreadpoolMonitorOptions,
  type ThreadpoolStats,
} from './types';
import { reportSafely } from './report';
import { threadpoolSize } from './threadpool-size';
import { CRYPTO, DNS, FS, ZLIB, Wrappers, type OpCounter } from './threadpool-ops';
import { LazyBuiltins, syncEsm } from './threadpool-lazy';
import { QueueWaitProbe, type ProbeListener } from './threadpool-probe';


let running: ThreadpoolMonitor | null = null;

class ThreadpoolMonitor implements OpCounter, ProbeListener {
  /** In flight per family, indexed like THREADPOOL_FAMILIES (fs, crypto, zlib, dns). */
  private readonly counts = [0, 0, 0, 0];
  private inFlight = 0;
  private size: number;
  private sink: PoolSink | null;
  private families: ThreadpoolFamilySink | null;
  private readonly probe: QueueWaitProbe;
  private readonly wrappers: Wrappers | null;
  private readonly lazy: LazyBuiltins | null;
  /** Reused for every push: counting an operation allocates nothing (the sink copies the values). */
  private readonly snap = { max: 0, used: 0, idle: 0, pending: 0 };
  private readonly reporter = (err: unknown, where: string): void => this.onError(err, where);

  constructor(
    sink: PoolSink,
    families: ThreadpoolFamilySink | null,
    private readonly onErrorCb: OnAdapterError,
    private readonly opts: ThreadpoolMonitorOptions,
  ) {
    this.sink = sink;
    this.families = families;
    this.size = threadpoolSize();
    this.probe = new QueueWaitProbe(this);
    const counting = opts.countOperations === true;
    const wrappers = counting ? new Wrappers(this, this.reporter) : null;
    this.wrappers = wrappers;
    this.lazy = wrappers ? new LazyBuiltins((m) => wrappers.wrapLazy(m), this.reporter) : null;
  }

  onError(err: unknown, where: string): void {
    reportSafely(this.onErrorCb, err, `threadpool: ${where}`);
  }

  start(): void {
    if (this.wrappers && this.lazy) {
      this.wrappers.wrapCore();
      this.lazy.start();
      syncEsm(this.reporter);
    }
    this.push();
    this.probe.start(this.opts.probeIntervalMs ?? 1000);
  }

  stop(): void {
    this.probe.stop();
    if (this.wrappers && this.lazy) {
      this.lazy.stop();
      this.wrappers.restore();
      syncEsm(this.reporter);
    }
    const sink = this.sink;
    this.sink = null;
    if (sink) {
      try {
        sink.close();
      } catch (err) {
        this.onError(err, 'sink.close');
      }
    }
    const families = this.families;
    this.families = null;
    if (families) {
      try {
        families.close();
      } catch (err) {
        this.onError(err, 'families.close');
      }
    }
  }

  stats(): ThreadpoolStats {
    const c = this.counts;
    return {
      size: this.size,
      inFlight: this.inFlight,
      byFamily: { fs: c[FS], crypto: c[CRYPTO], zlib: c[ZLIB], dns: c[DNS] },
      probes: this.probe.probes,
      probeBaseline: this.probe.baseline,
      lastWait: this.probe.lastWait,
      unloaded: this.lazy ? [...this.lazy.pending] : [],
      wrapped: this.wrappers ? this.wrappers.size : 0,
    };
  }

  beforeProbe(first: boolean): void {
    this.lazy?.poll();
    if (first && this.sink) {
      // Whoever used the pool first fixed its size; by now that has happened.
      this.size = threadpoolSize();
      this.push();
    }
  }

  onWait(seconds: number): void {
    if (!this.sink) return;
    try {
      this.sink.observeWait(seconds);
    } catch (e) {
      this.onError(e, 'sink.observeWait');
    }
  }

  private push(): void {
    const sink = this.sink;
    if (!sink) return;
    const max = this.size;
    const n = this.inFlight;
    const used = n < max ? n : max;
    const s = this.snap;
    s.max = max;
    s.used = used;
    s.idle = max - used;
    s.pending = n > max ? n - max : 0;
    try {
      sink.update(s);
    } catch (err) {
      this.onError(err, 'sink.update');
    }
  }

  inc(f: number): void {
    const n = ++this.counts[f];
    this.inFlight++;
    this.push();
    const fam = this.families;
    if (fam) {
      try {
        fam.inFlight(f, n);
        fam.submitted(f);
      } catch (err) {
        this.onError(err, 'families');
      }
    }
  }

  dec(f: number): void {
    const c = this.counts;
    if (c[f] > 0) c[f]--;
    if (this.inFlight > 0) this.inFlight--;
    this.push();
    const fam = this.families;
    if (fam) {
      try {
        fam.inFlight(f, c[f]);
      } catch (err) {
        this.onError(err, 'families');
      }
    }
  }
}

export function startThreadpoolMonitor(
  sinks: SinkFactory,
  onError: OnAdapterError,
  options?: ThreadpoolMonitorOptions,
): ThreadpoolMonitorHandle {
  const noop: ThreadpoolMonitorHandle = {
    stop() {},
    stats: () => ({
      size: threadpoolSize(),
      inFlight: 0,
      byFamily: { fs: 0, crypto: 0, zlib: 0, dns: 0 },
      probes: 0,
      probeBaseline: 0,
      lastWait: 0,
      unloaded: [],
      wrapped: 0,
    }),
  };
  try {
    if (running) {
      reportSafely(onError, new Error('threadpool monitor already running'), 'startThreadpoolMonitor');
      return noop;
    }
    // Opt-in: see docs/pools.md, "Counting operations: opt-in". Without it only the size and the probed wait are known.
    const counting = options?.countOperations === true;
    const sink = sinks('libuv', 'libuv', { levels: counting ? 'all' : 'max' });
    const families = counting && sinks.threadpoolFamilies ? sinks.threadpoolFamilies() : null;
    const m = new ThreadpoolMonitor(sink, families, onError, options ?? {});
    running = m;
    m.start();
    return {
      stop() {
        if (running === m) running = null;
        m.stop();
      },
      stats: () => m.stats(),
    };
  } catch (err) {
    reportSafely(onError, err, 'startThreadpoolMonitor');
    return noop;
  }
}
