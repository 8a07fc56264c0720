/**
 * The libuv threadpool as pool kind `libuv` (one per process).
 *
 * - `max`: UV_THREADPOOL_SIZE parsed the way libuv parses it (atoi; 0 → 1;
 *   negative or > 1024 → 1024; default 4).
 * - `used`/`idle`/`pending`: from counting the *in-flight* operations of the
 *   built-in threadpool-backed APIs (fs, crypto, zlib convenience functions,
 *   dns.lookup/lookupService): each exported function is wrapped so the count
 *   goes up on the call and down when its callback runs / its promise settles.
 *   used = min(inFlight, max), pending = max(0, inFlight − max), idle = max − used.
 * - `wait_time`: a real probe. Every `probeIntervalMs` one 1-byte
 *   `crypto.randomFill` (a threadpool job in every Node version) is submitted
 *   through the *unwrapped* API; the time from submit to callback, minus the
 *   smallest such time ever seen (the probe's intrinsic dispatch cost), is
 *   the wait a job submitted at that moment spent queued. One probe in flight
 *   at a time.
 *
 * What it cannot see (documented in docs/pools.md): threadpool work submitted
 * by native addons (N-API async work, e.g. bcrypt, sharp), zlib *streams*,
 * FileHandle methods, WebCrypto, and Node's own internal use — these are
 * missing from the counts but do show in the probe's wait. The probe's time
 * also includes any event-loop blocking between the job's completion and its
 * callback.
 */
import { performance } from 'node:perf_hooks';
import type {
  OnAdapterError,
  PoolSink,
  SinkFactory,
  ThreadpoolMonitorHandle,
  ThreadpoolMonitorOptions,
  ThreadpoolStats,
} from './types';
import cryptoMod = require('node:crypto');
import zlibMod = require('node:zlib');
import dnsMod = require('node:dns');
import fsMod = require('node:fs');
import moduleMod = require('node:module');

/** libuv's MAX_THREADPOOL_SIZE. */
export const MAX_THREADPOOL_SIZE = 1024;

/** Parses UV_THREADPOOL_SIZE exactly like libuv's init_threads(). */
export function threadpoolSize(value: string | undefined = process.env.UV_THREADPOOL_SIZE): number {
  if (value === undefined) return 4;
  // atoi: optional leading whitespace, optional sign, digits; stops at the first non-digit.
  const m = /^[\t\n\v\f\r ]*([+-]?)(\d*)/.exec(value);
  const digits = m?.[2] ?? '';
  let n = digits ? Number(digits.slice(0, 12)) : 0;
  if (m?.[1] === '-') n = -n;
  if (n === 0) return 1;
  // nthreads is unsigned: a negative atoi() result wraps to a huge value.
  if (n < 0 || n > MAX_THREADPOOL_SIZE) return MAX_THREADPOOL_SIZE;
  return n;
}

export type Family = 'fs' | 'crypto' | 'zlib' | 'dns';

interface Patch {
  mod: any;
  name: string;
  orig: Function;
  wrapper: Function;
}

const CRYPTO_CB = [
  'pbkdf2',
  'scrypt',
  'randomBytes',
  'randomFill',
  'hkdf',
  'generateKeyPair',
  'generateKey',
  'generatePrime',
  'checkPrime',
  'sign',
  'verify',
];
const ZLIB_CB = [
  'deflate',
  'deflateRaw',
  'gzip',
  'gunzip',
  'inflate',
  'inflateRaw',
  'unzip',
  'brotliCompress',
  'brotliDecompress',
  'zstdCompress',
  'zstdDecompress',
];
const DNS_CB = ['lookup', 'lookupService'];
/**
 * fs functions that go straight to the binding (one threadpool request at a
 * time per call). Composite functions that call other *exported* fs
 * functions (writeFile and appendFile call fs.open/fs.write/fs.close; rm, cp,
 * exists, realpath's JS version) are left out: their inner calls are counted,
 * so an operation is never counted twice.
 */
