// Pools: libuv threadpool and every instrumented pool (DB, generic, worker)
// in one schema. Saturation = used / max; pending > 0 at saturation means
// work is queueing.
import { dashboard, Ids, row, sel, timeseries } from './common.ts';

const RI = '$__rate_interval';
const BY = 'pool_kind, pool_name';

export function poolsDashboard() {
  const ids = new Ids();
  return dashboard(
    'loopwatch-pools',
    'loopwatch / Pools',
    'Saturation, queueing and wait times of the libuv threadpool and of DB, generic and worker pools.',
  )
    .withRow(row(ids, 'libuv threadpool'))
    .withPanel(
      timeseries(ids, {
        title: 'libuv threadpool: busy, size, queued',
        description:
          'Busy threads, threadpool size (UV_THREADPOOL_SIZE) and queued tasks of the libuv threadpool (fs, dns.lookup, crypto, zlib), summed over the selected instances.',
        unit: 'short',
        queries: [
          { expr: `sum(loopwatch_pool_used${sel('pool_kind="libuv"')})`, legend: 'busy' },
          { expr: `sum(loopwatch_pool_max${sel('pool_kind="libuv"')})`, legend: 'size' },
          { expr: `sum(loopwatch_pool_pending${sel('pool_kind="libuv"')})`, legend: 'queued' },
        ],
      }),
    )
    .withPanel(
      timeseries(ids, {
        title: 'libuv threadpool: queue wait p99',
        description: 'How long tasks waited for a free libuv thread (p99, by instance).',
        unit: 's',
        queries: [
          {
            expr: `histogram_quantile(0.99, sum by (instance, le) (rate(loopwatch_pool_wait_time_seconds_bucket${sel('pool_kind="libuv"')}[${RI}])))`,
            legend: '{{instance}}',
          },
        ],
      }),
    )
    .withPanel(
      timeseries(ids, {
        title: 'libuv threadpool: in flight by family',
        description:
          'Threadpool operations submitted and not yet completed (running or queued), by family (fs, dns, crypto, zlib), summed over instances: which kind of work fills the pool.',
        unit: 'short',
        queries: [
          { expr: `sum by (loopwatch_threadpool_family) (loopwatch_threadpool_in_flight${sel()})`, legend: '{{loopwatch_threadpool_family}}' },
        ],
      }),
    )
    .withRow(row(ids, 'All pools'))
    .withPanel(
      timeseries(ids, {
        title: 'Saturation (used / max)',
        description: 'Highest per-instance share of slots in use, by pool. 100% with requests pending means the pool is exhausted.',
        unit: 'percentunit',
        queries: [
          {
            expr: `max by (${BY}) (loopwatch_pool_used${sel()} / (loopwatch_pool_max${sel()} > 0))`,
            legend: '{{pool_kind}} {{pool_name}}',
          },
        ],
      }),
    )
    .withPanel(
      timeseries(ids, {
        title: 'Pending requests',
        description: 'Requests waiting for a slot, summed over instances, by pool (> 0 means work is queueing).',
        unit: 'short',
        queries: [{ expr: `sum by (${BY}) (loopwatch_pool_pending${sel()})`, legend: '{{pool_kind}} {{pool_name}}' }],
      }),
    )
    .withPanel(
      timeseries(ids, {
        title: 'Slots in use and idle',
        description: 'Slots checked out and slots open but idle, summed over instances, by pool.',
        unit: 'short',
        queries: [
          { expr: `sum by (${BY}) (loopwatch_pool_used${sel()})`, legend: 'used {{pool_kind}} {{pool_name}}' },
          { expr: `sum by (${BY}) (loopwatch_pool_idle${sel()})`, legend: 'idle {{pool_kind}} {{pool_name}}' },
        ],
      }),
    )
    .withPanel(
      timeseries(ids, {
        title: 'Wait for a slot p99',
        description: 'p99 of the time from asking the pool for a slot to getting one, by pool.',
        unit: 's',
        queries: [
          {
            expr: `histogram_quantile(0.99, sum by (${BY}, le) (rate(loopwatch_pool_wait_time_seconds_bucket${sel()}[${RI}])))`,
            legend: '{{pool_kind}} {{pool_name}}',
          },
        ],
      }),
    )
    .withPanel(
      timeseries(ids, {
        title: 'Slot hold time p99',
        description: 'p99 of how long a slot was held from grant to release (query or task duration), by pool.',
        unit: 's',
        queries: [
          {
            expr: `histogram_quantile(0.99, sum by (${BY}, le) (rate(loopwatch_pool_use_time_seconds_bucket${sel()}[${RI}])))`,
            legend: '{{pool_kind}} {{pool_name}}',
          },
        ],
      }),
    )
    .withPanel(
      timeseries(ids, {
        title: 'Pool errors',
        description: 'Acquire timeouts and errors per second, by pool and error type.',
        unit: 'short',
        queries: [
          {
            expr: `sum by (${BY}, error_type) (rate(loopwatch_pool_errors_total${sel()}[${RI}]))`,
            legend: '{{pool_kind}} {{pool_name}} {{error_type}}',
          },
        ],
      }),
    );
}
