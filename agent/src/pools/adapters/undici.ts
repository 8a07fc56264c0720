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
import { closeOn, errorType, num, refreshOn } from './common';

const SEND_HEADERS = 'undici:client:sendHeaders';
const REQUEST_ERROR = 'undici:request:error';

export function isUndiciDispatcher(p: any): boolean {
  if (!p || typeof p.dispatch !== 'function' || typeof p.close !== 'function') return false;
  try {
    const s = p.stats;
    return !!s && typeof s === 'object';
  } catch {
    // Detection only: an object whose `stats` getter throws is not a dispatcher we can read.
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

/** Finds a symbol-keyed method by the symbol's description on `obj` or its prototypes. */
function symbolMethod(obj: object, description: string): symbol | undefined {
  for (let o: object | null = obj; o && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    for (const s of Object.getOwnPropertySymbols(o)) {
      if (s.description === description && typeof (o as any)[s] === 'function') return s;
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
function handlerOf(request: any): unknown {
  if (!request || typeof request !== 'object') return undefined;
  if (kHandler !== undefined) {
    const h = request[kHandler];
    if (h !== undefined) return h;
  }
  for (const s of Object.getOwnPropertySymbols(request)) {
    if (s.description === 'handler') {
      kHandler = s;
      return request[s];
    }
  }
  return undefined;
}

function isAbort(err: any): boolean {
  return !!err && (err.name === 'AbortError' || err.code === 'UND_ERR_ABORTED' || err.name === 'RequestAbortedError');
}

function timeRequests(watch: PoolWatch<any>, dispatcher: any): void {
  const kDispatch = symbolMethod(dispatcher, 'dispatch');
  if (!kDispatch) {
    watch.report(new Error('undici dispatcher has no [kDispatch] method: no wait time for this pool'), 'attach');
    return;
  }
  const starts = new WeakMap<object, number>();
  watch.wrapMethod(dispatcher, kDispatch, (orig) =>
    function dispatch(this: unknown, _opts: unknown, handler: unknown) {
      if (handler !== null && typeof handler === 'object') starts.set(handler, performance.now());
      return orig.apply(this, arguments as any);
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

export function attachUndici(watch: PoolWatch<any>, dispatcher: any, sampleMs: number): void {
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
