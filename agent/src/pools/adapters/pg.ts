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
import { nowSeconds } from '../watch';
import { timeCallback, timePromise, UseTimes, num } from './common';

export function isPgPool(p: any): boolean {
  return (
    !!p &&
    typeof p.connect === 'function' &&
    typeof p.end === 'function' &&
    typeof p.on === 'function' &&
    'totalCount' in p &&
    'idleCount' in p &&
    'waitingCount' in p
  );
}

export function attachPg(watch: PoolWatch<any>, pool: any): void {
  const uses = new UseTimes();
  watch.read = (p) => {
    const total = num(p.totalCount);
    const idle = num(p.idleCount);
    const max = num(p.options?.max, 10);
    return { max, used: Math.max(0, total - idle), idle, pending: num(p.waitingCount) };
  };
  const onGrant = (client: unknown): void => uses.granted(client);

  watch.wrapMethod(pool, 'connect', (orig) =>
    function connect(this: any, cb?: unknown) {
      const t0 = nowSeconds();
      if (typeof cb === 'function') {
        const r = orig.call(this, timeCallback(watch, t0, cb as any, onGrant));
        watch.refresh();
        return r;
      }
      const p = orig.apply(this, arguments as any);
      watch.refresh();
      return timePromise(watch, t0, p, onGrant);
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
  const onRelease = (_err: unknown, client: unknown): void => {
    watch.guard('release', () => {
      const s = uses.released(client);
      if (s !== undefined) watch.use(s);
      watch.refresh();
    });
  };
  pool.on('connect', refresh);
  pool.on('acquire', refresh);
  pool.on('remove', refresh);
  pool.on('release', onRelease);
  watch.onTeardown((p: any) => {
    p.removeListener('connect', refresh);
    p.removeListener('acquire', refresh);
    p.removeListener('remove', refresh);
    p.removeListener('release', onRelease);
  });
  watch.refresh();
}
