/** The options that are objects or lists: prometheus, otel, threadpool, routePatterns. Each bad field falls back alone. */
import { isIP } from 'node:net';
import type { MeterProvider } from '@opentelemetry/api';
import type { Registry } from 'prom-client';
import type { LoopwatchOptions } from '../types';
import { boolSpec, envBool, numberSpec, pick, unknownKeys, usingDefault, type Env, type Problems } from './problems';
import { DEFAULTS, KNOWN_HEALTH, KNOWN_OTEL, KNOWN_PROMETHEUS, KNOWN_THREADPOOL, type ResolvedConfig, type ResolvedHealth, type ResolvedOtel, type ResolvedPrometheus } from './schema';

/** An options object, or {} (said once) for anything else but `false` and undefined. */
function section(p: Problems, name: string, opt: unknown, fields: readonly string[]): Record<string, unknown> {
  if (opt === undefined) return {};
  if (opt === null || typeof opt !== 'object' || Array.isArray(opt)) {
    p.add(name, opt, `false or an object { ${fields.join(', ')} }`, 'using the defaults');
    return {};
  }
  unknownKeys(p, opt, fields, `${name}.`);
  return opt as Record<string, unknown>;
}

/** What is used of a prom-client Registry: registerMetric (loopwatch's metrics are added to it). */
const isRegistry = (v: unknown): v is Registry =>
  typeof v === 'object' && v !== null && typeof (v as { registerMetric?: unknown }).registerMetric === 'function';

const PORT_ACCEPTED = 'an integer port from 0 to 65535';
const isPort = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 65535;

