/**
 * tarn 3.x, the pool behind knex (`knex.client.pool`; a knex instance is
 * accepted and unwrapped).
 *
 * Relies on (public API): `max`, `numUsed()`, `numFree()`,
 * `numPendingAcquires()`, `numPendingCreates()`, `acquire()`, `release()`,
 * `on()/removeListener()` and the events `acquireRequest(id)`,
 * `acquireSuccess(id, resource)`, `acquireFail(id, err)`, `createSuccess`,
 * `destroySuccess`, `poolDestroySuccess`.
 *
 * Per acquire, nothing is allocated: each request is timed from the end of
 * its `acquire()` call to `acquireSuccess` (which tarn fires after validating
 * the resource, a few microtasks after the call at best), with the
 * request's event id as the key of a preallocated ring (`PendingTimes`); use
 * time is grant → `release()`. Levels
 * are read after `acquire()`/`release()` return (tarn fires its events
 * *before* changing its counters; grants happen synchronously inside those
 * two calls); creates and destroys, which complete asynchronously, are read in
 * a coalesced microtask after their event.
 */
import { performance } from 'node:perf_hooks';
import type { PoolWatch } from '../watch';
import { PendingTimes } from '../pending-times';
import { errorType, fieldsOf, UseTimes, num, refreshOn, wrapRelease, type Emitter, type Listener } from './common';

/** What the adapter reads of a tarn `Pool`. */
export interface TarnPool extends Emitter {
  max: unknown;
  /** Internal: the id the next event (and so the next acquire) will carry. */
  eventId?: unknown;
  numUsed(): unknown;
  numFree(): unknown;
  numPendingAcquires(): unknown;
  numPendingCreates?: () => unknown;
  acquire(...args: unknown[]): unknown;
  release(...args: unknown[]): unknown;
}

export function isTarnPool(p: unknown): p is TarnPool {
  const o = fieldsOf(p);
  return (
    o !== null &&
    typeof o.numUsed === 'function' &&
    typeof o.numFree === 'function' &&
    typeof o.numPendingAcquires === 'function' &&
    typeof o.acquire === 'function' &&
    typeof o.on === 'function'
  );
}

/** The tarn pool of a knex instance, or null. */
export function knexTarn(k: unknown): TarnPool | null {
  const pool = fieldsOf(fieldsOf(k)?.client)?.pool;
  return isTarnPool(pool) ? pool : null;
}

export function attachTarn(watch: PoolWatch<TarnPool>, pool: TarnPool, pendingCapacity = 4096): PendingTimes {
  const uses = new UseTimes();
  const pending = new PendingTimes(pendingCapacity);
  // Resources being created count as used (as pg does); the acquires they
  // will serve, or that a free resource is about to serve, are not pending:
  // pending = acquires with no slot at all.
  watch.read = (p, out) => {
    const creating = num(p.numPendingCreates?.());
    const free = num(p.numFree());
    out.max = num(p.max);
    out.used = num(p.numUsed()) + creating;
    out.idle = free;
    out.pending = Math.max(0, num(p.numPendingAcquires()) - creating - free);
  };
  // tarn catches and logs listener exceptions; the handlers catch anyway so
  // the report goes to loopwatch's own diagnostics.
  const onRequest = (id: number): void => {
    try {
      pending.start(id, performance.now());
    } catch (e) {
      watch.report(e, 'acquireRequest');
    }
  };
  const onSuccess = (id: number, resource: unknown): void => {
    try {
      const t1 = performance.now();
      // Untracked ids (dropped by the full ring, or acquires from before monitoring) record no wait.
      const t0 = pending.take(id);
      if (t0 !== undefined) watch.wait((t1 - t0) / 1000);
      uses.grantedAt(resource, t1);
    } catch (e) {
      watch.report(e, 'acquireSuccess');
    }
  };
  const onFail = (id: number, err: unknown): void => {
    try {
      pending.take(id);
      watch.fail(errorType(err));
      watch.refreshSoon();
    } catch (e) {
      watch.report(e, 'acquireFail');
    }
  };
  const onDestroyed = (): void => {
    pending.clear();
    watch.close();
  };
  // The request's start is taken in the acquire() wrapper when tarn's next
  // event id is readable (`eventId`, internal: the id acquire() is about to
  // use), saving an event dispatch per acquire; otherwise from `acquireRequest`.
  const idBeforeCall = typeof pool.eventId === 'number';
  const events: Array<[string, Listener]> = [
    ...(idBeforeCall ? [] : [['acquireRequest', onRequest] as [string, Listener]]),
    ['acquireSuccess', onSuccess],
    ['acquireFail', onFail],
    ['poolDestroySuccess', onDestroyed],
  ];
  for (const [e, h] of events) pool.on(e, h);
  refreshOn(watch, pool, ['createSuccess', 'createFail', 'destroySuccess'], true);
  watch.onTeardown((p) => {
    for (const [e, h] of events) p.removeListener(e, h);
    pending.clear();
  });
  watch.wrapMethod(pool, 'acquire', (orig) =>
    function acquire(this: TarnPool, ...args: unknown[]) {
      if (!idBeforeCall) {
        const r = orig.apply(this, args);
        watch.refresh();
        return r;
      }
      const id = this.eventId;
      try {
        return orig.apply(this, args);
      } finally {
        // Timed from the end of the call (its own sub-µs CPU is not waiting) to `acquireSuccess`, even when tarn
        // reserved a free resource inside the call: the request is granted only after validation (knex checks
        // the connection; a failed check sends it back to the queue to wait for a new one), a few microtasks
        // later at best.
        if (typeof id === 'number') pending.start(id, performance.now());
        watch.refresh();
      }
    },
  );
  wrapRelease(watch, pool, 'release', uses);
  watch.refresh();
  return pending;
}
