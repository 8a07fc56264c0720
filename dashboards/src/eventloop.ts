// Event-loop overview: is the loop late, busy, stalled right now, and is GC
// to blame? Fleet percentiles come from summed histogram buckets (valid
// across instances), never from averaging per-process percentiles.
import { dashboard, Ids, row, sel, stat, timeseries } from './common.ts';

const RI = '$__rate_interval';
const delayQ = (q: number, by = 'le') =>
  `histogram_quantile(${q}, sum by (${by}) (rate(loopwatch_eventloop_delay_seconds_bucket${sel('thread_name="main"')}[${RI}])))`;

export function eventLoopDashboard() {
  const ids = new Ids();
  return dashboard(
    'loopwatch-eventloop',
    'loopwatch / Event loop',
    'Event-loop delay, utilization, stalls and GC pauses of Node.js services instrumented with loopwatch.',
  )
    .withRow(row(ids, 'Right now'))
    .withPanel(
      stat(ids, {
        title: 'Stall in progress (longest)',
        description:
          'How long the most blocked main thread among the selected instances has been blocked right now (0 = none). Served by the watchdog thread, so it updates during the stall.',
        unit: 's',
        queries: [{ expr: `max(loopwatch_eventloop_stall_in_progress_seconds${sel('thread_name="main"')})`, legend: 'blocked now' }],
      }),
    )
    .withPanel(
      stat(ids, {
        title: 'Fleet p99 delay',
        description: '99th percentile event-loop delay of all selected main threads together, from the delay histogram.',
        unit: 's',
        queries: [{ expr: delayQ(0.99), legend: 'p99' }],
      }),
    )
    .withPanel(
      stat(ids, {
        title: 'Fraction of time stalled',
        description: 'Share of wall time the selected main threads spent stalled (SLO: at most 1%).',
        unit: 'percentunit',
        queries: [
          {
            expr: `avg(rate(loopwatch_eventloop_stall_seconds_total${sel('thread_name="main"')}[${RI}]))`,
            legend: 'stalled',
          },
        ],
      }),
    )
    .withPanel(
      stat(ids, {
        title: 'Stalls per minute',
        description: 'Number of stalls (blocks above the stall threshold) per minute across the selected main threads.',
        unit: 'short',
        queries: [
          { expr: `sum(rate(loopwatch_eventloop_stall_duration_seconds_count${sel('thread_name="main"')}[${RI}])) * 60`, legend: 'stalls/min' },
        ],
      }),
    )
    .withRow(row(ids, 'Delay'))
    .withPanel(
      timeseries(ids, {
        title: 'Event-loop delay: fleet p50 / p99 / max',
        description:
          'How late timers fire on the main thread. p50 and p99 come from the coordinated-omission-corrected histogram summed over instances; max is the largest per-process maximum.',
        unit: 's',
        queries: [
          { expr: delayQ(0.5), legend: 'p50' },
          { expr: delayQ(0.99), legend: 'p99' },
          { expr: `max(nodejs_eventloop_delay_max_seconds${sel('thread_name="main"')})`, legend: 'max' },
        ],
      }),
    )
    .withPanel(
      timeseries(ids, {
        title: 'p99 delay by instance and thread',
        description: 'Per instance and thread (main and workers) 99th percentile event-loop delay, from the histogram.',
        unit: 's',
        queries: [{ expr: histogramByThread(), legend: '{{instance}} {{thread_name}}' }],
      }),
    )
    .withPanel(
      timeseries(ids, {
        title: 'Event-loop utilization',
        description:
          'Fraction of time the main thread was busy running JavaScript rather than waiting for I/O (from the active/idle time counter). Near 100% means no headroom.',
        unit: 'percentunit',
        queries: [
          {
            expr: `sum by (instance) (rate(nodejs_eventloop_time_seconds_total${sel('thread_name="main",nodejs_eventloop_state="active"')}[${RI}])) / sum by (instance) (rate(nodejs_eventloop_time_seconds_total${sel('thread_name="main"')}[${RI}]))`,
            legend: '{{instance}}',
          },
        ],
      }),
    )
    .withPanel(
      timeseries(ids, {
        title: 'Utilization (agent gauge)',
        description: 'Event-loop utilization as reported by the agent for each thread since its previous collection.',
        unit: 'percentunit',
        queries: [{ expr: `max by (instance, thread_name) (nodejs_eventloop_utilization_ratio${sel()})`, legend: '{{instance}} {{thread_name}}' }],
      }),
    )
    .withRow(row(ids, 'Stalls'))
    .withPanel(
      timeseries(ids, {
        title: 'Stalls per minute',
        description: 'Stalls (one continuous block at or above the stall threshold) started per minute, by instance and thread.',
        unit: 'short',
        queries: [
          {
            expr: `sum by (instance, thread_name) (rate(loopwatch_eventloop_stall_duration_seconds_count${sel()}[${RI}])) * 60`,
            legend: '{{instance}} {{thread_name}}',
          },
        ],
      }),
    )
    .withPanel(
      timeseries(ids, {
        title: 'Fraction of time stalled',
        description: 'Share of wall time each thread spent stalled. The stall SLO is at most 1% on the main thread.',
        unit: 'percentunit',
        queries: [
          { expr: `sum by (instance, thread_name) (rate(loopwatch_eventloop_stall_seconds_total${sel()}[${RI}]))`, legend: '{{instance}} {{thread_name}}' },
        ],
      }),
    )
    .withPanel(
      timeseries(ids, {
        title: 'Stall in progress',
        description:
          'How long each thread has been blocked right now, reported by the watchdog while the thread is frozen. A rising line is a stall happening now; a gap (no data) is a dead process.',
        unit: 's',
        queries: [
          { expr: `max by (instance, thread_name) (loopwatch_eventloop_stall_in_progress_seconds${sel()})`, legend: '{{instance}} {{thread_name}}' },
        ],
      }),
    )
    .withPanel(
      timeseries(ids, {
        title: 'Stall duration p99',
        description: 'p99 of stall durations by instance (click an exemplar dot to open the trace of the request that was running).',
        unit: 's',
        queries: [
          {
            expr: `histogram_quantile(0.99, sum by (instance, le) (rate(loopwatch_eventloop_stall_duration_seconds_bucket${sel()}[${RI}])))`,
            legend: '{{instance}}',
            exemplar: true,
          },
        ],
      }),
    )
    .withRow(row(ids, 'Garbage collection'))
    .withPanel(
      timeseries(ids, {
        title: 'GC pause p99 by type',
        description: '99th percentile garbage-collection pause by GC type (major pauses block the event loop).',
        unit: 's',
        queries: [
          {
            expr: `histogram_quantile(0.99, sum by (v8js_gc_type, le) (rate(v8js_gc_duration_seconds_bucket${sel()}[${RI}])))`,
            legend: '{{v8js_gc_type}}',
          },
        ],
      }),
    )
    .withPanel(
      timeseries(ids, {
        title: 'Time in GC',
        description: "Fraction of the main thread's wall time spent in garbage-collection pauses, by instance (worker threads have their own heaps and pauses).",
        unit: 'percentunit',
        queries: [{ expr: `sum by (instance) (rate(v8js_gc_duration_seconds_sum${sel('thread_name="main"')}[${RI}]))`, legend: '{{instance}}' }],
      }),
    )
    .withPanel(
      timeseries(ids, {
        title: 'Agent errors',
        description: 'Internal errors the loopwatch agent caught (and kept away from the application), per second by component.',
        unit: 'short',
        queries: [
          { expr: `sum by (instance, loopwatch_component) (rate(loopwatch_agent_errors_total${sel()}[${RI}]))`, legend: '{{instance}} {{loopwatch_component}}' },
        ],
      }),
    )
    .withPanel(
      timeseries(ids, {
        title: 'Agent CPU (watchdog thread)',
        description:
          "CPU used by loopwatch's watchdog thread (metrics endpoint, stall watch, attribution sampling), as a share of one core, by instance. " +
          'The heartbeat on monitored threads is not included (docs/performance.md).',
        unit: 'percentunit',
        queries: [{ expr: `sum by (instance) (rate(loopwatch_agent_cpu_time_seconds_total${sel()}[${RI}]))`, legend: '{{instance}}' }],
      }),
    );
}

function histogramByThread(): string {
  return `histogram_quantile(0.99, sum by (instance, thread_name, le) (rate(loopwatch_eventloop_delay_seconds_bucket${sel()}[${RI}])))`;
}
