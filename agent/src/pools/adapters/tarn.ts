/**
 * tarn 3.x, the pool behind knex (`knex.client.pool`; a knex instance is
 * accepted and unwrapped).
 *
 * Relies on (public API): `max`, `numUsed()`, `numFree()`,
 * `numPendingAcquires()`, `numPendingCreates()`, `on()/removeListener()` and the events
 * `acquireRequest(id)`, `acquireSuccess(id, resource)`, `acquireFail(id, err)`,
 * `release(resource)`, `createSuccess`, `destroySuccess`, `poolDestroySuccess`.
 * tarn fires an event *before* it changes its counters, so levels are read in
 * a microtask after the event (coalesced).
 */
import type { PoolWatch } from '../watch';
import { nowSeconds, PendingTimes } from '../watch';
import { errorType, UseTimes, num } from './common';

export function isTarnPool(p: any): boolean {
  return (
    !!p &&
    typeof p.numUsed === 'function' &&
    typeof p.numFree === 'function' &&
    typeof p.numPendingAcquires === 'function' &&
    typeof p.acquire === 'function' &&
    typeof p.on === 'function'
  );
}

/** The tarn pool of a knex instance, or null. */
export function knexTarn(k: any): any {
  const pool = k && (typeof k === 'function' || typeof k === 'object') ? k.client?.pool : undefined;
  return isTarnPool(pool) ? pool : null;
}

export function attachTarn(watch: PoolWatch<any>, pool: any, pendingLimit = 10_000): PendingTimes<number> {
  const uses = new UseTimes();
  const pending = new PendingTimes<number>(pendingLimit);
  // Resources being created count as used (as pg does); the acquires they
  // will serve, or that a free resource is about to serve, are not pending:
  // pending = acquires with no slot at all.
  watch.read = (p) => {
    const creating = num(p.numPendingCreates?.());
    const free = num(p.numFree());
    return {
      max: num(p.max),
      used: num(p.numUsed()) + creating,
      idle: free,
      pending: Math.max(0, num(p.numPendingAcquires()) - creating - free),
    };
  };
  const soon = (): void => watch.refreshSoon();
  const handlers: Record<string, (...a: any[]) => void> = {
    acquireRequest: (id: number) => {
      pending.start(id, nowSeconds());
      watch.refreshSoon();
    },
    acquireSuccess: (id: number, resource: unknown) => {
      const t0 = pending.take(id);
      if (t0 !== undefined) watch.wait(nowSeconds() - t0);
      uses.granted(resource);
      watch.refreshSoon();
    },
    acquireFail: (id: number, err: unknown) => {
      pending.take(id);
      watch.fail(errorType(err));
      watch.refreshSoon();
    },
    release: (resource: unknown) => {
      const s = uses.released(resource);
      if (s !== undefined) watch.use(s);
      watch.refreshSoon();
    },
    createSuccess: soon,
    destroySuccess: soon,
    poolDestroySuccess: () => {
      pending.clear();
      watch.close();
    },
  };
  for (const [e, h] of Object.entries(handlers)) {
    // tarn catches listener exceptions and logs them; guard anyway.
    const g = (...a: any[]): void => watch.guard(e, () => h(...a));
    handlers[e] = g;
    pool.on(e, g);
  }
  watch.onTeardown((p: any) => {
    for (const [e, h] of Object.entries(handlers)) p.removeListener(e, h);
    pending.clear();
  });
  watch.refresh();
  return pending;
}
