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
import { nowSeconds } from '../watch';
import { timeCallback, UseTimes, num } from './common';

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
  watch.read = (p) => {
    const all = num(p._allConnections.length);
    const free = num(p._freeConnections.length);
    const limit = num(p.config.connectionLimit, 10);
    return {
      max: limit === 0 ? Infinity : limit,
      used: Math.max(0, all - free),
      idle: free,
      pending: num(p._connectionQueue.length),
    };
  };
  const onGrant = (conn: unknown): void => uses.granted(conn);

  watch.wrapMethod(pool, 'getConnection', (orig) =>
    function getConnection(this: any, cb: unknown) {
      if (typeof cb !== 'function') return orig.apply(this, arguments as any);
      const r = orig.call(this, timeCallback(watch, nowSeconds(), cb as any, onGrant));
      watch.refresh();
      return r;
    },
  );
  watch.wrapMethod(pool, 'releaseConnection', (orig) =>
    function releaseConnection(this: any, conn: unknown) {
      const r = orig.apply(this, arguments as any);
      watch.guard('release', () => {
        const s = uses.released(conn);
        if (s !== undefined) watch.use(s);
        watch.refresh();
      });
      return r;
    },
  );
  watch.wrapMethod(pool, 'end', (orig) =>
    function end(this: any) {
      const r = orig.apply(this, arguments as any);
      watch.close();
      return r;
    },
  );
  const refresh = (): void => watch.refresh();
  const events = ['connection', 'acquire', 'enqueue', 'release'];
  for (const e of events) pool.on(e, refresh);
  watch.onTeardown((p: any) => {
    for (const e of events) p.removeListener(e, refresh);
  });
  watch.refresh();
}
