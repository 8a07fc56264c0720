import { performance } from 'node:perf_hooks';
import type { PoolWatch } from '../watch';

const kTimed = Symbol('loopwatch.pool.timed');

/** Heuristic used by all adapters: driver timeout errors say so. */
export function errorType(err: unknown): 'timeout' | 'error' {
  const e = err as { name?: unknown; message?: unknown; code?: unknown } | null;
  if (e && (e.name === 'TimeoutError' || e.name === 'KnexTimeoutError' || e.code === 'ETIMEDOUT')) return 'timeout';
  if (e && typeof e.message === 'string' && /time(d)?[ -]?out/i.test(e.message)) return 'timeout';
  return 'error';
}

/** Whether `cb` is already a timed wrapper (a request the driver re-queues through its acquire method). */
export function isTimed(cb: unknown): boolean {
  return typeof cb === 'function' && (cb as unknown as Record<symbol, unknown>)[kTimed] === true;
}

/**
 * Wraps a node-style acquire callback so the grant (or failure) is timed from
 * `t0` (ms, `performance.now()`). A callback already wrapped (re-queued
 * internally by the driver) is returned as is, so one request is timed once.
 * One closure per acquire: the callback API leaves no other place to keep t0.
 */
export function timeCallback<C extends (err: unknown, ...rest: any[]) => any>(
  watch: PoolWatch<object>,
  t0: number,
  cb: C,
  uses?: UseTimes,
): C {
  if ((cb as any)[kTimed]) return cb;
  const timed = function (this: unknown, err: unknown, resource: unknown) {
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
    return cb.apply(this, arguments as any);
  } as unknown as C;
  (timed as any)[kTimed] = true;
  return timed;
}

/**
 * Times a promise-returning acquire from `t0` (ms); returns a promise settling
 * like `p` (the application's handlers, or their absence, apply to it as they
 * would to `p`). Costs a derived promise and two closures: adapters use it only
 * when the grant did not happen synchronously and the pool has no grant event.
 */
export function timePromise<P extends PromiseLike<unknown>>(watch: PoolWatch<object>, t0: number, p: P, uses?: UseTimes): P {
  if (!p || typeof (p as any).then !== 'function') return p;
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
    (err) => {
      try {
        watch.fail(errorType(err));
        watch.refresh();
      } catch (e) {
        watch.report(e, 'acquire failure');
      }
      throw err;
    },
  ) as unknown as P;
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
  release(watch: PoolWatch<object>, resource: unknown): void {
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
export function wrapRelease(watch: PoolWatch<any>, target: object, method: string, uses: UseTimes): void {
  watch.wrapMethod(target, method, (orig) =>
    function release(this: unknown, resource: unknown) {
      const r = orig.apply(this, arguments as any);
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
export function closeOn(watch: PoolWatch<any>, target: any, methods: readonly string[], when: 'before' | 'after' = 'after'): void {
  for (const m of methods) {
    if (typeof target[m] !== 'function') continue;
    watch.wrapMethod(target, m, (orig) =>
      function close(this: unknown) {
        if (when === 'before') watch.close();
        const r = orig.apply(this, arguments as any);
        if (when === 'after') watch.close();
        return r;
      },
    );
  }
}

/** Adds `refresh` as a listener of each event; removed on detach. */
export function refreshOn(watch: PoolWatch<any>, emitter: any, events: readonly string[], soon = false): void {
  const refresh = soon ? (): void => watch.refreshSoon() : (): void => watch.refresh();
  for (const e of events) emitter.on(e, refresh);
  watch.onTeardown((em: any) => {
    for (const e of events) em.removeListener(e, refresh);
  });
}

export function num(v: unknown, fallback = 0): number {
  return typeof v === 'number' ? v : fallback;
}
