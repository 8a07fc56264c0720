/**
 * Shared machinery for pool adapters: a guarded view of the sink (bad numbers
 * and sink failures go to `onError`, never to the application), lifecycle
 * (detach, close, garbage collection of the pool) and deferred level reads.
 * Error reporting is in report.ts, the bounded acquire-time ring in pending-times.ts.
 */
import { reportSafely } from './report';
import type { OnAdapterError, PoolKind, PoolSink, PoolSnapshot } from './types';

function isCount(n: unknown): n is number {
  // Infinity is allowed for `max` of unbounded pools.
  return typeof n === 'number' && !Number.isNaN(n) && n >= 0;
}

type Teardown<T> = (target: T) => void;

/** A method of `O` as a wrapper sees it: called on `O` with whatever arguments the caller gave. */
export type Method<O> = (this: O, ...args: unknown[]) => unknown;

/** Watches whose levels are to be read at the next flush (each at most once: `scheduled`). */
const dirty: PoolWatch<object>[] = [];
let levelFlushing = false;

/**
 * Installs (or removes) deferred level reads for this thread's pools: the
 * caller promises to call `flushPoolLevels()` regularly (the agent does on
 * every heartbeat, 10–50 ms). Turning it off flushes what is pending.
 */
export function setPoolLevelFlushing(on: boolean): void {
  levelFlushing = on;
  if (!on) flushPoolLevels();
}

/** Reads the levels of every pool that changed since the last flush. */
export function flushPoolLevels(): void {
  if (dirty.length === 0) return;
  const list = dirty.splice(0);
  for (const w of list) w.refreshNow();
}

/** Pools → their watch, so a pool is never monitored twice. */
const watched = new WeakMap<object, PoolWatch<object>>();

/**
 * Closes the sink of a pool that was garbage-collected without being closed.
 * The held value (the watch) must not reference the pool strongly: watches
 * keep it in a WeakRef and teardowns receive it as an argument.
 */
const collected = new FinalizationRegistry<PoolWatch<object>>((w) => w.finalize());

/**
 * One monitored pool. Adapters call `update`, `wait`, `use`, `fail` (all
 * guarded), register teardowns and optional sampling timers.
 */
export class PoolWatch<T extends object> {
  private sink: PoolSink | null;
  private readonly target: WeakRef<T>;
  private readonly teardowns: Teardown<T>[] = [];
  private readonly closers: Array<() => void> = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private closed = false;
  private scheduled = false;
  /** Reused for every read: refreshing allocates nothing. */
  private readonly snap: PoolSnapshot = { max: 0, used: 0, idle: 0, pending: 0 };
  /** Last values pushed to the sink (NaN: none yet), so an unchanged read costs no sink call. */
  private lastMax = NaN;
  private lastUsed = NaN;
  private lastIdle = NaN;
  private lastPending = NaN;
  private readonly flush = (): void => {
    this.refreshNow();
  };
  /** Set by the adapter: reads the pool's levels into `out` (a reused object). */
  read: ((pool: T, out: PoolSnapshot) => void) | null = null;

  constructor(
    target: T,
    readonly name: string,
    readonly kind: PoolKind,
    sink: PoolSink,
    private readonly onError: OnAdapterError,
  ) {
    this.sink = sink;
    this.target = new WeakRef(target);
    watched.set(target, this as unknown as PoolWatch<object>);
    collected.register(target, this as unknown as PoolWatch<object>, this);
  }

  static isWatched(target: object): boolean {
    return watched.has(target);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  deref(): T | undefined {
    return this.target.deref();
  }

  report(err: unknown, where: string): void {
    reportSafely(this.onError, err, `pool ${this.kind}:${this.name}: ${where}`);
  }

  /** Calls `fn`, sending any exception to onError. */
  guard(where: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.report(err, where);
    }
  }

  /**
   * The pool's levels may have changed. With a level flusher installed (the
   * agent's heartbeat, see `flushPoolLevels`) they are read at the next beat,
   * once however many acquires and releases happened since, which takes the
   * read off every acquire; without one, now.
   */
  refresh(): void {
    if (!levelFlushing) return this.refreshNow();
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    dirty.push(this as unknown as PoolWatch<object>);
  }

  /** Reads the pool now (via `read`) and pushes the snapshot. */
  refreshNow(): void {
    this.scheduled = false;
    if (this.closed || !this.read) return;
    const pool = this.target.deref();
    if (pool === undefined) return this.finalize();
    const s = this.snap;
    try {
      this.read(pool, s);
    } catch (err) {
      return this.report(err, 'reading pool state');
    }
    this.update(s);
  }

