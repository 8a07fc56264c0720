/**
 * node-postgres (`pg.Pool`, pg-pool 3.x).
 *
 * Relies on (public API): `totalCount`, `idleCount`, `waitingCount`,
 * `options.max`, events `connect`, `acquire`, `release`, `remove`, methods
 * `connect()` (both callback and promise forms; `pool.query()` goes through
 * `this.connect`) and `end()`. No `error` listener is added (that would
 * change pg's behaviour on idle-client errors).
 */
import type { PoolWatch } from '../watch';
import { performance } from 'node:perf_hooks';
import { closeOn, fieldsOf, isFunction, refreshOn, timeCallback, timePromise, UseTimes, num, type AnyFunction, type Emitter } from './common';

/** What the adapter reads of a `pg.Pool`. */
export interface PgPool extends Emitter {
  totalCount: unknown;
  idleCount: unknown;
  waitingCount: unknown;
  options?: { max?: unknown } | null;
  /** The promise constructor pg builds its promises with (`options.Promise`, default the global Promise). */
  Promise?: unknown;
  connect(...args: unknown[]): unknown;
  end(...args: unknown[]): unknown;
}

type PromiseConstructorLike = new (executor: (resolve: (v: unknown) => void, reject: (e: unknown) => void) => void) => Promise<unknown>;

export function isPgPool(p: unknown): p is PgPool {
  const o = fieldsOf(p);
  return (
    o !== null &&
    typeof o.connect === 'function' &&
    typeof o.end === 'function' &&
    typeof o.on === 'function' &&
    'totalCount' in o &&
    'idleCount' in o &&
    'waitingCount' in o
  );
}

export function attachPg(watch: PoolWatch<PgPool>, pool: PgPool): void {
  const uses = new UseTimes();
  watch.read = (p, out) => {
    const total = num(p.totalCount);
    const idle = num(p.idleCount);
    out.max = num(p.options?.max, 10);
    out.used = Math.max(0, total - idle);
    out.idle = idle;
    out.pending = num(p.waitingCount);
  };
  // pg grants asynchronously (even to an idle client, on the next tick) and
  // its `acquire` event does not say which request it serves, so each
  // connect() is timed on its own callback. The promise form is served
  // through the callback form too (what pg itself does: a promise of
  // `pool.Promise` settled by a callback), which costs one promise instead
  // of pg's promise plus a derived one.
  watch.wrapMethod(pool, 'connect', (orig) =>
    function connect(this: PgPool, cb?: unknown) {
      const t0 = performance.now();
      if (isFunction(cb)) {
        const r = orig.call(this, timeCallback(watch, t0, cb, uses));
        watch.refresh();
        return r;
      }
      // eslint-disable-next-line prefer-rest-params -- the caller's arguments go to pg as they were (count included); a rest parameter would change this wrapper's length (1)
      const args = arguments;
      if (args.length > 0 || typeof this.Promise !== 'function') {
        const p = Reflect.apply(orig, this, args) as unknown;
        watch.refresh();
        return timePromise(watch, t0, p, uses);
      }
      let settle!: AnyFunction;
      const PgPromise = this.Promise as PromiseConstructorLike;
      const result = new PgPromise((resolve, reject) => {
        settle = (err, client) => (err ? reject(err) : resolve(client));
      }).catch((err: unknown) => {
        // As pg's own promise does: a stack that leads back to the application's `await`, not to a socket callback.
        if (err instanceof Error) Error.captureStackTrace(err);
        throw err;
      });
      orig.call(this, timeCallback(watch, t0, settle, uses));
      watch.refresh();
      return result;
    },
  );
  closeOn(watch, pool, ['end']);
  // No `acquire` listener: every grant runs the timed callback, which marks the levels.
  refreshOn(watch, pool, ['connect', 'remove']);
  const onRelease = (_err: unknown, client: unknown): void => {
    try {
      uses.release(watch, client);
    } catch (e) {
      watch.report(e, 'release');
    }
    watch.refresh();
  };
  pool.on('release', onRelease);
  watch.onTeardown((p) => p.removeListener('release', onRelease));
  watch.refresh();
}
