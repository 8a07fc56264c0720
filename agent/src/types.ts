/** Longer than 300 lines: the package's whole public contract (options, events, agent) in the one file users read. */
import type { EventEmitter } from 'node:events';
import type { MeterProvider } from '@opentelemetry/api';
import type { Registry } from 'prom-client';

/** Options for `start()`. Every field is optional; environment variables fill what code leaves unset. */
export interface LoopwatchOptions {
  /** Service name for telemetry loopwatch sends itself (OTLP). Default: `OTEL_SERVICE_NAME`, else the app's package name. */
  serviceName?: string;
  /** A continuous block of the thread at least this long is a stall. Default 100, 1 to 600000 (ms); env `LOOPWATCH_STALL_THRESHOLD_MS`. */
  stallThresholdMs?: number;
  /**
   * A stall still running this long is reported by the watchdog thread while it lasts (stderr with `LOOPWATCH_LOG`,
   * the `loopwatch.stall` log record with state `in_progress` over OTLP). Default 1000, 100 to 600000 (ms); env
   * `LOOPWATCH_LIVE_REPORT_AFTER_MS`.
   */
  liveReportAfterMs?: number;
  /** Then again this often while it lasts. Default 5000, 500 to 600000 (ms); env `LOOPWATCH_LIVE_REPORT_EVERY_MS`. */
  liveReportEveryMs?: number;
  /**
   * Delay sampling resolution: each heartbeat's lateness counts as `interval / sampleIntervalMs` samples. Without the
   * native loop meter (see `native`) also the heartbeat's interval while the loop is busy. Default 10 (ms); env
   * `LOOPWATCH_SAMPLE_INTERVAL_MS`. At most half the stall threshold; unset, it follows a threshold under 20 ms (half of
   * it, at least 1 ms).
   */
  sampleIntervalMs?: number;
  /**
   * The heartbeat's longest interval: with the native loop meter the heartbeat always runs at this interval; without
   * it, every `sampleIntervalMs` while the loop is busy, stretching up to this while it is quiet (each timer wake-up
   * costs CPU; delay samples keep their `sampleIntervalMs` weight).
   * Default: half the stall threshold, at most 100 (ms), a multiple of `sampleIntervalMs`; equal to `sampleIntervalMs`
   * for a fixed heartbeat. Env `LOOPWATCH_MAX_SAMPLE_INTERVAL_MS`.
   */
  maxSampleIntervalMs?: number;
  /**
   * Prometheus export. `false` turns the agent's own endpoint off. With `registry`, loopwatch's metrics are added to that
   * prom-client Registry (served by the app's own /metrics) instead of a separate endpoint, unless `port` is also given.
   * The app's /metrics runs on its main thread and cannot answer while it is blocked (a long stall then shows as a
   * failed scrape, not as a stall in progress): give `port` too to keep the watchdog's endpoint, which can.
   */
  prometheus?: false | PrometheusOptions;
  /** OpenTelemetry export through the global MeterProvider (default on). `false` turns it off. */
  otel?: false | OtelOptions;
  /** `'stderr'` prints every stall (dev reporter); `'off'` (default) prints nothing but errors. Env `LOOPWATCH_LOG`. */
  log?: 'stderr' | 'off';
  /** Name of this thread in metrics and stall events. Default `'main'`, or the Worker's `name`, or `worker-<threadId>`. */
  threadName?: string;
  /**
   * libuv threadpool monitoring (pool kind `libuv`), on the main thread. Default on; `false` or env
   * `LOOPWATCH_THREADPOOL=off` turns it off.
   */
  threadpool?: false | ThreadpoolOptions;
  /**
   * Stall attribution: the blocking stack (sampled from the watchdog thread through the inspector while the stall
   * lasts), the request's route and trace, and the requests it delayed. Default on; `false` or env
   * `LOOPWATCH_ATTRIBUTION=off` turns it off (stall events then carry no stack). `'deep'` (env `deep`) also times
   * every callback with async_hooks for the exact resource type and `origin` of each stall; it costs more (see
   * docs/attribution.md).
   */
  attribution?: boolean | 'deep';
  /**
   * Route templates for requests no framework names (plain node:http, a custom router), used when a stall's route is
   * worked out: `/users/:name` (a `:param` segment matches any one non-empty segment) names `/users/alice`, which the
   * built-in heuristics — numbers, UUIDs, hashes, tokens, e-mail addresses become `:id` — would leave as written;
   * `/static/*` matches `/static` and everything under it. The first pattern that matches wins (list specific ones
   * first); matching is case-sensitive, ignores repeated and trailing slashes and compares segments decoded. Express
   * and fastify templates win over these. Env `LOOPWATCH_ROUTE_PATTERNS` (comma-separated). At most 200 patterns.
   */
  routePatterns?: string[];
  /**
   * Whether attribution tracks which HTTP request each callback runs for (an `AsyncLocalStorage` entered per
   * request), which gives stalls their `route`. `'auto'` (default; env `LOOPWATCH_REQUEST_CONTEXT=auto|on|off`): on
   * where `AsyncLocalStorage` is cheap — Node 24, or Node 22 with `--experimental-async-context-frame` — or already
   * paid for (an OpenTelemetry context manager is registered, or `attribution: 'deep'`); off where it runs on
   * `async_hooks` (plain Node 22, Node 24 with `--no-async-context-frame`), since it would run a callback for every
   * promise the app creates (+33 % CPU per request on a 20-`await` handler, measured: docs/attribution.md), with one
   * warning per thread. `true` forces it on; `false` off (stalls keep stack, culprit, victims count and trace id).
   * No effect with `attribution: false`. Worker threads started with `loopwatch/register` read the environment.
   */
  requestContext?: 'auto' | boolean;
  /**
   * How a tracked request's context is kept (env `LOOPWATCH_REQUEST_SCOPE=connection|request`). `'connection'`
   * (default): one `AsyncLocalStorage` frame per HTTP connection, the request read off the connection only when a
   * stall is sampled; past a connection's first request it cannot tell a request's code from work an earlier one
   * left, so such stalls carry no route (`StallEvent.unknownRequest: 'keep-alive'`) unless the parser called the
   * blocking code. `'request'`: a frame per request, entered inside node:http's parser callbacks (handler and body
   * events), so work a request leaves running after its response is named with that request too; its cost and why
   * it is not the default: docs/performance.md run 25. Connections accepted before the agent started get a frame
   * per request either way.
   */
  requestScope?: 'connection' | 'request';
  /**
   * Use the native addon where it loads (Linux builds ship it): each monitored thread pushes a kernel timer one
   * stall threshold ahead on every heartbeat, and the watchdog thread sleeps on those timers, waking only when a
   * heartbeat is overdue instead of about once per threshold to look (≈ 10 wake-ups a second; docs/performance.md);
   * and a loop meter measures each event-loop iteration's busy span in C, so a stall's duration is exact and the
   * heartbeat need not beat every `sampleIntervalMs` while the loop is busy (docs/design.md); and GC pauses are timed
   * from V8's GC callbacks instead of a `gc` PerformanceObserver, so no JavaScript runs per GC. Default true; `false`
   * (env `LOOPWATCH_NATIVE=off`) keeps the pure-JavaScript timers and the observer, as on platforms without the
   * addon.
   */
  native?: boolean;
  /**
   * Health probes answered by the watchdog thread on the agent's endpoint (`/livez`, `/readyz`, beside `/metrics`)
   * and `agent.health()`: liveness fails only when a loop has been blocked continuously for `livenessTimeoutMs`;
   * readiness fails during a shorter stall, a high loop delay or a pool with too many waiters (docs/health.md).
   * `false` turns the probes off.
   */
  health?: false | HealthOptions;
  /**
   * Throw a `ConfigError` listing every invalid option and variable, instead of printing one line for each and using
   * its default (the rest of the configuration applies either way). Default false; env `LOOPWATCH_STRICT`.
   */
  strict?: boolean;
}

