import { nowSeconds, type PoolWatch } from '../watch';

const kTimed = Symbol('loopwatch.pool.timed');

/** Heuristic used by all adapters: driver timeout errors say so. */
export function errorType(err: unknown): 'timeout' | 'error' {
  const e = err as { name?: unknown; message?: unknown; code?: unknown } | null;
  if (e && (e.name === 'TimeoutError' || e.name === 'KnexTimeoutError' || e.code === 'ETIMEDOUT')) return 'timeout';
  if (e && typeof e.message === 'string' && /time(d)?[ -]?out/i.test(e.message)) return 'timeout';
  return 'error';
}

/**
 * Wraps a node-style acquire callback so the grant (or failure) is timed from
 * `t0`. A callback already wrapped (re-queued internally by the driver) is
 * returned as is, so one request is timed once.
 */
export function timeCallback<C extends (err: unknown, ...rest: any[]) => any>(
  watch: PoolWatch<object>,
  t0: number,
  cb: C,
  onGrant?: (resource: unknown) => void,
): C {
  if ((cb as any)[kTimed]) return cb;
  const timed = function (this: unknown, err: unknown, ...rest: any[]) {
    watch.guard('acquire callback', () => {
      if (err) watch.fail(errorType(err));
      else {
        watch.wait(nowSeconds() - t0);
        if (onGrant) onGrant(rest[0]);
      }
      watch.refresh();
    });
    return cb.call(this, err, ...rest);
  } as unknown as C;
  (timed as any)[kTimed] = true;
  return timed;
}

/** Times a promise-returning acquire; returns a promise settling like `p`. */
export function timePromise<P extends PromiseLike<unknown>>(
  watch: PoolWatch<object>,
  t0: number,
  p: P,
  onGrant?: (resource: unknown) => void,
): P {
  if (!p || typeof (p as any).then !== 'function') return p;
  return p.then(
    (resource) => {
      watch.guard('acquire grant', () => {
        watch.wait(nowSeconds() - t0);
        if (onGrant) onGrant(resource);
        watch.refresh();
      });
      return resource;
    },
    (err) => {
      watch.guard('acquire failure', () => {
        watch.fail(errorType(err));
        watch.refresh();
      });
      throw err;
    },
  ) as unknown as P;
}

/**
 * Grant → release timing per resource (connection, client…). A WeakMap: an
 * entry lives only as long as the resource, whatever the driver does with it.
 */
export class UseTimes {
  private readonly start = new WeakMap<object, number>();
  granted(resource: unknown): void {
    if (resource && typeof resource === 'object') this.start.set(resource, nowSeconds());
  }
  /** Returns seconds since grant, or undefined when the resource was not timed. */
  released(resource: unknown): number | undefined {
    if (!resource || typeof resource !== 'object') return undefined;
    const t = this.start.get(resource);
    if (t === undefined) return undefined;
    this.start.delete(resource);
    return nowSeconds() - t;
  }
}

export function num(v: unknown, fallback = 0): number {
  return typeof v === 'number' ? v : fallback;
}
