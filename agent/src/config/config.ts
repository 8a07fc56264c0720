import type { MeterProvider } from '@opentelemetry/api';
import type { Registry } from 'prom-client';
import type { LoopwatchOptions } from '../types';

export interface ResolvedPrometheus {
  /** undefined: no own endpoint (registry only). */
  port: number | undefined;
  host: string;
  path: string;
  registry: Registry | undefined;
}

export interface ResolvedOtel {
  meterProvider: MeterProvider | undefined;
  otlp: boolean;
  /** Push the stall in progress over OTLP from the watchdog (otlp-push.ts); 'auto': where OTLP is known to be in use. */
  stallPush: 'auto' | boolean;
  serviceName: string;
  detectIntervalMs: number;
}

export interface ResolvedConfig {
  serviceName: string;
  stallThresholdMs: number;
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
  strict: boolean;
}

export type Env = Readonly<Record<string, string | undefined>>;

export const DEFAULTS = {
  stallThresholdMs: 100,
  sampleIntervalMs: 10,
  port: 9464,
  host: '0.0.0.0',
  path: '/metrics',
} as const;

const KNOWN_OPTIONS = new Set(['serviceName', 'stallThresholdMs', 'sampleIntervalMs', 'maxSampleIntervalMs', 'prometheus', 'otel', 'log', 'threadName', 'threadpool', 'attribution', 'requestContext', 'requestScope', 'routePatterns', 'native', 'strict']);
const KNOWN_THREADPOOL = new Set(['probeIntervalMs', 'countOperations']);
const KNOWN_PROMETHEUS = new Set(['port', 'host', 'path', 'registry']);
const KNOWN_OTEL = new Set(['meterProvider', 'otlp', 'stallPush']);