/** One label of a host name: letters, digits, hyphens inside (underscores occur in internal names). */
const HOST_NAME = /^(?=.{1,253}\.?$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/i;
const HOST_ACCEPTED = 'an IP address such as 127.0.0.1, 0.0.0.0 or ::1, or a host name such as localhost';

/** Checked at start, so a typo is named here rather than as a getaddrinfo error when the endpoint listens. */
function isHost(v: unknown): v is string {
  return typeof v === 'string' && (isIP(v) !== 0 || (HOST_NAME.test(v) && !/^[\d.]+$/.test(v)));
}

export function resolvePrometheus(p: Problems, opt: LoopwatchOptions['prometheus'], env: Env): ResolvedPrometheus | false {
  if (opt === false) return false;
  const o = section(p, 'prometheus', opt, KNOWN_PROMETHEUS);
  let registry: Registry | undefined;
  if (isRegistry(o.registry)) registry = o.registry;
  else if (o.registry !== undefined) p.add('prometheus.registry', o.registry, 'a prom-client Registry', "ignoring it (loopwatch's own endpoint serves the metrics)");
  // With an app registry, the app's /metrics serves loopwatch's metrics: no second endpoint unless asked for.
  const defaultPort = registry ? undefined : DEFAULTS.port;
  const instead = defaultPort === undefined ? 'using no endpoint of its own (the registry serves the metrics)' : usingDefault(defaultPort);
  let port: number | undefined = defaultPort;
  let portFrom = 'prometheus.port';
  const envPort = env.LOOPWATCH_PROMETHEUS_PORT;
  if (o.port !== undefined) {
    if (isPort(o.port)) port = o.port;
    else p.add('prometheus.port', o.port, PORT_ACCEPTED, instead);
  } else if (envPort !== undefined && envPort !== '') {
    portFrom = 'LOOPWATCH_PROMETHEUS_PORT';
    if (/^\s*off\s*$/i.test(envPort)) {
      if (!registry) return false;
      port = undefined;
    } else {
      // Digits only: Number() would read " " as port 0 (a random port) and "0x2000" as 8192.
      const n = /^\s*\d+\s*$/.test(envPort) ? Number(envPort) : NaN;
      if (isPort(n)) port = n;
      else p.add('LOOPWATCH_PROMETHEUS_PORT', envPort, `${PORT_ACCEPTED}, or off`, instead);
    }
  }
  // An empty variable is unset, as for every other LOOPWATCH_* variable.
  const host = pick(p, { option: 'prometheus.host', envName: 'LOOPWATCH_PROMETHEUS_HOST', code: (v) => (isHost(v) ? v : undefined), codeAccepted: HOST_ACCEPTED, env: (s) => (isHost(s) ? s : undefined) }, o.host, env, DEFAULTS.host as string);
  const hostFrom = o.host === undefined && env.LOOPWATCH_PROMETHEUS_HOST ? 'LOOPWATCH_PROMETHEUS_HOST' : 'prometheus.host';
  // The endpoint matches the request's path without its query string: a path with one could never be scraped.
  const isPath = (v: unknown): v is string => typeof v === 'string' && v.startsWith('/') && !/[?#\s]/.test(v);
  const pathAccepted = 'a path starting with "/", without "?", "#" or spaces';
  const path = pick(p, { option: 'prometheus.path', envName: 'LOOPWATCH_PROMETHEUS_PATH', code: (v) => (isPath(v) ? v : undefined), codeAccepted: pathAccepted, env: (s) => (isPath(s) ? s : undefined) }, o.path, env, DEFAULTS.path as string);
  return { port, host: host.value, path: path.value, registry, portFrom, hostFrom };
}

export function resolveOtel(p: Problems, opt: LoopwatchOptions['otel'], env: Env, serviceName: string): ResolvedOtel | false {
  if (opt === false) return false;
  const o = section(p, 'otel', opt, KNOWN_OTEL);
  let meterProvider = o.meterProvider as MeterProvider | undefined;
  if (meterProvider !== undefined && typeof (meterProvider as MeterProvider | null)?.getMeter !== 'function') {
    p.add('otel.meterProvider', meterProvider, 'an OpenTelemetry MeterProvider', 'using the global MeterProvider');
    meterProvider = undefined;
  }
  // The OTEL_* variables themselves are validated where OTLP export reads them (export/otel.ts).
  const otlpFromEnv = Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT);
  const otlp = pick(p, boolSpec('otel.otlp'), o.otlp, env, otlpFromEnv, `using ${otlpFromEnv} (whether OTEL_EXPORTER_OTLP_ENDPOINT is set)`);
  const stallPush = pick<ResolvedOtel['stallPush']>(p, boolSpec('otel.stallPush', 'LOOPWATCH_OTEL_STALL_PUSH'), o.stallPush, env, 'auto', 'using the default (on where OTLP is in use)');
  return { meterProvider, otlp: otlp.value, stallPush: stallPush.value, serviceName, detectIntervalMs: 1000 };
}

export function resolveThreadpool(p: Problems, opt: LoopwatchOptions['threadpool'], env: Env): ResolvedConfig['threadpool'] {
  if (opt === false) return false;
  // `count`: the threadpool monitor with operation counting (opt-in: docs/pools.md, "Counting operations").
  let countByDefault = false;
  if (opt === undefined) {
    const raw = env.LOOPWATCH_THREADPOOL;
    const counting = raw?.trim().toLowerCase() === 'count';
    const on = raw === undefined || raw === '' || counting ? true : envBool(raw);
    if (on === false) return false;
    if (on === undefined) p.add('LOOPWATCH_THREADPOOL', raw, 'on, count, off', 'using the default "on"');
    countByDefault = counting;
  }
  const o = section(p, 'threadpool', opt, KNOWN_THREADPOOL);
  const probe = pick(p, numberSpec('threadpool.probeIntervalMs', undefined, 10, 60_000), o.probeIntervalMs, env, DEFAULTS.threadpoolProbeIntervalMs as number);
  const count = pick(p, boolSpec('threadpool.countOperations'), o.countOperations, env, countByDefault);
  return { probeIntervalMs: probe.value, countOperations: count.value };
}

/** When the watchdog reports a stall still running (the first report's age, then the repeat interval). */
export function resolveLiveReport(p: Problems, options: Pick<LoopwatchOptions, 'liveReportAfterMs' | 'liveReportEveryMs'>, env: Env): ResolvedConfig['liveReport'] {
  const afterMs = pick(p, numberSpec('liveReportAfterMs', 'LOOPWATCH_LIVE_REPORT_AFTER_MS', 100, 600_000), options.liveReportAfterMs, env, DEFAULTS.liveReportAfterMs as number).value;
  const everyMs = pick(p, numberSpec('liveReportEveryMs', 'LOOPWATCH_LIVE_REPORT_EVERY_MS', 500, 600_000), options.liveReportEveryMs, env, DEFAULTS.liveReportEveryMs as number).value;
  return { afterMs, everyMs };
}

const MAX_ROUTE_PATTERNS = 200;
const MAX_ROUTE_PATTERN_LENGTH = 256;
const PATTERN_ACCEPTED =
  `a path starting with "/", at most ${MAX_ROUTE_PATTERN_LENGTH} characters, no "?", "#", ";", spaces or control characters, ` +
  '":name" for a segment that varies, "*" only as the whole last segment';

function isRoutePattern(p: unknown): p is string {
  return (
    typeof p === 'string' &&
    p.startsWith('/') &&
    p.length <= MAX_ROUTE_PATTERN_LENGTH &&
    // eslint-disable-next-line no-control-regex -- control characters are what this rejects
    !/[?#;\s\u0000-\u001f\u007f]/.test(p) &&
    // A parameter has a name.
    !/\/:(\/|$)/.test(p) &&
    // `*` only as the whole last segment.
    !/\*(?!$)|[^/]\*/.test(p)
  );
}

/** Each bad pattern is dropped alone, the others are used. */
export function resolveRoutePatterns(p: Problems, opt: unknown, env: Env): string[] {
  const fromEnv = opt === undefined && env.LOOPWATCH_ROUTE_PATTERNS ? env.LOOPWATCH_ROUTE_PATTERNS : undefined;
  const source = fromEnv === undefined ? 'routePatterns' : 'LOOPWATCH_ROUTE_PATTERNS';
  const list: unknown = fromEnv === undefined ? opt : fromEnv.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (list === undefined) return [];
  if (!Array.isArray(list)) {
    p.add('routePatterns', list, 'an array of path patterns such as "/users/:name"', 'using none');
    return [];
  }
  const patterns: string[] = [];
  for (let i = 0; i < list.length; i++) {
    const pattern: unknown = list[i];
    if (!isRoutePattern(pattern)) p.add(fromEnv === undefined ? `routePatterns[${i}]` : source, pattern, PATTERN_ACCEPTED, 'ignoring this pattern');
    else patterns.push(pattern);
  }
  if (patterns.length > MAX_ROUTE_PATTERNS) {
    p.add(source, `${patterns.length} patterns`, `at most ${MAX_ROUTE_PATTERNS} patterns`, `using the first ${MAX_ROUTE_PATTERNS}`);
    patterns.length = MAX_ROUTE_PATTERNS;
  }
  return patterns;
}

/** The health probes (docs/health.md): each bad field falls back to its default alone. */
export function resolveHealth(p: Problems, opt: LoopwatchOptions['health'], env: Env): ResolvedHealth | false {
  if (opt === false) return false;
  const o = section(p, 'health', opt, KNOWN_HEALTH);
  const ms = (field: string, envName: string, min: number, fallback: number): number =>
    pick(p, numberSpec(`health.${field}`, envName, min, 3_600_000), o[field], env, fallback).value;
  const livenessTimeoutMs = ms('livenessTimeoutMs', 'LOOPWATCH_LIVENESS_TIMEOUT_MS', 1, DEFAULTS.livenessTimeoutMs);
  const readinessStallMs = ms('readinessStallMs', 'LOOPWATCH_READINESS_STALL_MS', 1, DEFAULTS.readinessStallMs);
  // 0 turns the delay check off.
  const readinessDelayMs = ms('readinessDelayMs', 'LOOPWATCH_READINESS_DELAY_MS', 0, DEFAULTS.readinessDelayMs);
  const delayWindowMs = ms('delayWindowMs', 'LOOPWATCH_READINESS_DELAY_WINDOW_MS', 100, DEFAULTS.delayWindowMs);
  const recoveryMs = ms('recoveryMs', 'LOOPWATCH_HEALTH_RECOVERY_MS', 0, DEFAULTS.recoveryMs);
  const pending = pick<number | undefined>(
    p,
    numberSpec('health.readinessPoolPending', 'LOOPWATCH_READINESS_POOL_PENDING', 0, 1_000_000, ' (waiters)', true),
    o.readinessPoolPending,
    env,
    undefined,
    'using none (pools are not checked)',
  ).value;
  const port = pick<number | undefined>(
    p,
    { option: 'health.port', envName: 'LOOPWATCH_HEALTH_PORT', code: (v) => (isPort(v) ? v : undefined), codeAccepted: PORT_ACCEPTED, env: (s) => (/^\s*\d+\s*$/.test(s) && isPort(Number(s)) ? Number(s) : undefined) },
    o.port,
    env,
    undefined,
    'using none (the probes are on the metrics endpoint only)',
  ).value;
  return { livenessTimeoutMs, readinessStallMs, readinessDelayMs, delayWindowMs, readinessPoolPending: pending, recoveryMs, port };
}