const FS_CB = [
  'access',
  'chmod',
  'chown',
  'close',
  'copyFile',
  'fchmod',
  'fchown',
  'fdatasync',
  'fstat',
  'fsync',
  'ftruncate',
  'futimes',
  'lchown',
  'link',
  'lstat',
  'lutimes',
  'mkdir',
  'mkdtemp',
  'open',
  'read',
  'readdir',
  'readFile',
  'readlink',
  'readv',
  'rename',
  'rmdir',
  'stat',
  'statfs',
  'symlink',
  'truncate',
  'unlink',
  'utimes',
  'write',
  'writev',
];
const FS_PROMISES = [
  'access',
  'appendFile',
  'chmod',
  'chown',
  'copyFile',
  'lchown',
  'link',
  'lstat',
  'lutimes',
  'mkdir',
  'mkdtemp',
  'open',
  'readdir',
  'readFile',
  'readlink',
  'realpath',
  'rename',
  'rmdir',
  'stat',
  'statfs',
  'symlink',
  'truncate',
  'unlink',
  'utimes',
  'writeFile',
];

/** Copies own properties (incl. symbols such as util.promisify.custom and Node's customPromisifyArgs). */
function copyProps(from: Function, to: Function): void {
  for (const key of Reflect.ownKeys(from)) {
    if (key === 'prototype' || key === 'arguments' || key === 'caller') continue;
    const d = Object.getOwnPropertyDescriptor(from, key);
    if (!d) continue;
    try {
      Object.defineProperty(to, key, d);
    } catch {
      /* non-configurable on the target: skip */
    }
  }
}

let running: ThreadpoolMonitor | null = null;

