import { THREADPOOL_FAMILIES, type PoolKind, type PoolSink, type SinkFactory, type ThreadpoolFamilySink } from '../pools/types';
import * as N from './names';
import type { SeriesStore } from './store';

/** Label cardinality bound: pools reported per thread. */
const MAX_POOLS = 50;

/**
 * The core's PoolSink: each pool gets its own series in shared memory, read by
 * the watchdog's Prometheus endpoint and the OTel exporter at scrape time.
 * Pool names are unique per thread (a second "pg" becomes "pg#2") so two pools
 * never produce duplicate series.
 */
export function poolSinkFactory(store: SeriesStore, onOverflow: (name: string) => void): SinkFactory {
  const live = new Set<string>();
  const factory: SinkFactory = (rawName: string, kind: PoolKind, options?: { levels?: 'all' | 'max' }): PoolSink => {
    // The name reaches here from monitorPool({ name }) in JavaScript, where it may not be a string.
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-conversion -- defends the untyped caller
    const base = String(rawName).slice(0, 64) || kind;
    let name = base;
    for (let i = 2; live.has(name); i++) name = `${base}#${i}`;
    if (live.size >= MAX_POOLS) {
      onOverflow(name);
      return NOOP_SINK;
    }
    live.add(name);
    const attrs = { [N.ATTR_POOL_NAME]: name, [N.ATTR_POOL_KIND]: kind };
    const max = store.gauge(N.POOL_MAX, attrs);
    // Levels nobody counts are absent, not 0: a pool reading "0 pending" while it queues is a wrong answer.
    const levels = options?.levels !== 'max';
    const used = levels ? store.gauge(N.POOL_USED, attrs) : undefined;
    const idle = levels ? store.gauge(N.POOL_IDLE, attrs) : undefined;
    const pending = levels ? store.gauge(N.POOL_PENDING, attrs) : undefined;
    const wait = store.histogram(N.POOL_WAIT_TIME, attrs);
    const use = store.histogram(N.POOL_USE_TIME, attrs);
    // Created at 0 up front: a counter that exists before its first error lets rate() and alerts see "no errors".
    const errors = new Map<string, ReturnType<SeriesStore['counter']>>(
      (['timeout', 'error'] as const).map((type) => [type, store.counter(N.POOL_ERRORS, { ...attrs, [N.ATTR_POOL_ERROR_TYPE]: type })]),
    );
    let closed = false;
    return {
      update(s) {
        if (closed) return;
        max.set(s.max);
        used?.set(s.used);
        idle?.set(s.idle);
        pending?.set(s.pending);
      },
      observeWait(seconds) {
        if (!closed) wait.observe(seconds);
      },
      observeUse(seconds) {
        if (!closed) use.observe(seconds);
      },
      error(type) {
        if (closed) return;
        let c = errors.get(type);
        if (!c) {
          c = store.counter(N.POOL_ERRORS, { ...attrs, [N.ATTR_POOL_ERROR_TYPE]: type });
          errors.set(type, c);
        }
        c.add(1);
      },
      close() {
        if (closed) return;
        closed = true;
        live.delete(name);
        for (const h of [max, used, idle, pending, wait, use, ...errors.values()]) h?.remove();
      },
    };
  };
  factory.threadpoolFamilies = (): ThreadpoolFamilySink => {
    const inFlight = THREADPOOL_FAMILIES.map((f) => store.gauge(N.THREADPOOL_IN_FLIGHT, { [N.ATTR_THREADPOOL_FAMILY]: f }));
    const submitted = THREADPOOL_FAMILIES.map((f) => store.counter(N.THREADPOOL_OPERATIONS, { [N.ATTR_THREADPOOL_FAMILY]: f }));
    let closed = false;
    return {
      inFlight(i, n) {
        if (!closed) inFlight[i]?.set(n);
      },
      submitted(i) {
        if (!closed) submitted[i]?.add(1);
      },
      close() {
        if (closed) return;
        closed = true;
        for (const h of [...inFlight, ...submitted]) h.remove();
      },
    };
  };
  return factory;
}

const NOOP_SINK: PoolSink = Object.freeze({
  update() {},
  observeWait() {},
  observeUse() {},
  error() {},
  close() {},
});
