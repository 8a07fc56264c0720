import { performance } from 'node:perf_hooks';
import type { PoolWatch } from '../watch';

const kTimed = Symbol('loopwatch.pool.timed');

/**
 * A library's function (a driver's callback, a pool's method) as the adapters see it: called with whatever
 * `this` and arguments it was given, its result passed back untouched.
 */
export type AnyFunction = (this: unknown, ...args: unknown[]) => unknown;
/** An event listener of any arity, as `on()` takes it. */
export type Listener = (...args: never[]) => void;

/** The part of an EventEmitter the adapters use. */
export interface Emitter {
  on(event: string, listener: Listener): unknown;
  removeListener(event: string, listener: Listener): unknown;
}

/** A callback marked as already timed. */
type Timed = AnyFunction & { [kTimed]?: true };

/** `typeof v === 'function'`, typed callable (TypeScript narrows it to `Function`, which cannot be called). */
export function isFunction(v: unknown): v is AnyFunction {
  return typeof v === 'function';
}

/** `v`'s properties for duck-typing a library object, or null for a primitive (nothing to read). */
export function fieldsOf(v: unknown): Record<string | symbol, unknown> | null {
  return v !== null && (typeof v === 'object' || typeof v === 'function') ? (v as Record<string | symbol, unknown>) : null;
}

/** Whether `v` has a callable `then` (a promise, or a library's own thenable). */
export function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof fieldsOf(v)?.then === 'function';
}

/** Heuristic used by all adapters: driver timeout errors say so. */
export function errorType(err: unknown): 'timeout' | 'error' {
  const e = err as { name?: unknown; message?: unknown; code?: unknown } | null;
  if (e && (e.name === 'TimeoutError' || e.name === 'KnexTimeoutError' || e.code === 'ETIMEDOUT')) return 'timeout';
  if (e && typeof e.message === 'string' && /time(d)?[ -]?out/i.test(e.message)) return 'timeout';
  return 'error';
}

/** Whether `cb` is already a timed wrapper (a request the driver re-queues through its acquire method). */
export function isTimed(cb: unknown): boolean {
  return typeof cb === 'function' && (cb as Timed)[kTimed] === true;
}

/**
 * Wraps a node-style acquire callback so the grant (or failure) is timed from
 * `t0` (ms, `performance.now()`). A callback already wrapped (re-queued
 * internally by the driver) is returned as is, so one request is timed once.
 * One closure per acquire: the callback API leaves no other place to keep t0.
 */
export function timeCallback<T extends object>(watch: PoolWatch<T>, t0: number, cb: AnyFunction, uses?: UseTimes): AnyFunction {
  if ((cb as Timed)[kTimed]) return cb;
  const timed: Timed = function (this: unknown, err: unknown, resource: unknown) {
    try {
      if (err) watch.fail(errorType(err));
      else {
        const t1 = performance.now();
        watch.wait((t1 - t0) / 1000);
        if (uses) uses.grantedAt(resource, t1);
      }
      watch.refresh();
    } catch (e) {
      watch.report(e, 'acquire callback');
    }
    // eslint-disable-next-line prefer-rest-params -- the driver's arguments reach the callback as they were (count included); a rest parameter would change this wrapper's length (2)
    return Reflect.apply(cb, this, arguments) as unknown;
  };
  timed[kTimed] = true;
  return timed;
}

/**
 * Times a promise-returning acquire from `t0` (ms); returns a promise settling
 * like `p` (the application's handlers, or their absence, apply to it as they
 * would to `p`). Costs a derived promise and two closures: adapters use it only
 * when the grant did not happen synchronously and the pool has no grant event.
 */
export function timePromise<T extends object>(watch: PoolWatch<T>, t0: number, p: unknown, uses?: UseTimes): unknown {
  if (!isThenable(p)) return p;
  return p.then(
    (resource) => {
      try {
        const t1 = performance.now();
        watch.wait((t1 - t0) / 1000);
        if (uses) uses.grantedAt(resource, t1);
        watch.refresh();
      } catch (e) {
        watch.report(e, 'acquire grant');
      }
      return resource;
    },
    (err: unknown) => {
      try {
        watch.fail(errorType(err));
        watch.refresh();
      } catch (e) {
        watch.report(e, 'acquire failure');
      }
      throw err;
    },
  );
}

