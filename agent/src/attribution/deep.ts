/**
 * Deep attribution (opt-in, `attribution: 'deep'`): times every callback with async_hooks and, for a callback
 * that ran at least the stall threshold, gives its exact async resource type and where it was scheduled.
 *
 * - `init`: captures up to ORIGIN_FRAMES frames with `Error.captureStackTrace` (V8 records the frames; they are
 *   formatted only if that callback ever stalls) and stores them on the resource under a symbol, as Node's own
 *   async_hooks-based AsyncLocalStorage stores its context: no map, the note goes away with the resource. It also
 *   links the note of the resource that was running (a chain of at most MAX_CHAIN notes), because resources
 *   created inside Node's internals (the fstat/read/close steps of `fs.readFile`) have no application frame of
 *   their own: the origin is then taken from the nearest ancestor that has one.
 * - `before`/`after`: a clock read each, on a fixed-size stack of (asyncId, start). Only a callback that ran at
 *   least the threshold does more: its origin is formatted and kept (one record, innermost callback wins) until
 *   the stall pipeline takes it at the next heartbeat.
 * Promises are tracked (async_hooks installs V8 promise hooks): most stalls in real services run in a
 * continuation after an `await`, and the issue asks for the origin of every stall. Node 22/24 have no
 * `trackPromises` option anyway (added in Node 26). The cost is measured in docs/attribution.md.
 * Every hook catches its own errors: an exception thrown from an async hook kills the process.
 */
import { createHook, executionAsyncId, executionAsyncResource, type AsyncHook } from 'node:async_hooks';
import * as path from 'node:path';
import type { StackFrame } from '../types';
import { framesOfCaptured, isAppFrame, isInternalFrame } from './frames';

/** Frames captured per async resource at init. */
export const ORIGIN_FRAMES = 10;
/** Ancestors kept per note (bounds what a chain of resources keeps alive). */
export const MAX_CHAIN = 8;
const MAX_DEPTH = 256;

const kOrigin = Symbol('loopwatch.asyncOrigin');
/** loopwatch's own compiled code (its fs wrappers count threadpool operations): never the origin. */
const OWN_DIR = path.resolve(__dirname, '..') + path.sep;

interface OriginNote {
  type: string;
  holder: { stack?: unknown };
  parent: OriginNote | undefined;
  depth: number;
}

/** A callback that ran at least the threshold. */
export interface LongCallback {
  /** Exact async resource type (`Timeout`, `Immediate`, `PROMISE`, `FSREQCALLBACK`, `HTTPINCOMINGMESSAGE`, …). */
  type: string;
  /** Where it was scheduled: innermost first, from the first non-internal frame; not source-mapped. */
  origin: StackFrame[];
  durationMs: number;
  /** hrtime when it returned. */
  endNs: bigint;
}

export interface DeepAttribution {
  stop(): void;
  /** The long callback that returned between the beats at `sinceNs` and `endNs`, once. */
  take(sinceNs: bigint, endNs: bigint): LongCallback | undefined;
}

export function startDeepAttribution(thresholdMs: number, onError: (what: string, err: unknown) => void): DeepAttribution {
  const ids = new Float64Array(MAX_DEPTH);
  const starts = new Float64Array(MAX_DEPTH);
  let depth = 0;
  let record: (LongCallback & { startMs: number }) | undefined;
  const now = () => performance.now();

  function init(_asyncId: number, type: string, trigger: number, resource: object): void {
    try {
      if (resource === null || typeof resource !== 'object') return;
      // A promise with no parent (new Promise, Promise.resolve, an async function's result) never runs a callback
      // of its own: only derived ones (then, await) do. Node gives those their parent's id as trigger; the others
      // get the running resource's. Skipping them saves about a quarter of the captures of await-heavy code.
      if (type === 'PROMISE' && trigger === executionAsyncId()) return;
      const holder: { stack?: unknown } = {};
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = ORIGIN_FRAMES;
      Error.captureStackTrace(holder, init);
      Error.stackTraceLimit = limit;
      const current = executionAsyncResource() as Record<symbol, OriginNote | undefined> | undefined;
      const up = current?.[kOrigin];
      const parent = up && up.depth < MAX_CHAIN ? up : undefined;
      (resource as Record<symbol, OriginNote>)[kOrigin] = { type, holder, parent, depth: parent ? parent.depth + 1 : 0 };
    } catch (err) {
      onError('deep attribution: init hook failed', err);
    }
  }
  function before(asyncId: number): void {
    if (depth < MAX_DEPTH) {
      ids[depth] = asyncId;
      starts[depth] = now();
    }
    depth++;
  }
  function after(asyncId: number): void {
    try {
      // Unwind to this callback: a callback that threw never got its own `after`.
      while (depth > 0 && (depth > MAX_DEPTH || ids[depth - 1] !== asyncId)) depth--;
      if (depth === 0) return;
      depth--;
      const startMs = starts[depth]!;
      const ms = now() - startMs;
      if (ms < thresholdMs) return;
      // Innermost wins: an outer callback (the socket around an HTTP parser callback) ends after an inner one.
      if (record && record.startMs >= startMs) return;
      const note = (executionAsyncResource() as Record<symbol, OriginNote | undefined> | undefined)?.[kOrigin];
      record = { type: note?.type ?? 'unknown', origin: note ? originOf(note) : [], durationMs: ms, endNs: process.hrtime.bigint(), startMs };
    } catch (err) {
      onError('deep attribution: after hook failed', err);
    }
  }

  const hook: AsyncHook = createHook({ init, before, after });
  hook.enable();
  return {
    stop() {
      hook.disable();
      record = undefined;
    },
    take(sinceNs, endNs) {
      const r = record;
      if (!r || r.endNs > endNs) return undefined;
      record = undefined;
      if (r.endNs < sinceNs) return undefined;
      return { type: r.type, origin: r.origin, durationMs: r.durationMs, endNs: r.endNs };
    },
  };
}

/** The scheduling frames of the nearest note (itself, then its ancestors) that shows application code. */
function originOf(note: OriginNote): StackFrame[] {
  let first: StackFrame[] | undefined;
  for (let n: OriginNote | undefined = note; n; n = n.parent) {
    const frames = framesOfCaptured(n.holder);
    const i = frames.findIndex((f) => !isInternalFrame(f) && !f.fileName.startsWith(OWN_DIR));
    const own = i < 0 ? [] : frames.slice(i);
    first ??= own;
    if (own.some(isAppFrame)) return own;
  }
  return first ?? [];
}