export class ConfigError extends Error {
  readonly code = 'LOOPWATCH_INVALID_OPTION';
  constructor(readonly problems: string[]) {
    super(`invalid configuration: ${problems.join('; ')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Options given in code win; `LOOPWATCH_*` / `OTEL_*` variables fill what code
 * leaves unset. Every problem is collected and reported together, each naming
 * the option, the value and what is accepted.
 */
export function resolveConfig(options: LoopwatchOptions = {}, env: Env = process.env): ResolvedConfig | ConfigError {
  const problems: string[] = [];
  if (options === null || typeof options !== 'object') {
    return new ConfigError([`options must be an object, got ${show(options)}`]);
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key)) problems.push(`unknown option "${key}" (accepted: ${[...KNOWN_OPTIONS].join(', ')})`);
  }

  const stallThresholdMs = pickNumber(problems, 'stallThresholdMs', options.stallThresholdMs, 'LOOPWATCH_STALL_THRESHOLD_MS', env, DEFAULTS.stallThresholdMs, 1, 600_000);
  const sampleIntervalMs = pickNumber(problems, 'sampleIntervalMs', options.sampleIntervalMs, 'LOOPWATCH_SAMPLE_INTERVAL_MS', env, DEFAULTS.sampleIntervalMs, 1, 1000);
  if (sampleIntervalMs > stallThresholdMs / 2) {
    problems.push(`sampleIntervalMs ${sampleIntervalMs} must be at most half of stallThresholdMs (${stallThresholdMs}) to measure stalls`);
  }
  // Adaptive heartbeat: up to half the threshold (so a stall always shows as a late beat), at most 100 ms.
  const halfThreshold = stallThresholdMs / 2;
  const defaultMaxInterval = Math.max(sampleIntervalMs, Math.min(100, Math.floor(halfThreshold / sampleIntervalMs) * sampleIntervalMs));
  const maxSampleIntervalMs = pickNumber(
    problems,
    'maxSampleIntervalMs',
    options.maxSampleIntervalMs,
    'LOOPWATCH_MAX_SAMPLE_INTERVAL_MS',
    env,
    defaultMaxInterval,
    1,
    1000,
  );
  if (maxSampleIntervalMs < sampleIntervalMs || maxSampleIntervalMs > Math.max(sampleIntervalMs, halfThreshold)) {
    problems.push(
      `maxSampleIntervalMs ${maxSampleIntervalMs} must be from sampleIntervalMs (${sampleIntervalMs}) to half of stallThresholdMs ` +
        `(${halfThreshold}); set it equal to sampleIntervalMs for a fixed heartbeat`,
    );
  }

  const log = pickEnum(problems, 'log', options.log, 'LOOPWATCH_LOG', env, ['stderr', 'off'] as const, 'off');
  const strict = options.strict ?? parseBool(env.LOOPWATCH_STRICT) ?? false;
  if (typeof strict !== 'boolean') {
    problems.push(options.strict === undefined ? `LOOPWATCH_STRICT must be "true" or "false", got ${show(env.LOOPWATCH_STRICT)}` : `strict must be a boolean, got ${show(strict)}`);
  }

  const serviceName = options.serviceName ?? env.OTEL_SERVICE_NAME ?? defaultServiceName();
  if (typeof serviceName !== 'string' || serviceName === '') problems.push(`serviceName must be a non-empty string, got ${show(serviceName)}`);
  const threadName = options.threadName;
  if (threadName !== undefined && (typeof threadName !== 'string' || threadName === '')) {
    problems.push(`threadName must be a non-empty string, got ${show(threadName)}`);
  }

  const prometheus = resolvePrometheus(problems, options.prometheus, env);
  const otel = resolveOtel(problems, options.otel, env, serviceName);

  const threadpool = resolveThreadpool(problems, options.threadpool, env);
  // attribution: on / off / deep (deep = on + async_hooks timing of every callback).
  const envAttribution = env.LOOPWATCH_ATTRIBUTION;
  const attribution = options.attribution ?? (envAttribution !== undefined && /^deep$/i.test(envAttribution) ? 'deep' : parseBool(envAttribution)) ?? true;
  if (typeof attribution !== 'boolean' && attribution !== 'deep') {
    problems.push(
      options.attribution === undefined
        ? `LOOPWATCH_ATTRIBUTION must be "on", "off" or "deep", got ${show(envAttribution)}`
        : `attribution must be true, false or "deep", got ${show(attribution)}`,
    );
  }

  const envRequestContext = env.LOOPWATCH_REQUEST_CONTEXT;
  const requestContext =
    options.requestContext ?? (envRequestContext !== undefined && /^auto$/i.test(envRequestContext) ? 'auto' : parseBool(envRequestContext)) ?? 'auto';
  if (typeof requestContext !== 'boolean' && requestContext !== 'auto') {
    problems.push(
      options.requestContext === undefined
        ? `LOOPWATCH_REQUEST_CONTEXT must be "auto", "on" or "off", got ${show(envRequestContext)}`
        : `requestContext must be "auto", true or false, got ${show(requestContext)}`,
    );
  }

  const envRequestScope = env.LOOPWATCH_REQUEST_SCOPE;
  const requestScope = options.requestScope ?? (envRequestScope === undefined || envRequestScope === '' ? 'connection' : envRequestScope.trim().toLowerCase());
  if (requestScope !== 'connection' && requestScope !== 'request') {
    problems.push(
      options.requestScope === undefined
        ? `LOOPWATCH_REQUEST_SCOPE must be "connection" or "request", got ${show(envRequestScope)}`
        : `requestScope must be "connection" or "request", got ${show(requestScope)}`,
    );
  }

  const routePatterns = resolveRoutePatterns(problems, options.routePatterns, env);

  const native = options.native ?? parseBool(env.LOOPWATCH_NATIVE) ?? true;
  if (typeof native !== 'boolean') {
    problems.push(
      options.native === undefined ? `LOOPWATCH_NATIVE must be "on" or "off", got ${show(env.LOOPWATCH_NATIVE)}` : `native must be a boolean, got ${show(native)}`,
    );
  }

  if (problems.length) return new ConfigError(problems);
  return {
    serviceName,
    stallThresholdMs,
    sampleIntervalMs,
    maxSampleIntervalMs,
    prometheus,
    otel,
    log,
    threadName,
    threadpool,
    attribution: attribution === true || attribution === 'deep',
    attributionDeep: attribution === 'deep',
    requestContext: requestContext as 'auto' | boolean,
    requestScope: requestScope as 'connection' | 'request',
    routePatterns,
    native: native === true,
    strict: strict === true,
  };
}

const MAX_ROUTE_PATTERNS = 200;
const MAX_ROUTE_PATTERN_LENGTH = 256;

function resolveRoutePatterns(problems: string[], opt: unknown, env: Env): string[] {
  const fromEnv = opt === undefined && env.LOOPWATCH_ROUTE_PATTERNS ? env.LOOPWATCH_ROUTE_PATTERNS : undefined;
  const source = fromEnv === undefined ? 'routePatterns' : 'LOOPWATCH_ROUTE_PATTERNS';
  const list: unknown = fromEnv === undefined ? opt : fromEnv.split(',').map((p) => p.trim()).filter((p) => p !== '');
  if (list === undefined) return [];
  if (!Array.isArray(list)) {
    problems.push(`routePatterns must be an array of path patterns such as "/users/:name", got ${show(list)}`);
    return [];
  }
  if (list.length > MAX_ROUTE_PATTERNS) problems.push(`${source} accepts at most ${MAX_ROUTE_PATTERNS} patterns, got ${list.length}`);
  for (const p of list) {
    const ok =
      typeof p === 'string' &&
      p.startsWith('/') &&
      p.length <= MAX_ROUTE_PATTERN_LENGTH &&
      !/[?#;\s\u0000-\u001f\u007f]/.test(p) &&
      // A parameter has a name.
      !/\/:(\/|$)/.test(p) &&
      // `*` only as the whole last segment.
      !/\*(?!$)|[^/]\*/.test(p);
    if (!ok) {
      problems.push(
        `${source}: ${show(p)} is not a route pattern (a path starting with "/", at most ${MAX_ROUTE_PATTERN_LENGTH} characters, ` +
          'no "?", "#", ";", spaces or control characters, ":name" for a segment that varies, "*" only as the whole last segment)',
      );
    }
  }
  return (list as string[]).slice();
}

function resolveThreadpool(problems: string[], opt: LoopwatchOptions['threadpool'], env: Env): ResolvedConfig['threadpool'] {
  if (opt === false) return false;
  if (opt === undefined) {
    const fromEnv = env.LOOPWATCH_THREADPOOL;
    const on = parseBool(fromEnv);
    if (on === false) return false;
    if (typeof on === 'string') problems.push(`LOOPWATCH_THREADPOOL must be "on" or "off", got ${show(fromEnv)}`);
  } else if (opt === null || typeof opt !== 'object') {
    problems.push(`threadpool must be false or an object { probeIntervalMs, countOperations }, got ${show(opt)}`);
    return false;
  }
  const o = opt ?? {};
  for (const key of Object.keys(o)) {
    if (!KNOWN_THREADPOOL.has(key)) problems.push(`unknown option "threadpool.${key}" (accepted: ${[...KNOWN_THREADPOOL].join(', ')})`);
  }
  const probe = o.probeIntervalMs ?? 1000;
  if (typeof probe !== 'number' || !Number.isFinite(probe) || probe < 10 || probe > 60_000) {
    problems.push(`threadpool.probeIntervalMs must be a number from 10 to 60000 (ms), got ${show(probe)}`);
  }
  const count = o.countOperations ?? false;
  if (typeof count !== 'boolean') problems.push(`threadpool.countOperations must be a boolean, got ${show(count)}`);
  return { probeIntervalMs: probe, countOperations: count === true };
}

function resolvePrometheus(problems: string[], opt: LoopwatchOptions['prometheus'], env: Env): ResolvedPrometheus | false {
  if (opt === false) return false;
  if (opt !== undefined && (opt === null || typeof opt !== 'object')) {
    problems.push(`prometheus must be false or an object { port, host, path, registry }, got ${show(opt)}`);
    return false;
  }
  const o = opt ?? {};
  for (const key of Object.keys(o)) {
    if (!KNOWN_PROMETHEUS.has(key)) problems.push(`unknown option "prometheus.${key}" (accepted: ${[...KNOWN_PROMETHEUS].join(', ')})`);
  }
  const registry = o.registry;
  if (registry !== undefined && (typeof registry !== 'object' || typeof (registry as Registry).registerMetric !== 'function')) {
    problems.push(`prometheus.registry must be a prom-client Registry, got ${show(registry)}`);
  }
  const envPort = env.LOOPWATCH_PROMETHEUS_PORT;
  let port: number | undefined;
  if (o.port !== undefined) {
    port = checkPort(problems, 'prometheus.port', o.port);
  } else if (envPort !== undefined && envPort !== '') {
    if (envPort.trim().toLowerCase() === 'off') {
      if (!registry) return false;
      port = undefined;
    } else {
      // Digits only: Number() would read " " as port 0 (a random port) and "0x2000" as 8192.
      port = checkPort(problems, 'LOOPWATCH_PROMETHEUS_PORT', /^\s*\d+\s*$/.test(envPort) ? Number(envPort) : NaN, envPort);
    }
  } else {
    // With an app registry, the app's /metrics serves loopwatch's metrics: no second endpoint unless asked for.
    port = registry ? undefined : DEFAULTS.port;
  }
  // An empty variable is unset, as for every other LOOPWATCH_* variable; problems name where the value came from.
  const envHost = env.LOOPWATCH_PROMETHEUS_HOST || undefined;
  const host = o.host ?? envHost ?? DEFAULTS.host;
  const hostFrom = o.host === undefined && envHost !== undefined ? 'LOOPWATCH_PROMETHEUS_HOST' : 'prometheus.host';
  if (typeof host !== 'string' || host === '') problems.push(`${hostFrom} must be a non-empty string, got ${show(host)}`);
  const envPath = env.LOOPWATCH_PROMETHEUS_PATH || undefined;
  const path = o.path ?? envPath ?? DEFAULTS.path;
  const pathFrom = o.path === undefined && envPath !== undefined ? 'LOOPWATCH_PROMETHEUS_PATH' : 'prometheus.path';
  // The endpoint matches the request's path without its query string: a path with one could never be scraped.
  if (typeof path !== 'string' || !path.startsWith('/') || /[?#]/.test(path)) {
    problems.push(`${pathFrom} must be a string starting with "/", without "?" or "#", got ${show(path)}`);
  }
  return { port, host, path, registry };
}

function resolveOtel(problems: string[], opt: LoopwatchOptions['otel'], env: Env, serviceName: string): ResolvedOtel | false {
  if (opt === false) return false;
  if (opt !== undefined && (opt === null || typeof opt !== 'object')) {
    problems.push(`otel must be false or an object { meterProvider, otlp, stallPush }, got ${show(opt)}`);
    return false;
  }
  const o = opt ?? {};
  for (const key of Object.keys(o)) {
    if (!KNOWN_OTEL.has(key)) problems.push(`unknown option "otel.${key}" (accepted: ${[...KNOWN_OTEL].join(', ')})`);
  }
  if (o.meterProvider !== undefined && typeof (o.meterProvider as MeterProvider)?.getMeter !== 'function') {
    problems.push(`otel.meterProvider must be an OpenTelemetry MeterProvider, got ${show(o.meterProvider)}`);
  }
  const otlpFromEnv = Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT);
  const otlp = o.otlp ?? otlpFromEnv;
  if (typeof otlp !== 'boolean') problems.push(`otel.otlp must be a boolean, got ${show(otlp)}`);
  let stallPush: ResolvedOtel['stallPush'] = 'auto';
  if (o.stallPush !== undefined) {
    if (typeof o.stallPush === 'boolean') stallPush = o.stallPush;
    else problems.push(`otel.stallPush must be a boolean, got ${show(o.stallPush)}`);
  } else {
    const fromEnv = parseBool(env.LOOPWATCH_OTEL_STALL_PUSH);
    if (typeof fromEnv === 'boolean') stallPush = fromEnv;
    else if (typeof fromEnv === 'string') problems.push(`LOOPWATCH_OTEL_STALL_PUSH must be "on" or "off", got ${show(fromEnv)}`);
  }
  return { meterProvider: o.meterProvider, otlp: otlp === true, stallPush, serviceName, detectIntervalMs: 1000 };
}

function pickNumber(
  problems: string[],
  option: string,
  value: unknown,
  envName: string,
  env: Env,
  fallback: number,
  min: number,
  max: number,
): number {
  let source = option;
  let raw: unknown = value;
  if (raw === undefined && env[envName] !== undefined && env[envName] !== '') {
    source = envName;
    raw = Number(env[envName]);
    if (Number.isNaN(raw)) {
      problems.push(`${envName}=${show(env[envName])} is not a number (accepted: ${min}–${max})`);
      return fallback;
    }
  }
  if (raw === undefined) return fallback;
  if (typeof raw !== 'number' || !Number.isFinite(raw) || raw < min || raw > max) {
    problems.push(`${source} must be a number from ${min} to ${max} (ms), got ${show(source === option ? value : env[envName])}`);
    return fallback;
  }
  return raw;
}

function pickEnum<T extends string>(
  problems: string[],
  option: string,
  value: unknown,
  envName: string,
  env: Env,
  accepted: readonly T[],
  fallback: T,
): T {
  const fromEnv = value === undefined ? env[envName] : undefined;
  // Variables are case-insensitive (LOOPWATCH_LOG=STDERR), options exact.
  const raw = value ?? (fromEnv === '' ? undefined : fromEnv?.toLowerCase());
  if (raw === undefined) return fallback;
  if (!accepted.includes(raw as T)) {
    problems.push(`${value === undefined ? envName : option} must be one of ${accepted.map((a) => `"${a}"`).join(', ')}, got ${show(raw)}`);
    return fallback;
  }
  return raw as T;
}

function checkPort(problems: string[], source: string, value: unknown, shown: unknown = value): number | undefined {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 65535) {
    problems.push(`${source} must be an integer port from 0 to 65535${source.startsWith('LOOPWATCH') ? ' or "off"' : ''}, got ${show(shown)}`);
    return undefined;
  }
  return value;
}

/** true/false for on/off words, undefined when unset, the raw string when it is neither (reported by the caller). */
function parseBool(v: string | undefined): boolean | string | undefined {
  if (v === undefined || v === '') return undefined;
  if (/^(1|true|yes|on)$/i.test(v)) return true;
  if (/^(0|false|no|off)$/i.test(v)) return false;
  return v;
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'function') return 'a function';
  if (v === null) return 'null';
  if (typeof v === 'object') return Array.isArray(v) ? 'an array' : 'an object';
  return String(v);
}

function defaultServiceName(): string {
  const main = process.env.npm_package_name;
  return main && main !== '' ? main : 'unknown_service:node';
}
