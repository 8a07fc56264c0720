/**
 * The operation wrappers of the threadpool monitor: each exported
 * threadpool-backed function of fs (callback and promises), crypto, zlib
 * (convenience functions) and dns (lookup, lookupService) is replaced on its
 * module object by a wrapper that counts +1 on the call and −1 when its
 * callback runs or its promise settles.
 *
 * Transparency (tested in test/agent/pools/wrappers.test.mjs): a wrapper has
 * the original's `name`, `length` and own properties (util.promisify.custom,
 * Node's customPromisifyArgs, another instrumentation's `__original`…), and
 * `fn.toString()` returns the original's source. `restore()` puts every
 * original back where the export still holds our wrapper; a wrapper that
 * another library captured meanwhile (graceful-fs, an OTel instrumentation
 * loaded after the agent) stays in that library's chain but from then on
 * calls straight through, counting nothing and holding no monitor.
 */
import cryptoMod = require('node:crypto');
import fsMod = require('node:fs');
import { isFunction, isThenable, type AnyFunction } from './adapters/common';

/** Family indexes, as in THREADPOOL_FAMILIES (fs, crypto, zlib, dns). */
export const FS = 0;
export const CRYPTO = 1;
export const ZLIB = 2;
export const DNS = 3;

export interface OpCounter {
  inc(family: number): void;
  dec(family: number): void;
}

/** A module object (or `fs.promises`) whose exports are replaced. */
type Exports = Record<string, unknown>;

interface Patch {
  mod: Exports;
  name: string;
  orig: AnyFunction;
  wrapper: AnyFunction;
}

/** @internal used by test/agent/pools/wrappers.test.mjs (as are the lists below) */
export const CRYPTO_CB = [
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
/** @internal */
export const ZLIB_CB = [
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
/** @internal */
export const DNS_CB = ['lookup', 'lookupService'];
/**
 * fs functions that go straight to the binding (one threadpool request at a
 * time per call). Composite functions that call other *exported* fs
 * functions (writeFile and appendFile call fs.open/fs.write/fs.close; rm, cp,
 * exists, realpath's JS version) are left out: their inner calls are counted,
 * so an operation is never counted twice.
 * @internal
 */
export const FS_CB = [
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
/** @internal */
export const FS_PROMISES = [
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
function copyProps(from: AnyFunction, to: AnyFunction): void {
  for (const key of Reflect.ownKeys(from)) {
    if (key === 'prototype' || key === 'arguments' || key === 'caller') continue;
    const d = Object.getOwnPropertyDescriptor(from, key);
    // A property the wrapper cannot take (non-configurable on the target) is skipped.
    if (d) Reflect.defineProperty(to, key, d);
  }
}

/** `String(wrapper)` shows the original's source, not the agent's (own property, so a wrapped wrapper's own wins). */
function sourceOf(orig: AnyFunction): () => string {
  return function toString() {
    return Function.prototype.toString.call(orig);
  };
}

export class Wrappers {
  private readonly patches: Patch[] = [];
  /** What every wrapper of this set counts into; null after restore(): the wrappers then pass straight through. */
  private readonly gate: { counter: OpCounter | null };

  constructor(
    counter: OpCounter,
    private readonly report: (err: unknown, where: string) => void,
  ) {
    this.gate = { counter };
  }

  get size(): number {
    return this.patches.length;
  }

  /** fs, fs.promises and crypto: always loaded, wrapped at start. */
  wrapCore(): void {
    for (const n of CRYPTO_CB) this.wrapCallback(cryptoMod, n, CRYPTO);
    for (const n of FS_CB) this.wrapCallback(fsMod, n, FS);
    for (const n of FS_PROMISES) this.wrapPromise(fsMod.promises, n, FS);
  }

  /** zlib or dns, once something has loaded it. */
  wrapLazy(m: 'zlib' | 'dns'): void {
    const mod = process.getBuiltinModule(`node:${m}`) as Exports;
    if (m === 'zlib') for (const n of ZLIB_CB) this.wrapCallback(mod, n, ZLIB);
    else {
      for (const n of DNS_CB) this.wrapCallback(mod, n, DNS);
      for (const n of DNS_CB) this.wrapPromise(mod.promises as Exports | undefined, n, DNS);
    }
  }

  private wrapCallback(mod: Exports | undefined, name: string, family: number): void {
    const orig = mod?.[name];
    if (!mod || !isFunction(orig)) return;
    const gate = this.gate;
    const wrapper = function (this: unknown, ...args: unknown[]) {
      const c = gate.counter;
      const last = args.length - 1;
      const cb = args[last];
      if (c === null || !isFunction(cb)) return orig.apply(this, args);
      let done = false;
      args[last] = function (this: unknown, ...cbArgs: unknown[]) {
        if (!done) {
          done = true;
          c.dec(family);
        }
        return cb.apply(this, cbArgs);
      };
      c.inc(family);
      try {
        return orig.apply(this, args);
      } catch (err) {
        // Argument validation threw synchronously: nothing was queued.
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- the callback may have run (setting done) before orig threw; narrowing does not see assignments made in a closure
        if (!done) {
          done = true;
          c.dec(family);
        }
        throw err;
      }
    };
    this.install(mod, name, orig, wrapper);
  }

  private wrapPromise(mod: Exports | undefined, name: string, family: number): void {
    const orig = mod?.[name];
    if (!mod || !isFunction(orig)) return;
    const gate = this.gate;
    // Settlement handlers made once per wrapped function, not per call. An operation that settles after
    // restore() finds the gate closed and counts nothing (its monitor is gone).
    const settled = (v: unknown): unknown => {
      gate.counter?.dec(family);
      return v;
    };
    const failed = (e: unknown): never => {
      gate.counter?.dec(family);
      throw e;
    };
    const wrapper = function (this: unknown, ...args: unknown[]) {
      const c = gate.counter;
      if (c === null) return orig.apply(this, args);
      c.inc(family);
      let p: unknown;
      try {
        p = orig.apply(this, args);
      } catch (err) {
        c.dec(family);
        throw err;
      }
      if (!isThenable(p)) {
        c.dec(family);
        return p;
      }
      // Return the derived promise: the app's handlers (or their absence, i.e. an unhandled rejection)
      // apply to it exactly as they would to the original. Cost: one more microtask before they run.
      return p.then(settled, failed);
    };
    this.install(mod, name, orig, wrapper);
  }

  private install(mod: Exports, name: string, orig: AnyFunction, wrapper: AnyFunction): void {
    try {
      Object.defineProperty(wrapper, 'name', { value: orig.name, configurable: true });
      Object.defineProperty(wrapper, 'length', { value: orig.length, configurable: true });
      Object.defineProperty(wrapper, 'toString', { value: sourceOf(orig), configurable: true, writable: true });
      copyProps(orig, wrapper);
      mod[name] = wrapper;
      if (mod[name] !== wrapper) return; // read-only export: leave it
      this.patches.push({ mod, name, orig, wrapper });
    } catch (err) {
      this.report(err, `patch ${name}`);
    }
  }

  /**
   * Puts back every original whose export still holds our wrapper and closes
   * the gate. Returns how many exports were left alone because something
   * else replaced them after us (their chain still reaches our wrapper,
   * which now passes through).
   */
  restore(): number {
    this.gate.counter = null;
    let left = 0;
    for (const p of this.patches.splice(0)) {
      if (p.mod[p.name] === p.wrapper) p.mod[p.name] = p.orig;
      else left++;
    }
    return left;
  }
}
