/**
 * generic-pool 3.x (`genericPool.createPool(factory, opts)`).
 *
 * Relies on (public API): getters `max`, `available`, `borrowed`,
 * `pending`; methods `acquire()` (promise; `use()` goes through
 * `this.acquire`), `release()`, `destroy()`, `drain()`. Internal, optional:
 * `_factoryCreateOperations.size` (resources being created) and
 * `_availableObjects.head.obj` (the resource the next grant hands out).
 * The pool has no events for state changes, so levels are pushed after each
 * wrapped call and on grant.
 *
 * Per-acquire cost: when a resource is free and nobody waits, generic-pool
 * grants synchronously inside `acquire()` (the promise it returns is already
 * resolved). The adapter detects that (`borrowed` +1, nobody pending before or
 * after) and records a wait of 0 — the request never queued — with one clock
 * read (the grant time, for use time), no allocation, and the application
 * gets the pool's own promise. Otherwise (the request queues, or the
 * internals are absent) the grant is timed on the promise (a derived promise
 * and two closures).
 */
import { performance } from 'node:perf_hooks';
import type { PoolWatch } from '../watch';
import { fieldsOf, isThenable, refreshOn, timePromise, UseTimes, num, wrapRelease, type Emitter } from './common';

/** What the adapter reads of a generic-pool `Pool`. */
export interface GenericPool extends Emitter {
  max: unknown;
  available: unknown;
  borrowed: unknown;
  pending: unknown;
  /** Internal, optional: resources being created (a Set). */
  _factoryCreateOperations?: { size?: unknown } | null;
  /** Internal, optional: the queue of idle resources (a linked list) the next grant takes from. */
  _availableObjects?: { head?: { obj?: unknown } | null } | null;
  acquire(...args: unknown[]): unknown;
  release(...args: unknown[]): unknown;
  destroy(...args: unknown[]): unknown;
  drain(...args: unknown[]): unknown;
}

export function isGenericPool(p: unknown): p is GenericPool {
  const o = fieldsOf(p);
  return (
    o !== null &&
    typeof o.acquire === 'function' &&
    typeof o.release === 'function' &&
    typeof o.drain === 'function' &&
    'borrowed' in o &&
    'pending' in o &&
    'available' in o &&
    'spareResourceCapacity' in o
  );
}

export function attachGenericPool(watch: PoolWatch<GenericPool>, pool: GenericPool, sampleMs: number): void {
  const uses = new UseTimes();
  // generic-pool emits nothing when it evicts idle resources, tops up to `min` or fails to create one: without a
  // periodic read, `idle` stayed at its last value on a quiet pool (5 after every resource was evicted).
  watch.every(sampleMs);
  refreshOn(watch, pool, ['factoryCreateError', 'factoryDestroyError']);
  watch.read = (p, out) => {
    // Resources being created are counted as used (as pg does) and the
    // requests they (or an available resource about to be dispensed) will
    // serve are not pending: `pending` counts requests with no slot at all.
    // `_factoryCreateOperations` (a Set) is internal; without it,
    // generic-pool's own `pending` is reported.
    const creating = num(p._factoryCreateOperations?.size);
    const available = num(p.available);
    out.max = num(p.max);
    out.used = num(p.borrowed) + creating;
    out.idle = available;
    out.pending = Math.max(0, num(p.pending) - creating - available);
  };
  watch.wrapMethod(pool, 'acquire', (orig) =>
    function acquire(this: GenericPool, ...args: unknown[]) {
      let next: unknown;
      let borrowed = -1;
      try {
        // The resource a synchronous grant would hand out (internal; optional).
        if (this.pending === 0) {
          next = this._availableObjects?.head?.obj;
          if (next !== undefined) borrowed = num(this.borrowed, NaN);
        }
      } catch (e) {
        watch.report(e, 'acquire');
      }
      // A clock read costs 25–80 ns: read it before the call only when a
      // synchronous grant is not expected.
      let t0 = borrowed < 0 ? performance.now() : -1;
      const p = orig.apply(this, args);
      const t1 = performance.now();
      if (borrowed >= 0 && this.borrowed === borrowed + 1 && this.pending === 0) {
        // Granted inside the call (FIFO, nobody was waiting): `next` is ours
        // and the request never queued. Its wait is 0 (the call's own CPU
        // time, well under a microsecond, is not counted as waiting).
        watch.wait(0);
        uses.grantedAt(next, t1);
        watch.refresh();
        return p;
      }
      if (t0 < 0) t0 = t1; // expected a synchronous grant but the request queued (e.g. testOnBorrow): start at the call's return
      watch.refresh();
      return timePromise(watch, t0, p, uses);
    },
  );
  wrapRelease(watch, pool, 'release', uses);
  wrapRelease(watch, pool, 'destroy', uses);
  watch.wrapMethod(pool, 'drain', (orig) =>
    function drain(this: GenericPool, ...args: unknown[]) {
      const r = orig.apply(this, args);
      // Drained = closed for business: stop reporting once it completes.
      if (isThenable(r)) {
        r.then(
          () => watch.close(),
          () => watch.close(),
        );
      } else watch.close();
      return r;
    },
  );
  watch.refresh();
}
