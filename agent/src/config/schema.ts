/** What the agent runs with once options and variables are resolved, and the defaults. */
import type { MeterProvider } from '@opentelemetry/api';
import type { Registry } from 'prom-client';
import type { Problem } from './problems';

export interface ResolvedPrometheus {
  /** undefined: no own endpoint (registry only). */
  port: number | undefined;
  host: string;
  path: string;
  registry: Registry | undefined;
  /** Where port and host came from (`prometheus.port`, `LOOPWATCH_PROMETHEUS_PORT`, or the default): a listen failure names it. */
  portFrom: string;
  hostFrom: string;
}

export interface ResolvedOtel {
  meterProvider: MeterProvider | undefined;
  otlp: boolean;
  /** Push the stall in progress over OTLP from the watchdog (otlp-push.ts); 'auto': where OTLP is known to be in use. */
  stallPush: 'auto' | boolean;
  serviceName: string;
  detectIntervalMs: number;
}

/** The health probes (health/snapshot.ts HealthLimits, plus the optional probe port). */
export interface ResolvedHealth {
  livenessTimeoutMs: number;
  readinessStallMs: number;
  readinessDelayMs: number;
  delayWindowMs: number;
  readinessPoolPending: number | undefined;
  recoveryMs: number;
  /** A separate probe port besides the metrics endpoint's (undefined: none). */
  port: number | undefined;
}

export interface ResolvedConfig {
  serviceName: string;
  stallThresholdMs: number;
  /** The watchdog's in-progress reports of a stall: the first at this age, then every `everyMs` while it lasts. */
  liveReport: { afterMs: number; everyMs: number };
  sampleIntervalMs: number;
  /** The heartbeat's longest interval (adaptive between sampleIntervalMs and this). */
  maxSampleIntervalMs: number;
  prometheus: ResolvedPrometheus | false;
  otel: ResolvedOtel | false;
  log: 'stderr' | 'off';
  threadName: string | undefined;
  threadpool: { probeIntervalMs: number; countOperations: boolean } | false;
  attribution: boolean;
  /** `attribution: 'deep'`: async_hooks timing of every callback (implies `attribution`). */
  attributionDeep: boolean;
  /** Use the native deadline addon where it loads (see LoopwatchOptions.native). */
  native: boolean;
  /** Request tracking for attribution: 'auto' decides per thread (see LoopwatchOptions.requestContext). */
  requestContext: 'auto' | boolean;
  /** How a tracked request's context is kept (see LoopwatchOptions.requestScope). */
  requestScope: 'connection' | 'request';
  /** Route templates for paths no framework names (see LoopwatchOptions.routePatterns). */
  routePatterns: string[];
  /** `/livez` `/readyz` and `agent.health()` (false: `health: false`, no probes on the endpoint; health() says ok). */
  health: ResolvedHealth | false;
  strict: boolean;
  /** LOOPWATCH_DEBUG: diagnostics print the stack of the errors they report. */
  debug: boolean;
  /** Every invalid option or variable, each replaced by its default: one line each (strict mode throws them). */
  problems: readonly Problem[];
}

export const DEFAULTS = {
  stallThresholdMs: 100,
  sampleIntervalMs: 10,
  port: 9464,
  host: '0.0.0.0',
  path: '/metrics',
  threadpoolProbeIntervalMs: 1000,
  liveReportAfterMs: 1000,
  liveReportEveryMs: 5000,
  /** docs/health.md, "Choosing the timeouts". */
  livenessTimeoutMs: 10_000,
  readinessStallMs: 1000,
  readinessDelayMs: 500,
  delayWindowMs: 10_000,
  recoveryMs: 5000,
} as const;

export const KNOWN_OPTIONS = [
  'serviceName',
  'stallThresholdMs',
  'liveReportAfterMs',
  'liveReportEveryMs',
  'sampleIntervalMs',
  'maxSampleIntervalMs',
  'prometheus',
  'otel',
  'log',
  'threadName',
  'threadpool',
  'attribution',
  'requestContext',
  'requestScope',
  'routePatterns',
  'native',
  'health',
  'strict',
] as const;
export const KNOWN_HEALTH = ['livenessTimeoutMs', 'readinessStallMs', 'readinessDelayMs', 'delayWindowMs', 'readinessPoolPending', 'recoveryMs', 'port'] as const;
export const KNOWN_THREADPOOL = ['probeIntervalMs', 'countOperations'] as const;
export const KNOWN_PROMETHEUS = ['port', 'host', 'path', 'registry'] as const;
export const KNOWN_OTEL = ['meterProvider', 'otlp', 'stallPush'] as const;

/** The oldest Node the agent runs on (package.json "engines"). */
export const MIN_NODE = [22, 15, 0] as const;