class ThreadpoolMonitor {
  private readonly counts = { fs: 0, crypto: 0, zlib: 0, dns: 0 };
  private inFlight = 0;
  private size: number;
  private readonly patches: Patch[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly probeBuf = Buffer.alloc(1);
  private probeStart = 0;
  private probeOutstanding = false;
  private probes = 0;
  private baseline = Infinity;
  private lastWait = 0;
  private sink: PoolSink | null;
  private readonly randomFill: typeof cryptoMod.randomFill;
  private readonly probeDone: (err: Error | null) => void;

  constructor(
    sink: PoolSink,
    private readonly onError: OnAdapterError,
    private readonly opts: ThreadpoolMonitorOptions,
  ) {
    this.sink = sink;
    this.size = threadpoolSize();
    this.randomFill = cryptoMod.randomFill;
    this.probeDone = (err) => this.onProbe(err);
  }

  private report(err: unknown, where: string): void {
    try {
      this.onError(err, `threadpool: ${where}`);
    } catch {
      /* never into the app */
    }
  }

  start(): void {
    if (this.opts.countOperations !== false) this.patchAll();
    this.push();
    const every = Math.max(10, this.opts.probeIntervalMs ?? 1000);
    // The first probe waits one interval: the threadpool is created (and
    // UV_THREADPOOL_SIZE read) on first use, and the app's main module may
    // still set UV_THREADPOOL_SIZE after a preloaded agent starts.
    this.timer = setInterval(() => this.probe(), every);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.unpatchAll();
    const sink = this.sink;
    this.sink = null;
    if (sink) {
      try {
        sink.close();
      } catch (err) {
        this.report(err, 'sink.close');
      }
    }
  }

  stats(): ThreadpoolStats {
    return {
      size: this.size,
      inFlight: this.inFlight,
      byFamily: { ...this.counts },
      probes: this.probes,
      probeBaseline: this.baseline === Infinity ? 0 : this.baseline,
      lastWait: this.lastWait,
    };
  }

  private push(): void {
    const sink = this.sink;
    if (!sink) return;
    const max = this.size;
    const n = this.inFlight;
    const used = n < max ? n : max;
    try {
      sink.update({ max, used, idle: max - used, pending: n > max ? n - max : 0 });
    } catch (err) {
      this.report(err, 'sink.update');
    }
  }

  private probe(): void {
    if (this.probeOutstanding || !this.sink) return;
    if (this.probes === 0) {
      // Whoever used the pool first fixed its size; by now that has happened.
      this.size = threadpoolSize();
      this.push();
    }
    this.probeOutstanding = true;
    this.probeStart = performance.now();
    try {
      this.randomFill(this.probeBuf, 0, 1, this.probeDone);
    } catch (err) {
      this.probeOutstanding = false;
      this.report(err, 'probe');
    }
  }

  private onProbe(err: Error | null): void {
    const rt = (performance.now() - this.probeStart) / 1000;
    this.probeOutstanding = false;
    if (err) return this.report(err, 'probe');
    this.probes++;
    if (rt < this.baseline) this.baseline = rt;
    const wait = rt - this.baseline;
    this.lastWait = wait;
    if (!this.sink) return;
    try {
      this.sink.observeWait(wait);
    } catch (e) {
      this.report(e, 'sink.observeWait');
    }
  }

  private inc(f: Family): void {
    this.counts[f]++;
    this.inFlight++;
    this.push();
  }

  private dec(f: Family): void {
    if (this.counts[f] > 0) this.counts[f]--;
    if (this.inFlight > 0) this.inFlight--;
    this.push();
  }

  private patchCallback(mod: any, name: string, family: Family): void {
    const orig = mod?.[name];
    if (typeof orig !== 'function') return;
    const self = this;
    const wrapper = function (this: unknown, ...args: unknown[]) {
      const last = args.length - 1;
      const cb = args[last];
      if (typeof cb !== 'function') return orig.apply(this, args);
      let done = false;
      args[last] = function (this: unknown) {
        if (!done) {
          done = true;
          self.dec(family);
        }
        return (cb as Function).apply(this, arguments);
      };
      self.inc(family);
      try {
        return orig.apply(this, args);
      } catch (err) {
        // Argument validation threw synchronously: nothing was queued.
        if (!done) {
          done = true;
          self.dec(family);
        }
        throw err;
      }
    };
    this.install(mod, name, orig, wrapper);
  }

  private patchPromise(mod: any, name: string, family: Family): void {
    const orig = mod?.[name];
    if (typeof orig !== 'function') return;
    const self = this;
    const wrapper = function (this: unknown, ...args: unknown[]) {
      self.inc(family);
      let p: any;
      try {
        p = orig.apply(this, args);
      } catch (err) {
        self.dec(family);
        throw err;
      }
      if (!p || typeof p.then !== 'function') {
        self.dec(family);
        return p;
      }
      // Return the derived promise: the app's handlers (or their absence)
      // apply to it exactly as they would to the original.
      return p.then(
        (v: unknown) => {
          self.dec(family);
          return v;
        },
        (e: unknown) => {
          self.dec(family);
          throw e;
        },
      );
    };
    this.install(mod, name, orig, wrapper);
  }

  private install(mod: any, name: string, orig: Function, wrapper: Function): void {
    try {
      Object.defineProperty(wrapper, 'name', { value: orig.name, configurable: true });
      Object.defineProperty(wrapper, 'length', { value: orig.length, configurable: true });
      copyProps(orig, wrapper);
      mod[name] = wrapper;
      if (mod[name] !== wrapper) return; // read-only export: leave it
      this.patches.push({ mod, name, orig, wrapper });
    } catch (err) {
      this.report(err, `patch ${name}`);
    }
  }

  private patchAll(): void {
    for (const n of CRYPTO_CB) this.patchCallback(cryptoMod, n, 'crypto');
    for (const n of ZLIB_CB) this.patchCallback(zlibMod, n, 'zlib');
    for (const n of DNS_CB) this.patchCallback(dnsMod, n, 'dns');
    for (const n of DNS_CB) this.patchPromise(dnsMod.promises, n, 'dns');
    for (const n of FS_CB) this.patchCallback(fsMod, n, 'fs');
    for (const n of FS_PROMISES) this.patchPromise(fsMod.promises, n, 'fs');
    this.syncEsm();
  }

  private unpatchAll(): void {
    for (const p of this.patches.splice(0)) {
      if (p.mod[p.name] === p.wrapper) p.mod[p.name] = p.orig;
    }
    this.syncEsm();
  }

  /** Makes `import { pbkdf2 } from 'node:crypto'` see the (un)wrapped functions. */
  private syncEsm(): void {
    try {
      moduleMod.syncBuiltinESMExports();
    } catch (err) {
      this.report(err, 'syncBuiltinESMExports');
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
    }),
  };
  try {
    if (running) {
      onError(new Error('threadpool monitor already running'), 'startThreadpoolMonitor');
      return noop;
    }
    const sink = sinks('libuv', 'libuv');
    const m = new ThreadpoolMonitor(sink, onError, options ?? {});
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
    try {
      onError(err, 'startThreadpoolMonitor');
    } catch {
      /* never into the app */
    }
    return noop;
  }
}
