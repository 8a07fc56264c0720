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
import { closeOn, num, refreshOn } from './common';

export function isPiscina(p: any): boolean {
  return (
    !!p &&
    typeof p.run === 'function' &&
    'queueSize' in p &&
    'threads' in p &&
    p.options != null &&
    typeof p.options.maxThreads === 'number'
  );
}

export function attachPiscina(watch: PoolWatch<any>, pool: any): void {
  watch.read = (p, out) => {
    const threads = num(p.threads?.length);
    const idle = typeof p.idleThreads === 'number' ? p.idleThreads : NaN;
    out.max = num(p.options.maxThreads);
    out.used = Math.max(0, threads - idle);
    out.idle = idle;
    out.pending = num(p.queueSize);
  };
  watch.wrapMethod(pool, 'run', (orig) =>
    function run(this: any) {
      const r = orig.apply(this, arguments as any);
      watch.refresh();
      return r;
    },
  );
  closeOn(watch, pool, ['close', 'destroy'], 'before');
  let handler: any;
  try {
    handler = pool.options.recordTiming === false ? undefined : pool.histogram?.histogram;
  } catch (e) {
    watch.report(e, 'attach: reading pool.histogram');
    handler = undefined;
  }
  if (handler && typeof handler.recordWaitTime === 'function' && typeof handler.recordRunTime === 'function') {
    // The worker is marked idle right after its run time is recorded: levels
    // are read on the next turn, once for all tasks that finished in this one.
    let later = false;
    const readLater = (): void => {
      later = false;
      watch.refresh();
    };
    watch.wrapMethod(handler, 'recordWaitTime', (orig) =>
      function recordWaitTime(this: any, ms: unknown) {
        const r = orig.apply(this, arguments as any);
        if (typeof ms === 'number') watch.wait(ms / 1000);
        watch.refresh();
        return r;
      },
    );
    watch.wrapMethod(handler, 'recordRunTime', (orig) =>
      function recordRunTime(this: any, ms: unknown) {
        const r = orig.apply(this, arguments as any);
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