export interface HealthOptions {
  /** A loop blocked this long fails `/livez` (503). Default 10000 (ms); env `LOOPWATCH_LIVENESS_TIMEOUT_MS`. */
  livenessTimeoutMs?: number;
  /** A loop blocked this long fails `/readyz`. Default 1000 (ms); env `LOOPWATCH_READINESS_STALL_MS`. */
  readinessStallMs?: number;
  /** A p99 event-loop delay over `delayWindowMs` above this fails `/readyz`; 0: not checked. Default 500 (ms); env `LOOPWATCH_READINESS_DELAY_MS`. */
  readinessDelayMs?: number;
  /** The recent window of that p99: between one and two of these. Default 10000 (ms); env `LOOPWATCH_READINESS_DELAY_WINDOW_MS`. */
  delayWindowMs?: number;
  /** More waiters than this in any monitored pool fails `/readyz`. Default: pools not checked; env `LOOPWATCH_READINESS_POOL_PENDING`. */
  readinessPoolPending?: number;
  /** `/readyz` answers 200 again only after every condition has been clear this long (hysteresis). Default 5000 (ms); env `LOOPWATCH_HEALTH_RECOVERY_MS`. */
  recoveryMs?: number;
  /** Also serve `/livez` `/readyz` on this port (the watchdog's), for probes kept off the metrics port. Default none; env `LOOPWATCH_HEALTH_PORT`. */
  port?: number;
}

