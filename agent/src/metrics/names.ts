/**
 * Longer than 300 lines: one flat list of every metric and attribute name, the schema's single source (split, it
 * would be looked for in two places).
 *
 * Every metric loopwatch emits, named once. The OpenTelemetry name is the
 * source of truth; the Prometheus name is derived with the OpenTelemetry
 * Collector's translation rules (see `prometheusName`), so dashboards and
 * alerts written against the direct scrape also work behind an OTLP → Collector
 * pipeline. docs/metrics.md is generated from, and tested against, this table.
 */

export const EVENTLOOP_DELAY_MIN = 'nodejs.eventloop.delay.min';
export const EVENTLOOP_DELAY_MAX = 'nodejs.eventloop.delay.max';
export const EVENTLOOP_DELAY_MEAN = 'nodejs.eventloop.delay.mean';
export const EVENTLOOP_DELAY_STDDEV = 'nodejs.eventloop.delay.stddev';
export const EVENTLOOP_DELAY_P50 = 'nodejs.eventloop.delay.p50';
export const EVENTLOOP_DELAY_P90 = 'nodejs.eventloop.delay.p90';
export const EVENTLOOP_DELAY_P99 = 'nodejs.eventloop.delay.p99';
export const EVENTLOOP_UTILIZATION = 'nodejs.eventloop.utilization';
export const EVENTLOOP_TIME = 'nodejs.eventloop.time';
export const GC_DURATION = 'v8js.gc.duration';
export const LOOPWATCH_EVENTLOOP_DELAY = 'loopwatch.eventloop.delay';
export const LOOPWATCH_STALL_DURATION = 'loopwatch.eventloop.stall.duration';
export const LOOPWATCH_STALL_TIME = 'loopwatch.eventloop.stall';
export const LOOPWATCH_STALL_IN_PROGRESS = 'loopwatch.eventloop.stall.in_progress';
export const LOOPWATCH_AGENT_ERRORS = 'loopwatch.agent.errors';
export const LOOPWATCH_AGENT_CPU_TIME = 'loopwatch.agent.cpu.time';
export const LOOPWATCH_WATCHDOG_RESTARTS = 'loopwatch.watchdog.restarts';
export const LOOPWATCH_ROUTE_FAILURES = 'loopwatch.attribution.route.failures';
export const LOOPWATCH_ROUTES_FOLDED = 'loopwatch.attribution.routes.folded';
export const LOOPWATCH_GRAPHQL_OPERATIONS_FOLDED = 'loopwatch.attribution.graphql.operations.folded';
export const LOOPWATCH_STALL_CULPRIT_TIME = 'loopwatch.eventloop.stall.culprit.time';
export const LOOPWATCH_STALL_CULPRIT_COUNT = 'loopwatch.eventloop.stall.culprit.count';
export const LOOPWATCH_STALL_REPORTS_SUPPRESSED = 'loopwatch.stall.reports.suppressed';

// Pool metrics (one schema for libuv, DB, generic and worker pools).
export const POOL_MAX = 'loopwatch.pool.max';
export const POOL_USED = 'loopwatch.pool.used';
export const POOL_IDLE = 'loopwatch.pool.idle';
export const POOL_PENDING = 'loopwatch.pool.pending';
export const POOL_WAIT_TIME = 'loopwatch.pool.wait_time';
export const POOL_USE_TIME = 'loopwatch.pool.use_time';
export const POOL_ERRORS = 'loopwatch.pool.errors';
// libuv threadpool breakdown by operation family (fs, crypto, zlib, dns).
export const THREADPOOL_IN_FLIGHT = 'loopwatch.threadpool.in_flight';
export const THREADPOOL_OPERATIONS = 'loopwatch.threadpool.operations';