  /**
   * Refresh after the current synchronous code (for libraries that emit an
   * event before they change their counters). Coalesced: at most one pending.
   */
  refreshSoon(): void {
    if (levelFlushing) return this.refresh();
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    queueMicrotask(this.flush);
  }

  update(s: PoolSnapshot): void {
    if (!this.sink) return;
    if (!isCount(s.max) || !isCount(s.used) || !isCount(s.idle) || !isCount(s.pending)) {
      return this.report(
        new TypeError(`invalid pool snapshot ${JSON.stringify(s)}: values must be non-negative numbers`),
        'update',
      );
    }
    if (s.max === this.lastMax && s.used === this.lastUsed && s.idle === this.lastIdle && s.pending === this.lastPending) return;
    this.lastMax = s.max;
    this.lastUsed = s.used;
    this.lastIdle = s.idle;
    this.lastPending = s.pending;
    try {
      this.sink.update(s);
    } catch (err) {
      this.report(err, 'sink.update');
    }
  }

  wait(seconds: number): void {
    if (!this.sink || !(seconds >= 0)) return;
    try {
      this.sink.observeWait(seconds);
    } catch (err) {
      this.report(err, 'sink.observeWait');
    }
  }

  use(seconds: number): void {
    if (!this.sink || !(seconds >= 0)) return;
    try {
      this.sink.observeUse(seconds);
    } catch (err) {
      this.report(err, 'sink.observeUse');
    }
  }

  fail(type: 'timeout' | 'error'): void {
    if (!this.sink) return;
    try {
      this.sink.error(type);
    } catch (err) {
      this.report(err, 'sink.error');
    }
  }

  onTeardown(fn: Teardown<T>): void {
    this.teardowns.push(fn);
  }

  /** Runs at close even if the pool was garbage-collected (for state outside the pool, e.g. channel subscriptions). */
  onClose(fn: () => void): void {
    this.closers.push(fn);
  }

  /**
   * Samples the pool every `ms` on an unref'd timer. The timer holds only the
   * watch (and through it a WeakRef), so it does not keep the pool alive.
   */
  every(ms: number): void {
    const t = setInterval(() => this.refresh(), Math.max(10, ms));
    t.unref();
    this.timers.push(t);
  }

  /**
   * Replaces `target[method]` by `make(original)` as an own property; the
   * teardown restores the previous state if nobody replaced it meanwhile.
   */
  wrapMethod<O extends object>(target: O, method: string | symbol, make: (orig: Method<O>) => Method<O>): void {
    const slots = target as Record<string | symbol, unknown>;
    const orig = slots[method];
    if (typeof orig !== 'function') throw new TypeError(`${String(method)} is not a function`);
    const hadOwn = Object.prototype.hasOwnProperty.call(target, method);
    const wrapper = make(orig as Method<O>);
    slots[method] = wrapper;
    // `target` may be the pool itself or an object it owns: the teardown
    // reaches it through a WeakRef so it does not keep it alive.
    const ref = new WeakRef(slots);
    this.teardowns.push(() => {
      const t = ref.deref();
      if (!t || t[method] !== wrapper) return;
      if (hadOwn) t[method] = orig;
      // A wrapper that cannot be removed (the object was frozen meanwhile) is reported, as a failed `delete` throws.
      else if (!Reflect.deleteProperty(t, method)) throw new TypeError(`cannot remove the wrapper of ${String(method)}`);
    });
  }

  /** The pool was closed by the application: stop reporting, unhook. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    this.timers.length = 0;
    const pool = this.target.deref();
    collected.unregister(this);
    if (pool) {
      watched.delete(pool);
      for (const fn of this.teardowns) this.guard('detach', () => fn(pool));
    }
    this.teardowns.length = 0;
    // The read closure holds the adapter's buffers (use times, a pending-time ring): ~70 KB per tarn pool that
    // would otherwise stay alive as long as anything references this watch.
    this.read = null;
    for (const fn of this.closers) this.guard('close', fn);
    this.closers.length = 0;
    const sink = this.sink;
    this.sink = null;
    if (sink) {
      try {
        sink.close();
      } catch (err) {
        this.report(err, 'sink.close');
      }
    }
  }

  /** The pool was garbage-collected (or found gone by a sampler). */
  finalize(): void {
    this.close();
  }
}
