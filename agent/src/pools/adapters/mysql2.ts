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
 * `end()`; and that a free connection is taken (with its `acquire` event)
 * inside `getConnection()` itself, which mysql2 has done since 1.x.
 */
import type { PoolWatch } from '../watch';
import { performance } from 'node:perf_hooks';
import { closeOn, fieldsOf, isFunction, isTimed, refreshOn, timeCallback, UseTimes, num, wrapRelease, type Emitter } from './common';

/** mysql2's queue of waiting requests: a RingQueue (3.x: `peekBack()`) or a Denque (older: `_list`, `_tail`, `_mask`). */
interface Mysql2Queue {
  length: unknown;
  peekBack?: () => unknown;
  _list?: unknown;
  _tail?: unknown;
  _mask?: unknown;
}

/** What the adapter reads of mysql2's core pool (the one behind `.promise()`). */
export interface Mysql2Pool extends Emitter {
  getConnection(...args: unknown[]): unknown;
  releaseConnection(...args: unknown[]): unknown;
  end(...args: unknown[]): unknown;
  _allConnections: { length: unknown };
  _freeConnections: { length: unknown };
  _connectionQueue: Mysql2Queue;
  _closed?: unknown;
  config: { connectionLimit?: unknown };
}

function isCore(p: unknown): p is Mysql2Pool {
  const o = fieldsOf(p);
  return (
    o !== null &&
    typeof o.getConnection === 'function' &&
    typeof o.releaseConnection === 'function' &&
    o._allConnections != null &&
    o._freeConnections != null &&
    o._connectionQueue != null &&
    o.config != null
  );
}

/** The core pool of a mysql2 pool or promise pool, or null. */
export function mysql2Core(p: unknown): Mysql2Pool | null {
  if (isCore(p)) return p;
  const o = fieldsOf(p);
  if (o && isCore(o.pool) && typeof o.getConnection === 'function') return o.pool;
  return null;
}

export function attachMysql2(watch: PoolWatch<Mysql2Pool>, pool: Mysql2Pool): void {
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
  // True while a getConnection() that found a free connection runs: mysql2 pops it and emits `acquire` inside
  // the call (the callback follows on the next tick), so that request never queued. Its wait is 0 and the
  // grant time (for use time) is read at that `acquire`, without a callback wrapper or a clock read at the call.
  let grantingFree = false;
  // Queued callbacks that mysql2 may send back through getConnection (when a connection is destroyed or fails
  // to reset). Ours are recognisable (`isTimed`); with a `mysql2:pool:connect` tracing subscriber, mysql2 queues
  // its own wrapper of ours instead, so that wrapper is remembered here when it is queued.
  const requeued = new WeakSet<object>();
  watch.wrapMethod(pool, 'getConnection', (orig) =>
    function getConnection(this: Mysql2Pool, cb: unknown) {
      // eslint-disable-next-line prefer-rest-params -- passes the caller's arguments through as they were (count included); a rest parameter would change this wrapper's length (1)
      if (!isFunction(cb)) return Reflect.apply(orig, this, arguments) as unknown;
      const queue = this._connectionQueue;
      const queuedBefore = queue.length;
      let r: unknown;
      if (isTimed(cb) || requeued.delete(cb)) {
        // A re-dispatched request keeps the timing of its first call.
        r = orig.call(this, cb);
      } else if (num(this._freeConnections.length) > 0 && this._closed !== true) {
        grantingFree = true;
        try {
          r = orig.call(this, cb);
        } finally {
          grantingFree = false;
        }
      } else {
        r = orig.call(this, timeCallback(watch, performance.now(), cb, uses));
      }
      try {
        if (num(queue.length) > num(queuedBefore)) {
          const queued = lastQueued(queue);
          if (typeof queued === 'function' && !isTimed(queued)) requeued.add(queued);
        }
      } catch (e) {
        watch.report(e, 'getConnection');
      }
      watch.refresh();
      return r;
    },
  );
  const onAcquire = (connection: unknown): void => {
    if (grantingFree) {
      grantingFree = false;
      try {
        watch.wait(0);
        uses.granted(connection);
      } catch (e) {
        watch.report(e, 'acquire');
      }
    }
    watch.refresh();
  };
  pool.on('acquire', onAcquire);
  watch.onTeardown((p) => p.removeListener('acquire', onAcquire));
  wrapRelease(watch, pool, 'releaseConnection', uses);
  closeOn(watch, pool, ['end']);
  refreshOn(watch, pool, ['connection', 'enqueue', 'release']);
  watch.refresh();
}

/** The callback mysql2 queued last: its RingQueue (3.x) or Denque (older) holds it at the tail. */
function lastQueued(queue: Mysql2Queue): unknown {
  if (typeof queue.peekBack === 'function') return queue.peekBack();
  const list: unknown = queue._list;
  if (Array.isArray(list) && typeof queue._tail === 'number' && typeof queue._mask === 'number') {
    return (list as unknown[])[(queue._tail - 1) & queue._mask];
  }
  return undefined;
}