// Attribute keys.
export const ATTR_THREAD_NAME = 'thread.name';
export const ATTR_EVENTLOOP_STATE = 'nodejs.eventloop.state';
export const ATTR_GC_TYPE = 'v8js.gc.type';
export const ATTR_COMPONENT = 'loopwatch.component';
export const ATTR_CPU_MODE = 'cpu.mode';
export const ATTR_CULPRIT = 'loopwatch.culprit';
/** Stall log records and span events: how the stack was obtained (`sampled`, `late`, `none`), and the culprit's share of samples. */
export const ATTR_STACK_SOURCE = 'loopwatch.stall.stack_source';
export const ATTR_CONFIDENCE = 'loopwatch.stall.confidence';
/** Late stacks only: the two frames the blocking call was made from, `fn (file:line)`, joined by ` | `. */
export const ATTR_BLOCKED_WITHIN = 'loopwatch.stall.blocked_within';
export const ATTR_HTTP_ROUTE = 'http.route';
/**
 * OTel semantic conventions for GraphQL, with the loopwatchYoga()/loopwatchApollo() plugin: on stall log records, and
 * on the culprit counters (the name bounded per thread, the rest `other`).
 */
export const ATTR_GRAPHQL_OPERATION_NAME = 'graphql.operation.name';
export const ATTR_GRAPHQL_OPERATION_TYPE = 'graphql.operation.type';
/**
 * On `loopwatch.stall` span events: the stalled request's route and GraphQL operation. Not `http.route` or
 * `graphql.operation.*`: on a victim's span those would read as the victim's own.
 */
export const ATTR_STALL_ROUTE = 'loopwatch.stall.route';
export const ATTR_STALL_GRAPHQL_OPERATION_NAME = 'loopwatch.stall.graphql.operation.name';
export const ATTR_STALL_GRAPHQL_OPERATION_TYPE = 'loopwatch.stall.graphql.operation.type';
export const ATTR_POOL_NAME = 'pool.name';
export const ATTR_POOL_KIND = 'pool.kind';
export const ATTR_POOL_ERROR_TYPE = 'error.type';
export const ATTR_THREADPOOL_FAMILY = 'loopwatch.threadpool.family';
export const ATTR_REASON = 'reason';
/** `reason` of a stall report held back by the per-culprit cap on events and stderr lines (stall/limiter.ts). */
export const SUPPRESSED_CULPRIT_RATE = 'culprit_rate';

export type InstrumentKind = 'gauge' | 'counter' | 'histogram';

export interface MetricDefinition {
  /** OpenTelemetry instrument name. */
  readonly name: string;
  readonly kind: InstrumentKind;
  /** UCUM unit as given to the OpenTelemetry instrument. */
  readonly unit: string;
  readonly description: string;
  readonly attributes: readonly string[];
  /** Explicit bucket boundaries (seconds) for histograms. */
  readonly buckets?: readonly number[];
}

/** Event-loop delay: sub-millisecond jitter up to multi-second freezes. */
export const DELAY_BUCKETS: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];
/** Stall durations start at the lowest sensible threshold. */
export const STALL_BUCKETS: readonly number[] = [0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60];
export const GC_BUCKETS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
export const POOL_TIME_BUCKETS: readonly number[] = [
  0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];

const T = [ATTR_THREAD_NAME] as const;
const P = [ATTR_POOL_NAME, ATTR_POOL_KIND] as const;

const delayGauge = (name: string, stat: string): MetricDefinition => ({
  name,
  kind: 'gauge',
  unit: 's',
  description: `Event loop delay ${stat} since the previous collection (sampling interval subtracted; missed samples of a block are counted).`,
  attributes: T,
});

