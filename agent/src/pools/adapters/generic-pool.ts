/**
 * generic-pool 3.x (`genericPool.createPool(factory, opts)`).
 *
 * Relies on (public API): getters `max`, `available`, `borrowed`,
 * `pending`, and the internal `_factoryCreateOperations.size` (resources
 * being created; optional); methods `acquire()` (promise; `use()` goes through
 * `this.acquire`), `release()`, `destroy()`, `drain()`.
 * The pool has no events for state changes, so levels are pushed after each
 * wrapped call and on grant.
 */
import type { PoolWatch } from '../watch';
import { nowSeconds } from '../watch';
import { timePromise, UseTimes, num } from './common';

export function isGenericPool(p: any): boolean {
  return (
    !!p &&
    typeof p.acquire === 'function' &&
    typeof p.release === 'function' &&
    typeof p.drain === 'function' &&
    'borrowed' in p &&
    'pending' in p &&
    'available' in p &&
    'spareResourceCapacity' in p
  );
}

export function attachGenericPool(watch: PoolWatch<any>, pool: any): void {
  const uses = new UseTimes();
  watch.read = (p) => {
    // Resources being created are counted as used (as pg does) and the
    // requests they (or an available resource about to be dispensed) will
    // serve are not pending: `pending` counts requests with no slot at all. `_factoryCreateOperations` (a Set) is internal;
    // without it, generic-pool's own `pending` is reported.
    const creating = num(p._factoryCreateOperations?.size);
    return {
      max: num(p.max),
      used: num(p.borrowed) + creating,
      idle: num(p.available),
      pending: Math.max(0, num(p.pending) - creating - num(p.available)),
    };
  };
  const onGrant = (r: unknown): void => uses.granted(r);
  watch.wrapMethod(pool, 'acquire', (orig) =>
    function acquire(this: any) {
      const t0 = nowSeconds();
      const p = orig.apply(this, arguments as any);
      watch.refresh();
      return timePromise(watch, t0, p, onGrant);
    },
  );
  for (const m of ['release', 'destroy']) {
    watch.wrapMethod(pool, m, (orig) =>
      function releaseOrDestroy(this: any, resource: unknown) {
        const r = orig.apply(this, arguments as any);
        watch.guard(m, () => {
          const s = uses.released(resource);
          if (s !== undefined) watch.use(s);
          watch.refresh();
        });
        return r;
      },
    );
  }
  watch.wrapMethod(pool, 'drain', (orig) =>
    function drain(this: any) {
      const r = orig.apply(this, arguments as any);
      // Drained = closed for business: stop reporting once it completes.
      if (r && typeof r.then === 'function') {
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
