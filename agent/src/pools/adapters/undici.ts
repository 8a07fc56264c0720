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
 *
 * Wait time, per request: from the request entering the monitored
 * dispatcher (its internal `[kDispatch](opts, handler)`, wrapped on the
 * instance; the symbol is found by its description `dispatch`) to undici
 * writing the request's headers on a connection (diagnostics channel
 * `undici:client:sendHeaders`, whose `request` holds the handler under the
 * symbol described `handler`). The start time is kept in a WeakMap keyed by
 * that handler object — the same object undici passes down to the Client —
 * so state is bounded by the requests in flight and nothing is added to the
 * request. A request that fails before its headers are written (connect
 * error, connect or queue timeout) counts in `errors` (`undici:request:error`);
 * one aborted by the caller does not.
 */
import { performance } from 'node:perf_hooks';
import diagnosticsChannel = require('node:diagnostics_channel');
import type { PoolWatch } from '../watch';
import { closeOn, errorType, fieldsOf, num, refreshOn, type Emitter } from './common';

const SEND_HEADERS = 'undici:client:sendHeaders';
const REQUEST_ERROR = 'undici:request:error';

/** What the adapter reads of an undici `Pool`, `BalancedPool` or `Agent`. */
export interface UndiciDispatcher extends Emitter {
  dispatch(...args: unknown[]): unknown;
  close(...args: unknown[]): unknown;
  /** `PoolStats` (Pool), or origin → stats (Agent). */
  stats: unknown;
  closed?: unknown;
  destroyed?: unknown;
}

/** A Pool's `PoolStats`. */
interface PoolStats {
  connected: number;
  free: number;
  queued?: unknown;
}

/** One origin's entry in `Agent.stats`: a Pool's stats, or a Client's (no `free`, no `queued`). */
interface OriginStats {
  connected?: unknown;
  free?: unknown;
  queued?: unknown;
  running?: unknown;
}

export function isUndiciDispatcher(p: unknown): p is UndiciDispatcher {
  const o = fieldsOf(p);
  if (!o || typeof o.dispatch !== 'function' || typeof o.close !== 'function') return false;
  try {
    const s = o.stats;
    return !!s && typeof s === 'object';
  } catch {
    // Detection only: an object whose `stats` getter throws is not a dispatcher we can read.
    return false;
  }
}

function symbolValue(obj: object, description: string): unknown {
  for (const s of Object.getOwnPropertySymbols(obj)) if (s.description === description) return (obj as Record<symbol, unknown>)[s];
  return undefined;
}

function isPoolStats(s: unknown): s is PoolStats {
  const o = fieldsOf(s);
  return o !== null && typeof o.connected === 'number' && typeof o.free === 'number';
}

/** Finds a symbol-keyed method by the symbol's description on `obj` or its prototypes. */
function symbolMethod(obj: object, description: string): symbol | undefined {
  for (let o: object | null = obj; o && o !== Object.prototype; o = Object.getPrototypeOf(o) as object | null) {
    for (const s of Object.getOwnPropertySymbols(o)) {
      if (s.description === description && typeof (o as Record<symbol, unknown>)[s] === 'function') return s;
    }
  }
  return undefined;
}

/**
 * The handler of an undici Request (symbol described `handler`). The symbol
 * is cached; a Request from another undici copy (Node's bundled one) has its
 * own symbol, found on first sight.
 */
let kHandler: symbol | undefined;
function handlerOf(request: unknown): unknown {
  if (!request || typeof request !== 'object') return undefined;
  const fields = request as Record<symbol, unknown>;
  if (kHandler !== undefined) {
    const h = fields[kHandler];
    if (h !== undefined) return h;
  }
  for (const s of Object.getOwnPropertySymbols(request)) {
    if (s.description === 'handler') {
      kHandler = s;
      return fields[s];
    }
  }
  return undefined;
}

function isAbort(err: unknown): boolean {
  const e = err as { name?: unknown; code?: unknown } | null | undefined;
  return !!e && (e.name === 'AbortError' || e.code === 'UND_ERR_ABORTED' || e.name === 'RequestAbortedError');
}

function timeRequests(watch: PoolWatch<UndiciDispatcher>, dispatcher: UndiciDispatcher): void {
  const kDispatch = symbolMethod(dispatcher, 'dispatch');
  if (!kDispatch) {
    watch.report(new Error('undici dispatcher has no [kDispatch] method: no wait time for this pool'), 'attach');
    return;
  }
  const starts = new WeakMap<object, number>();
  watch.wrapMethod(dispatcher, kDispatch, (orig) =>
    function dispatch(this: UndiciDispatcher, _opts: unknown, handler: unknown) {
      if (handler !== null && typeof handler === 'object') starts.set(handler, performance.now());
      // eslint-disable-next-line prefer-rest-params -- passes undici's arguments through as they were (count included); a rest parameter would change this wrapper's length (2)
      return Reflect.apply(orig, this, arguments) as unknown;
    },
  );
  const onSendHeaders = (msg: unknown): void => {
    try {
      const h = handlerOf((msg as { request?: unknown }).request);
      if (h === undefined || h === null || typeof h !== 'object') return;
      const t0 = starts.get(h);
      if (t0 === undefined) return;
      starts.delete(h);
      watch.wait((performance.now() - t0) / 1000);
    } catch (e) {
      watch.report(e, SEND_HEADERS);
    }
  };
  const onError = (msg: unknown): void => {
    try {
      const m = msg as { request?: unknown; error?: unknown };
      const h = handlerOf(m.request);
      if (h === undefined || h === null || typeof h !== 'object' || !starts.has(h)) return;
      starts.delete(h);
      if (!isAbort(m.error)) watch.fail(errorType(m.error));
    } catch (e) {
      watch.report(e, REQUEST_ERROR);
    }
  };
  diagnosticsChannel.subscribe(SEND_HEADERS, onSendHeaders);
  diagnosticsChannel.subscribe(REQUEST_ERROR, onError);
  // Unsubscribed on close even if the dispatcher was garbage-collected.
  watch.onClose(() => {
    diagnosticsChannel.unsubscribe(SEND_HEADERS, onSendHeaders);
    diagnosticsChannel.unsubscribe(REQUEST_ERROR, onError);
  });
}

export function attachUndici(watch: PoolWatch<UndiciDispatcher>, dispatcher: UndiciDispatcher, sampleMs: number): void {
  let closing = false;
  watch.read = (d, out) => {
    if (d.closed || d.destroyed) {
      if (!closing) {
        closing = true;
        queueMicrotask(() => watch.close());
      }
      out.max = out.used = out.idle = out.pending = 0;
      return;
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
      // Agent: origin → stats.
      const byOrigin = stats as Record<string, OriginStats>;
      for (const key of Object.keys(byOrigin)) {
        const s = byOrigin[key];
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
    out.max = typeof conns === 'number' && conns > 0 ? conns * origins : Infinity;
    out.used = Math.max(0, connected - free);
    out.idle = free;
    out.pending = pending;
  };
  closeOn(watch, dispatcher, ['close', 'destroy']);
  refreshOn(watch, dispatcher, ['connect', 'disconnect', 'drain']);
  timeRequests(watch, dispatcher);
  watch.every(sampleMs);
  watch.refresh();
}