/** What `agent.health()`, `/livez` and `/readyz` say about the process (health/evaluate.ts). */
/** `ok`: every loop turns freely; `saturated`: turning, slowly (delay or pool waiters over the limits); `blocked`: a stall is in progress. */
export type HealthState = 'ok' | 'saturated' | 'blocked';

/** Why the process is not ready (absent when ready and not in hysteresis). */
export type HealthReason = 'stall' | 'delay' | 'pool' | 'recovering';

export interface HealthSnapshot {
  /** False once a monitored loop has been continuously blocked for the liveness timeout or longer (`/livez` 503). */
  live: boolean;
  /** False while a stall beyond the readiness threshold, a delay or a pool over its limit, or the recovery hold lasts (`/readyz` 503). */
  ready: boolean;
  state: HealthState;
  /** The thread the state is about (the most blocked one, else the most delayed); absent when every loop is ok. */
  thread?: string;
  /** How long `thread` has been blocked right now (ms), as the watchdog's stall in progress; 0 when not blocked. */
  blockedForMs: number;
  /** p99 event-loop delay of `thread` (the worst thread) over the recent window (ms), when samples exist. */
  delayP99Ms?: number;
  /** The pool whose waiters are over the limit (its exported `pool.name`). */
  pool?: string;
  reason?: HealthReason;
  /**
   * While `thread` is blocked, on the watchdog's probes: the culprit and route its stack samples name so far (the
   * same rule as the stall's final report; `unknown` before the first sample). Not on `agent.health()`.
   */
  culprit?: string;
  route?: string;
}


export interface ThreadpoolOptions {
  /** Period of the queue-wait probe. Default 1000 (ms). */
  probeIntervalMs?: number;
  /** Count in-flight fs/crypto/zlib/dns operations by wrapping those modules' async functions (libuv used/idle/pending, loopwatch.threadpool.*). Default false: it costs +14–21 % CPU per request on a file-serving handler (docs/pools.md). */
  countOperations?: boolean;
}

export type { MonitorPoolOptions, PoolKind, PlainPoolAdapter } from './pools/types';

export interface PrometheusOptions {
  /** Port of the agent's own endpoint (served by a watchdog thread, so it answers during stalls). Default 9464; 0 picks a free port. */
  port?: number;
  /** Default `'0.0.0.0'`. */
  host?: string;
  /** Default `'/metrics'`. */
  path?: string;
  /** An application prom-client Registry to register loopwatch's metrics into. */
  registry?: Registry;
}