export const METRICS: readonly MetricDefinition[] = [
  delayGauge(EVENTLOOP_DELAY_MIN, 'minimum'),
  delayGauge(EVENTLOOP_DELAY_MAX, 'maximum'),
  delayGauge(EVENTLOOP_DELAY_MEAN, 'mean'),
  delayGauge(EVENTLOOP_DELAY_STDDEV, 'standard deviation'),
  delayGauge(EVENTLOOP_DELAY_P50, '50th percentile'),
  delayGauge(EVENTLOOP_DELAY_P90, '90th percentile'),
  delayGauge(EVENTLOOP_DELAY_P99, '99th percentile'),
  {
    name: EVENTLOOP_UTILIZATION,
    kind: 'gauge',
    unit: '1',
    description: 'Fraction of time the event loop was busy (not waiting for I/O) since the previous collection.',
    attributes: T,
  },
  {
    name: EVENTLOOP_TIME,
    kind: 'counter',
    unit: 's',
    description: 'Cumulative time the event loop spent active or idle.',
    attributes: [ATTR_EVENTLOOP_STATE, ATTR_THREAD_NAME],
  },
  {
    name: GC_DURATION,
    kind: 'histogram',
    unit: 's',
    description: 'Garbage collection pause durations.',
    attributes: [ATTR_GC_TYPE, ATTR_THREAD_NAME],
    buckets: GC_BUCKETS,
  },
  {
    name: LOOPWATCH_EVENTLOOP_DELAY,
    kind: 'histogram',
    unit: 's',
    description:
      'Event loop delay samples (timer lateness), corrected for coordinated omission: a block weighs as the samples it swallowed.',
    attributes: T,
    buckets: DELAY_BUCKETS,
  },
  {
    name: LOOPWATCH_STALL_DURATION,
    kind: 'histogram',
    unit: 's',
    description: 'Duration of each stall: one continuous block of the thread at or above the stall threshold.',
    attributes: T,
    buckets: STALL_BUCKETS,
  },
  {
    name: LOOPWATCH_STALL_TIME,
    kind: 'counter',
    unit: 's',
    description: 'Total time the thread spent stalled (sum of stall durations). rate() of it is the fraction of time stalled.',
    attributes: T,
  },
  {
    name: LOOPWATCH_STALL_IN_PROGRESS,
    kind: 'gauge',
    unit: 's',
    description:
      'How long the thread has been blocked right now (0 when it is not stalled). Served by the watchdog thread while the blocked thread cannot answer.',
    attributes: T,
  },
  {
    name: LOOPWATCH_STALL_CULPRIT_TIME,
    kind: 'counter',
    unit: 's',
    description:
      'Time stalled, by culprit (first frame of application code, `fn (file:line)`; on a stack with only library frames, the package entry the app called, `fn (package)`; `unknown` when none or read late), route and GraphQL operation ' +
      '(`graphql.operation.type` and `.name`, with the loopwatchYoga()/loopwatchApollo() plugin; absent outside GraphQL, the name absent for an anonymous operation). ' +
      'At most 20 distinct culprits, 20 routes and 20 operation names per thread; the rest are `other` (an operation keeps its type).',
    attributes: [ATTR_CULPRIT, ATTR_HTTP_ROUTE, ATTR_GRAPHQL_OPERATION_TYPE, ATTR_GRAPHQL_OPERATION_NAME, ATTR_THREAD_NAME],
  },
  {
    name: LOOPWATCH_STALL_CULPRIT_COUNT,
    kind: 'counter',
    unit: '{stall}',
    description: 'Number of stalls, by culprit, route and GraphQL operation (same labels and bounds as the time counter). `unknown` when no stack could be taken.',
    attributes: [ATTR_CULPRIT, ATTR_HTTP_ROUTE, ATTR_GRAPHQL_OPERATION_TYPE, ATTR_GRAPHQL_OPERATION_NAME, ATTR_THREAD_NAME],
  },
  {
    name: LOOPWATCH_STALL_REPORTS_SUPPRESSED,
    kind: 'counter',
    unit: '{report}',
    description: "Stall reports (the 'stall' event, its stderr block and log record) held back by the per-culprit rate cap; the stall metrics still count those stalls.",
    attributes: [ATTR_REASON, ATTR_THREAD_NAME],
  },
  {
    name: LOOPWATCH_AGENT_ERRORS,
    kind: 'counter',
    unit: '{error}',
    description: 'Internal errors the agent caught and did not pass to the application, by component.',
    attributes: [ATTR_COMPONENT],
  },
  {
    name: LOOPWATCH_WATCHDOG_RESTARTS,
    kind: 'counter',
    unit: '{restart}',
    description:
      'Times the watchdog thread died (heap cap, exception, terminated from outside) and was restarted. While it is down ' +
      'stalls are not watched and its endpoint does not answer; each death is also counted in `loopwatch.agent.errors{loopwatch.component="watchdog"}`.',
    attributes: [],
  },
  {
    name: LOOPWATCH_ROUTE_FAILURES,
    kind: 'counter',
    unit: '{read}',
    description: "Route reads that failed on a framework's object; each fell back to the next method (another framework, a route pattern, the folded path). Not printed.",
    attributes: [],
  },
  {
    name: LOOPWATCH_ROUTES_FOLDED,
    kind: 'counter',
    unit: '{stall}',
    description:
      'Stalls counted under `http.route="other"` in the culprit metrics because their thread had already seen 20 distinct routes ' +
      '(the per-thread route budget); > 0 means routes are missing from the table (set `LOOPWATCH_ROUTE_PATTERNS`).',
    attributes: [ATTR_THREAD_NAME],
  },
  {
    name: LOOPWATCH_GRAPHQL_OPERATIONS_FOLDED,
    kind: 'counter',
    unit: '{stall}',
    description:
      'Stalls counted under `graphql.operation.name="other"` in the culprit metrics because their thread had already seen 20 distinct named ' +
      'GraphQL operations (type and name); > 0 means operations are missing from the table. Created at the first fold.',
    attributes: [ATTR_THREAD_NAME],
  },
  {
    name: LOOPWATCH_AGENT_CPU_TIME,
    kind: 'counter',
    unit: 's',
    description:
      "CPU time of loopwatch's watchdog thread (metrics endpoint, stall watch, attribution sampling), by cpu.mode (user, system); " +
      'the heartbeat and request bookkeeping on monitored threads are not included.',
    attributes: [ATTR_CPU_MODE],
  },
  {
    name: POOL_MAX,
    kind: 'gauge',
    unit: '{slot}',
    description: 'Maximum size of the pool (connections, threads or workers).',
    attributes: P,
  },
  {
    name: POOL_USED,
    kind: 'gauge',
    unit: '{slot}',
    description: 'Slots checked out / busy right now.',
    attributes: P,
  },
  {
    name: POOL_IDLE,
    kind: 'gauge',
    unit: '{slot}',
    description: 'Slots open and idle right now.',
    attributes: P,
  },
  {
    name: POOL_PENDING,
    kind: 'gauge',
    unit: '{request}',
    description: 'Requests waiting for a slot right now (> 0 means work is queueing).',
    attributes: P,
  },
  {
    name: POOL_WAIT_TIME,
    kind: 'histogram',
    unit: 's',
    description: 'Time from asking the pool for a slot to getting one.',
    attributes: P,
    buckets: POOL_TIME_BUCKETS,
  },
  {
    name: POOL_USE_TIME,
    kind: 'histogram',
    unit: 's',
    description: 'Time a slot was held, from grant to release.',
    attributes: P,
    buckets: POOL_TIME_BUCKETS,
  },
  {
    name: POOL_ERRORS,
    kind: 'counter',
    unit: '{error}',
    description: 'Acquire timeouts and errors of the pool, by error.type (timeout, error).',
    attributes: [ATTR_POOL_NAME, ATTR_POOL_KIND, ATTR_POOL_ERROR_TYPE],
  },
  {
    name: THREADPOOL_IN_FLIGHT,
    kind: 'gauge',
    unit: '{operation}',
    description:
      'libuv threadpool operations submitted through the counted fs, crypto, zlib and dns functions and not yet completed (running or queued), by family. Their sum is loopwatch.pool.used + loopwatch.pool.pending of pool.name=libuv.',
    attributes: [ATTR_THREADPOOL_FAMILY],
  },
  {
    name: THREADPOOL_OPERATIONS,
    kind: 'counter',
    unit: '{operation}',
    description: 'libuv threadpool operations submitted through the counted fs, crypto, zlib and dns functions, by family.',
    attributes: [ATTR_THREADPOOL_FAMILY],
  },
];

export function metricDefinition(name: string): MetricDefinition {
  const def = METRICS.find((m) => m.name === name);
  if (!def) throw new Error(`loopwatch: unknown metric ${name}`);
  return def;
}
