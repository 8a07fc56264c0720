/**
 * undici `Pool` and `Agent` (undici 6/7; also `BalancedPool`, which shares
 * Pool's base class).
 *
 * Relies on: the public `stats` getter (`PoolStats`: connected, free,
 * pending, queued, running, size; `Agent.stats` maps origin → stats), the
 * `connect`/`disconnect`/`drain` events, `close()`/`destroy()`, and — for
 * `max` only — the constructor's `connections` option, read from the
 * instance's symbol-keyed slot whose description is `connections` (Pool) or
 * `options` (Agent). Without it `max` is +Inf (unbounded, undici's default).
 *
 * Mapping: used = connected − free (connections busy with requests), idle =
 * free, pending = `stats.queued` (requests in the pool's own queue: no
 * connection can take them; requests already assigned to a connection that
 * is still connecting are not pending).
 * No per-request wait time: undici exposes no grant event per pool (see
 * docs/pools.md).
 */
import type { PoolWatch } from '../watch';
import { num } from './common';

export function isUndiciDispatcher(p: any): boolean {
  if (!p || typeof p.dispatch !== 'function' || typeof p.close !== 'function') return false;
  try {
    const s = p.stats;
    return !!s && typeof s === 'object';
  } catch {
    return false;
  }
}

function symbolValue(obj: object, description: string): unknown {
  for (const s of Object.getOwnPropertySymbols(obj)) if (s.description === description) return (obj as any)[s];
  return undefined;
}

function isPoolStats(s: any): boolean {
  return s && typeof s.connected === 'number' && typeof s.free === 'number';
}

export function attachUndici(watch: PoolWatch<any>, dispatcher: any, sampleMs: number): void {
  watch.read = (d) => {
    if (d.closed || d.destroyed) {
      queueMicrotask(() => watch.close());
      return { max: 0, used: 0, idle: 0, pending: 0 };
    }
    const stats = d.stats;
    let connected = 0;
    let free = 0;
    let pending = 0;
    let origins = 0;
    if (isPoolStats(stats)) {
      connected = stats.connected;
      free = stats.free;
      pending = num(stats.queued);
      origins = 1;
    } else {
      for (const key of Object.keys(stats)) {
        const s = stats[key];
        origins++;
        connected += num(s.connected);
        // A per-origin Client (connections: 1) has no `free`: busy when running.
        free += typeof s.free === 'number' ? s.free : num(s.connected) && !num(s.running) ? 1 : 0;
        // A Client has no pool queue: its pending requests own its connection.
        pending += typeof s.queued === 'number' ? s.queued : 0;
      }
    }
    const conns = isPoolStats(stats)
      ? symbolValue(d, 'connections')
      : (symbolValue(d, 'options') as { connections?: unknown } | undefined)?.connections;
    const max = typeof conns === 'number' && conns > 0 ? conns * origins : Infinity;
    return { max, used: Math.max(0, connected - free), idle: free, pending };
  };
  for (const m of ['close', 'destroy']) {
    watch.wrapMethod(dispatcher, m, (orig) =>
      function closeOrDestroy(this: any) {
        const r = orig.apply(this, arguments as any);
        watch.close();
        return r;
      },
    );
  }
  const refresh = (): void => watch.refresh();
  const events = ['connect', 'disconnect', 'drain'];
  for (const e of events) dispatcher.on(e, refresh);
  watch.onTeardown((d: any) => {
    for (const e of events) d.removeListener(e, refresh);
  });
  watch.every(sampleMs);
  watch.refresh();
}
