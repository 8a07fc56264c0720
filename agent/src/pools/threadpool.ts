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
import {
  type OnAdapterError,
  type PoolSink,
  type SinkFactory,
  type ThreadpoolFamilySink,
  type ThreadpoolMonitorHandle,
  type ThreadpoolMonitorOptions,
  type ThreadpoolStats,
} from './types';
import { reportSafely } from './watch';
import cryptoMod = require('node:crypto');
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

const FS = 0;
const CRYPTO = 1;
const ZLIB = 2;
const DNS = 3;

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
  // Not 'truncate': the callback fs.truncate is built from the exported fs.open and fs.close (wrapped themselves)
  // and a direct binding call, so wrapping it counted one truncate as two in flight.
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
  // Not 'truncate': the callback fs.truncate is built from the exported fs.open and fs.close (wrapped themselves)
  // and a direct binding call, so wrapping it counted one truncate as two in flight.
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
    // A property the wrapper cannot take (non-configurable on the target) is skipped.
    if (!Reflect.defineProperty(to, key, d)) continue;
  }
}

let running: ThreadpoolMonitor | null = null;

type Lazy = 'zlib' | 'dns';
const LAZY_URL: Record<string, Lazy> = { 'node:zlib': 'zlib', 'node:dns': 'dns', 'node:dns/promises': 'dns' };

/** Whether the builtin `name` has been loaded in this process (by the app or by Node itself). */
function builtinLoaded(name: string): boolean {
  const list = (process as unknown as { moduleLoadList?: readonly string[] }).moduleLoadList;
  // Without the list, assume loaded: wrapping then loads it, the pre-lazy behaviour.
  return !Array.isArray(list) || list.includes(`NativeModule ${name}`);
}

class ThreadpoolMonitor {
  /** In flight per family, indexed like THREADPOOL_FAMILIES (fs, crypto, zlib, dns). */
  private readonly counts = [0, 0, 0, 0];
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
  private families: ThreadpoolFamilySink | null;
  /** zlib/dns not wrapped yet because the app has not loaded them. */
  private readonly lazy = new Set<Lazy>();
  private hooks: { deregister(): void } | null = null;
  private readonly randomFill: typeof cryptoMod.randomFill;
  private readonly probeDone: (err: Error | null) => void;

  constructor(
    sink: PoolSink,
    families: ThreadpoolFamilySink | null,
    private readonly onError: OnAdapterError,
    private readonly opts: ThreadpoolMonitorOptions,
  ) {
    this.sink = sink;
    this.families = families;
    this.size = threadpoolSize();
    this.randomFill = cryptoMod.randomFill;
    this.probeDone = (err) => this.onProbe(err);
  }

  private report(err: unknown, where: string): void {
    reportSafely(this.onError, err, `threadpool: ${where}`);
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
    this.stopHooks();
    this.lazy.clear();
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
    const families = this.families;
    this.families = null;
    if (families) {
      try {
        families.close();
      } catch (err) {
        this.report(err, 'families.close');
      }
    }
  }

  stats(): ThreadpoolStats {
    const c = this.counts;
    return {
      size: this.size,
      inFlight: this.inFlight,
      byFamily: { fs: c[FS]!, crypto: c[CRYPTO]!, zlib: c[ZLIB]!, dns: c[DNS]! },
      probes: this.probes,
      probeBaseline: this.baseline === Infinity ? 0 : this.baseline,
      lastWait: this.lastWait,
      unloaded: [...this.lazy],
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
    if (this.lazy.size) this.patchLoaded();
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

  private inc(f: number): void {
    const n = ++this.counts[f]!;
    this.inFlight++;
    this.push();
    const fam = this.families;
    if (fam) {
      try {
        fam.inFlight(f, n);
        fam.submitted(f);
      } catch (err) {
        this.report(err, 'families');
      }
    }
  }

  private dec(f: number): void {
    const c = this.counts;
    if (c[f]! > 0) c[f]!--;
    if (this.inFlight > 0) this.inFlight--;
    this.push();
    const fam = this.families;
    if (fam) {
      try {
        fam.inFlight(f, c[f]!);
      } catch (err) {
        this.report(err, 'families');
      }
    }
  }

  private patchCallback(mod: any, name: string, family: number): void {
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

  private patchPromise(mod: any, name: string, family: number): void {
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
    for (const n of CRYPTO_CB) this.patchCallback(cryptoMod, n, CRYPTO);
    for (const n of FS_CB) this.patchCallback(fsMod, n, FS);
    for (const n of FS_PROMISES) this.patchPromise(fsMod.promises, n, FS);
    // zlib (+3 MB RSS) and dns (+1.6 MB) are wrapped when the app loads them,
    // not loaded by the agent (see docs/pools.md).
    for (const m of ['zlib', 'dns'] as const) {
      if (builtinLoaded(m)) this.patchLazy(m, false);
      else this.lazy.add(m);
    }
    if (this.lazy.size) this.startHooks();
    this.syncEsm();
  }

  private patchLazy(m: Lazy, sync = true): void {
    this.lazy.delete(m);
    const mod = process.getBuiltinModule(`node:${m}`) as any;
    if (m === 'zlib') for (const n of ZLIB_CB) this.patchCallback(mod, n, ZLIB);
    else {
      for (const n of DNS_CB) this.patchCallback(mod, n, DNS);
      for (const n of DNS_CB) this.patchPromise(mod.promises, n, DNS);
    }
    if (sync) this.syncEsm();
    if (!this.lazy.size) this.stopHooks();
  }

  /** Wraps lazily-deferred builtins that something loaded without going through the module hooks (Node internals, getBuiltinModule). */
  private patchLoaded(): void {
    for (const m of [...this.lazy]) if (builtinLoaded(m)) this.patchLazy(m);
  }

  /**
   * module.registerHooks (Node ≥ 22.15): the first `require`/`import` of
   * zlib or dns wraps it before the app receives it, so destructuring at
   * require time (`const { gzip } = require('zlib')`) gets the wrappers.
   */
  private startHooks(): void {
    const register = (moduleMod as { registerHooks?: (h: object) => { deregister(): void } }).registerHooks;
    if (typeof register !== 'function') {
      for (const m of [...this.lazy]) this.patchLazy(m);
      return;
    }
    try {
      this.hooks = register({
        load: (url: string, context: unknown, next: (url: string, context: unknown) => unknown) => {
          const m = LAZY_URL[url];
          if (m !== undefined && this.lazy.has(m)) {
            try {
              this.patchLazy(m);
            } catch (err) {
              this.report(err, `wrap ${m} on load`);
            }
          }
          return next(url, context);
        },
      });
    } catch (err) {
      this.report(err, 'module.registerHooks');
      for (const m of [...this.lazy]) this.patchLazy(m);
    }
  }

  private stopHooks(): void {
    const h = this.hooks;
    this.hooks = null;
    if (!h) return;
    try {
      h.deregister();
    } catch (err) {
      this.report(err, 'deregister module hooks');
    }
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
      unloaded: [],
    }),
  };
  try {
    if (running) {
      reportSafely(onError, new Error('threadpool monitor already running'), 'startThreadpoolMonitor');
      return noop;
    }
    const sink = sinks('libuv', 'libuv');
    const counting = options?.countOperations !== false;
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

