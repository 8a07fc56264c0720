/**
 * mysql2 pool (`mysql.createPool()`, or its `.promise()` wrapper, which is
 * unwrapped to the core pool via its public `.pool` property).
 *
 * Relies on: `config.connectionLimit` (public option) and the core pool's
 * internal queues `_allConnections`, `_freeConnections`, `_connectionQueue`
 * (each with `.length`; stable since mysql2 1.x, no public counters exist);
 * events `connection`, `acquire`, `enqueue`, `release`; methods
 * `getConnection(cb)` (used by `query`/`execute` and by the promise wrapper),
 * `releaseConnection(conn)` (called by `conn.release()`, also when the
 * connection is handed straight to a queued waiter, which emits no event) and
 * `end()`.
 */
import type { PoolWatch } from '../watch';
import { performance } from 'node:perf_hooks';
import { closeOn, refreshOn, timeCallback, UseTimes, num, wrapRelease } from './common';

function isCore(p: any): boolean {
  return (
    !!p &&
    typeof p.getConnection === 'function' &&
    typeof p.releaseConnection === 'function' &&
    p._allConnections != null &&
    p._freeConnections != null &&
    p._connectionQueue != null &&
    p.config != null
  );
}

/** The core pool of a mysql2 pool or promise pool, or null. */
export function mysql2Core(p: any): any {
  if (isCore(p)) return p;
  if (p && isCore(p.pool) && typeof p.getConnection === 'function') return p.pool;
  return null;
}

export function attachMysql2(watch: PoolWatch<any>, pool: any): void {
  const uses = new UseTimes();
  watch.read = (p, out) => {
    const all = num(p._allConnections.length);
    const free = num(p._freeConnections.length);
    const limit = num(p.config.connectionLimit, 10);
    out.max = limit === 0 ? Infinity : limit;
    out.used = Math.max(0, all - free);
    out.idle = free;
    out.pending = num(p._connectionQueue.length);
  };
  watch.wrapMethod(pool, 'getConnection', (orig) =>
    function getConnection(this: any, cb: unknown) {
      if (typeof cb !== 'function') return orig.apply(this, arguments as any);
      const r = orig.call(this, timeCallback(watch, performance.now(), cb as any, uses));
      watch.refresh();
      return r;
    },
  );
  wrapRelease(watch, pool, 'releaseConnection', uses);
  closeOn(watch, pool, ['end']);
  refreshOn(watch, pool, ['connection', 'acquire', 'enqueue', 'release']);
  watch.refresh();
}