export interface OtelOptions {
  /** Use this MeterProvider instead of the global one. */
  meterProvider?: MeterProvider;
  /**
   * Export loopwatch's metrics over OTLP through a MeterProvider of loopwatch's own (never registered globally, so
   * the app's SDK, started before or after, keeps the global providers) when no MeterProvider is registered.
   * Configured by the standard variables: `OTEL_EXPORTER_OTLP[_METRICS]_{ENDPOINT,HEADERS,PROTOCOL,…}`
   * (`http/protobuf` by default, `http/json`, `grpc`), `OTEL_METRIC_EXPORT_INTERVAL`/`_TIMEOUT`,
   * `OTEL_METRICS_EXPORTER` (without `otlp`: no export), `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`.
   * Default: true when `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` is set.
   */
  otlp?: boolean;
  /**
   * OTLP export runs on the main thread and sends nothing while it is blocked. With this on, the watchdog thread
   * pushes `loopwatch.eventloop.stall.in_progress` itself while a thread has been blocked for 1 s (then every 5 s,
   * or every `OTEL_METRIC_EXPORT_INTERVAL` if shorter, and with 0 when the block ends, the agent stops or the process
   * exits), through the same OTLP protocol, `OTEL_EXPORTER_OTLP_*` variables, resource and scope as the main thread's
   * export. Default (env `LOOPWATCH_OTEL_STALL_PUSH=on|off` unset): on where loopwatch's metrics go out over OTLP —
   * its own export, or a MeterProvider with an OTLP exporter among its readers. `true` pushes whenever loopwatch's
   * metrics are bound to a MeterProvider, to the endpoint the `OTEL_*` variables name (default
   * `http://localhost:4318`).
   */
  stallPush?: boolean;
}

/** One frame of the code that was running during a stall. */
export interface StackFrame {
  functionName: string;
  fileName: string;
  lineNumber: number;
  columnNumber: number;
}

/** A GraphQL operation, as the server parsed and validated it (OTel `graphql.operation.name`/`graphql.operation.type`). */
export interface GraphqlOperation {
  /** Absent for an anonymous operation; cut to 100 characters. */
  name?: string;
  type: 'query' | 'mutation' | 'subscription';
}

/**
 * A stall: one continuous block of a thread at or above the stall threshold, as the `stall` event gives it once the
 * block is over (test/agent/types.test.mjs checks these fields against emitted events).
 */
