/**
 * Plain adapter for any other pool: `{ max, used, idle?, pending? }`, each a
 * number or a function returning one. There are no events to hook, so the
 * values are sampled on an unref'd timer (default every 1 s, option
 * `sampleIntervalMs`) and once at attach. A throwing callback or a value that
 * is not a non-negative number is sent to onError (that sample is dropped);
 * the application never sees it.
 *
 * The adapter object is held strongly until `detach()` (it is usually a
 * literal nobody else references, so it cannot be tracked for garbage
 * collection): call `detach()` when the pool goes away.
 */
import type { PlainPoolAdapter } from '../types';
import type { PoolWatch } from '../watch';
import { fieldsOf } from './common';

export function isPlainAdapter(p: unknown): p is PlainPoolAdapter {
  const ok = (v: unknown): boolean => typeof v === 'number' || typeof v === 'function';
  const o = fieldsOf(p);
  return o !== null && ok(o.max) && ok(o.used);
}

const read = (v: number | (() => number)): number => (typeof v === 'function' ? v() : v);

/** Strong references to plain adapters (released on detach). */
const held = new Set<object>();

export function attachPlain(watch: PoolWatch<PlainPoolAdapter>, adapter: PlainPoolAdapter, sampleMs: number): void {
  held.add(adapter);
  watch.onTeardown((a) => held.delete(a));
  watch.read = (a, out) => {
    const max = read(a.max);
    const used = read(a.used);
    out.max = max;
    out.used = used;
    out.idle = a.idle === undefined ? max - used : read(a.idle);
    out.pending = a.pending === undefined ? 0 : read(a.pending);
  };
  watch.every(sampleMs);
  watch.refresh();
}