/**
 * Grant → release timing per resource (connection, client…). Each resource
 * gets a slot index once (a WeakMap entry, so it lives only as long as the
 * resource) and its grant time lives in a preallocated Float64Array: a
 * grant or release costs one WeakMap lookup and no allocation (a time stored
 * in a Map would be a boxed number per acquire). Bounded: beyond `SLOTS`
 * distinct resources (pools that keep replacing connections), the table is
 * reset; use times of resources held across the reset are not reported.
 * Times are `performance.now()` ms.
 */
const SLOTS = 1024;
export class UseTimes {
  private slots = new WeakMap<object, number>();
  private readonly start = new Float64Array(SLOTS).fill(NaN);
  private next = 0;
  grantedAt(resource: unknown, t: number): void {
    if (resource === null || typeof resource !== 'object') return;
    let i = this.slots.get(resource);
    if (i === undefined) {
      if (this.next === SLOTS) {
        this.slots = new WeakMap();
        this.start.fill(NaN);
        this.next = 0;
      }
      i = this.next++;
      this.slots.set(resource, i);
    }
    this.start[i] = t;
  }
  granted(resource: unknown): void {
    this.grantedAt(resource, performance.now());
  }
  /** Records the use time of `resource` into `watch` if it was timed. */
  release<T extends object>(watch: PoolWatch<T>, resource: unknown): void {
    if (resource === null || typeof resource !== 'object') return;
    const i = this.slots.get(resource);
    if (i === undefined) return;
    const t = this.start[i];
    if (t !== t) return; // NaN: not granted (or already released)
    this.start[i] = NaN;
    watch.use((performance.now() - t) / 1000);
  }
}

/**
 * Wraps `method` of `target` so that after each call the slot's use time is
 * recorded (for the resource passed as first argument) and levels are re-read.
 * Used for release-style methods (generic-pool release/destroy, mysql2
 * releaseConnection, tarn release).
 */
export function wrapRelease<T extends object>(watch: PoolWatch<T>, target: object, method: string, uses: UseTimes): void {
  watch.wrapMethod(target, method, (orig) =>
    function release(this: unknown, resource: unknown) {
      // eslint-disable-next-line prefer-rest-params -- passes the caller's arguments through as they were (count included); a rest parameter would change this wrapper's length (1)
      const r = Reflect.apply(orig, this, arguments) as unknown;
      try {
        uses.release(watch, resource);
      } catch (e) {
        watch.report(e, method);
      }
      watch.refresh();
      return r;
    },
  );
}

/**
 * Wraps the pool's close method(s): the series stop when the application
 * closes the pool (before or after the original runs, per `when`).
 */
export function closeOn<T extends object>(watch: PoolWatch<T>, target: T, methods: readonly string[], when: 'before' | 'after' = 'after'): void {
  for (const m of methods) {
    if (typeof (target as Record<string, unknown>)[m] !== 'function') continue;
    watch.wrapMethod(target, m, (orig) =>
      function close(this: T, ...args: unknown[]) {
        if (when === 'before') watch.close();
        const r = orig.apply(this, args);
        if (when === 'after') watch.close();
        return r;
      },
    );
  }
}

/** Adds `refresh` as a listener of each event; removed on detach. */
export function refreshOn<T extends Emitter>(watch: PoolWatch<T>, emitter: T, events: readonly string[], soon = false): void {
  const refresh = soon ? (): void => watch.refreshSoon() : (): void => watch.refresh();
  for (const e of events) emitter.on(e, refresh);
  watch.onTeardown((em) => {
    for (const e of events) em.removeListener(e, refresh);
  });
}

export function num(v: unknown, fallback = 0): number {
  return typeof v === 'number' ? v : fallback;
}
