/**
 * piscina 4/5 worker pool.
 *
 * Relies on (public API): `options.maxThreads`, `threads` (array of Worker),
 * `idleThreads` (piscina ≥ 5: workers with no task running), `queueSize`,
 * `run()`, `close()`, `destroy()`, `drain`/`needsDrain` events. For per-task
 * wait and run time it uses piscina's own measurement: with `recordTiming`
 * (default true) piscina records each task's queue wait (run() → dispatch to
 * a worker) and run time into a histogram handler reachable as the
 * non-enumerable `pool.histogram.histogram`; its `recordWaitTime(ms)` /
 * `recordRunTime(ms)` methods are wrapped on that instance, so each
 * observation is forwarded as it is recorded (semi-internal: if absent, no
 * wait/use time is reported and this is sent to onError once).
 *
 * Units: max = maxThreads; used = threads with a task; idle = threads
 * without; pending = tasks queued for a thread.
 */
import type { PoolWatch } from '../watch';
import { closeOn, fieldsOf, num, refreshOn, type Emitter } from './common';

/** What the adapter reads of a `Piscina` pool. */
export interface Piscina extends Emitter {
  options: { maxThreads: number; recordTiming?: unknown };
  threads?: { length?: unknown } | null;
  idleThreads?: unknown;
  queueSize: unknown;
  /** Semi-internal: `histogram.histogram` is the handler that records each task's wait and run time. */
  histogram?: { histogram?: unknown } | null;
  run(...args: unknown[]): unknown;
}

/** piscina's histogram handler: the two methods wrapped to forward each task's times. */
interface TimingHandler {
  recordWaitTime(ms: unknown): unknown;
  recordRunTime(ms: unknown): unknown;
}

export function isPiscina(p: unknown): p is Piscina {
  const o = fieldsOf(p);
  return (
    o !== null &&
    typeof o.run === 'function' &&
    'queueSize' in o &&
    'threads' in o &&
    typeof fieldsOf(o.options)?.maxThreads === 'number'
  );
}

function isTimingHandler(h: unknown): h is TimingHandler {
  const o = fieldsOf(h);
  return o !== null && typeof o.recordWaitTime === 'function' && typeof o.recordRunTime === 'function';
}

export function attachPiscina(watch: PoolWatch<Piscina>, pool: Piscina): void {
  watch.read = (p, out) => {
    const threads = num(p.threads?.length);
    const idle = typeof p.idleThreads === 'number' ? p.idleThreads : NaN;
    out.max = num(p.options.maxThreads);
    out.used = Math.max(0, threads - idle);
    out.idle = idle;
    out.pending = num(p.queueSize);
  };
  watch.wrapMethod(pool, 'run', (orig) =>
    function run(this: Piscina, ...args: unknown[]) {
      const r = orig.apply(this, args);
      watch.refresh();
      return r;
    },
  );
  closeOn(watch, pool, ['close', 'destroy'], 'before');
  let handler: unknown;
  try {
    handler = pool.options.recordTiming === false ? undefined : pool.histogram?.histogram;
  } catch (e) {
    watch.report(e, 'attach: reading pool.histogram');
    handler = undefined;
  }
  if (isTimingHandler(handler)) {
    // The worker is marked idle right after its run time is recorded: levels
    // are read on the next turn, once for all tasks that finished in this one.
    let later = false;
    const readLater = (): void => {
      later = false;
      watch.refresh();
    };
    watch.wrapMethod(handler, 'recordWaitTime', (orig) =>
      function recordWaitTime(this: TimingHandler, ms: unknown) {
        // eslint-disable-next-line prefer-rest-params -- passes piscina's arguments through as they were (count included); a rest parameter would change this wrapper's length (1)
        const r = Reflect.apply(orig, this, arguments) as unknown;
        if (typeof ms === 'number') watch.wait(ms / 1000);
        watch.refresh();
        return r;
      },
    );
    watch.wrapMethod(handler, 'recordRunTime', (orig) =>
      function recordRunTime(this: TimingHandler, ms: unknown) {
        // eslint-disable-next-line prefer-rest-params -- passes piscina's arguments through as they were (count included); a rest parameter would change this wrapper's length (1)
        const r = Reflect.apply(orig, this, arguments) as unknown;
        if (typeof ms === 'number') watch.use(ms / 1000);
        if (!later) {
          later = true;
          setImmediate(readLater);
        }
        return r;
      },
    );
  } else if (pool.options.recordTiming !== false) {
    watch.report(new Error('piscina histogram handler not found: no wait/use time for this pool'), 'attach');
  }
  refreshOn(watch, pool, ['drain', 'needsDrain', 'workerCreate', 'workerDestroy']);
  watch.refresh();
}