export interface StallEvent {
  /** How long the thread ran without yielding to the event loop. */
  durationMs: number;
  /** When the block began (epoch ms). */
  startTime: number;
  /** `'main'` or the worker thread's name. */
  thread: string;
  /** The JavaScript stack that was running during the block, innermost first; empty when it could not be captured. */
  stack: StackFrame[];
  /**
   * Identifies the stall across its reports: the watchdog's in-progress reports (stderr, the `loopwatch.stall` log
   * record with state `in_progress`) carry the same id as this event and its `ended` log record.
   */
  stallId: string;
  /**
   * How `stack` was obtained: `'sampled'` during the block; `'late'` read only after a call that does not check for
   * interrupts returned (a large `JSON.parse`, a sort, a native call): the stack shows the code that ran next, so no
   * culprit is named; `'none'`: no stack (attribution off, or no sample arrived).
   */
  stackSource: 'sampled' | 'late' | 'none';
  /** First frame in the application's own code, as `fn (file:line)`; absent when no sample named one. */
  culprit?: string;
  /**
   * Share (0..1) of the samples taken during the block that agree with the culprit; 0 when late or none. Absent when
   * the share is not known: the culprit came from the thread's own samples and the watchdog's were late or missing.
   */
  confidence?: number;
  /** Number of stack samples taken during the block (1 for most stalls under ~150 ms); absent without samples. */
  samples?: number;
  /** Stalls sampled more than once: the five most frequent culprits with their share of the samples (0..1), most frequent first. */
  dominantFrames?: { culprit: string; share: number }[];
  /**
   * Late stacks only: the late stack's top two frames outside Node's internals (`fn (file:line)`). The blocking call
   * was made from one of them, or from Node code they called (the stack was read after it returned); neither is named
   * as the culprit.
   */
  blockedWithin?: string[];
  /** HTTP method and route template of the request the block ran for, e.g. `GET /users/:id`. */
  route?: string;
  /**
   * The block ran in an HTTP request's connection but which request is unknown, so no `route` (never a guess):
   * `'keep-alive'` — past the connection's first request, code node:http's parser did not call (after an `await`, in
   * a timer) may be work an earlier request left running (requestScope 'request' names it exactly);
   * `'pipelined'` — requests pipelined on the connection; `'finished'` — no request of the connection in flight.
   */
  unknownRequest?: 'keep-alive' | 'pipelined' | 'finished';
  /**
   * The GraphQL operation the request was executing (with the `loopwatchYoga()`/`loopwatchApollo()` plugin): `type`
   * always, `name` when the operation has one. The route stays the HTTP route (`POST /graphql`).
   */
  graphqlOperation?: GraphqlOperation;
  /** Trace and span of the request the block ran for (OpenTelemetry), when it had one. */
  traceId?: string;
  spanId?: string;
  /** Async resource type whose callback blocked (e.g. `HTTPINCOMINGMESSAGE`, `Timeout`, `PROMISE`). */
  resourceType?: string;
  /** Other in-flight requests that the block delayed, with those that arrived during it; absent when not known. */
  victims?: number;
  /**
   * Deep attribution only (`attribution: 'deep'`): where the callback that blocked was scheduled (the
   * `setTimeout`, `setImmediate`, `await`, `fs.readFile`… call), innermost first.
   */
  origin?: StackFrame[];
  /** Stalls of the same culprit not reported (events and stderr lines are rate-capped) since the last one reported. */
  suppressed?: number;
}

export interface LoopwatchEvents {
  stall: [StallEvent];
}

export interface Agent extends EventEmitter<LoopwatchEvents> {
  /** False when the agent is off (invalid config, or stopped). */
  readonly enabled: boolean;
  /** The thread this agent runs on (`'main'` or the worker's name). */
  readonly threadName: string;
  /** Resolves once exporters are set up; gives the agent endpoint's URL if it listens. Never rejects. */
  ready(): Promise<{ prometheusUrl?: string }>;
  /**
   * Reports a pool's saturation (max, used, idle, pending, wait and use time, errors): a `pg` Pool, `mysql2` pool,
   * `generic-pool`, `tarn`/knex, `undici` Pool/Agent, `piscina`, or `{ max, used, idle?, pending? }` callbacks.
   * Never throws; an unrecognised object is reported on stderr and ignored. `detach()` stops reporting it.
   */
  monitorPool(pool: unknown, options?: import('./pools/types').MonitorPoolOptions): { detach(): void };
  /**
   * The health snapshot `/livez` and `/readyz` answer with, read from shared memory (for apps that serve their own
   * probes). On the main thread its own loop is evidently turning; a blocked worker thread shows. Never throws.
   */
  health(): HealthSnapshot;
  /** Stops sampling and exporting and releases the watchdog thread, timers and listeners. */
  stop(): Promise<void>;
}

/**
 * Stall reports of one culprit that the per-culprit cap held back and that no later report said: their window closed
 * (the cap would let a report through again and none came, or the agent is stopping). JSON-serialisable (a worker
 * thread's go to the main thread's stderr and log record).
 */
export interface HeldBackReports {
  thread: string;
  /** The group they were capped in (stall/limiter.ts groupKey): their culprit, else their route; neither: unknown. */
  culprit?: string;
  route?: string;
  /** How many. */
  suppressed: number;
  /** Epoch ms when the first was held back, and when the window closed. */
  sinceMs: number;
  untilMs: number;
}
