import type { LoopwatchOptions } from '../types';
import { boolSpec, envBool, nonEmptyString, numberSpec, pick, Problems, unknownKeys, using, wordSpec, type Env, type Problem, type Spec } from './problems';
import { resolveHealth, resolveLiveReport, resolveOtel, resolvePrometheus, resolveRoutePatterns, resolveThreadpool } from './sections';
import { DEFAULTS, KNOWN_OPTIONS, type ResolvedConfig } from './schema';

export type { Env, Problem } from './problems';
export type { ResolvedConfig, ResolvedOtel, ResolvedPrometheus } from './schema';

export class ConfigError extends Error {
  readonly code = 'LOOPWATCH_INVALID_OPTION';
  constructor(readonly problems: string[]) {
    super(`invalid configuration: ${problems.join('; ')}`);
    this.name = 'ConfigError';
  }
}

/** Strict mode's error: every problem, as `source=value is not valid (accepted: …)`. */
export function configError(problems: readonly Problem[]): ConfigError {
  return new ConfigError(problems.map((p) => p.text));
}

/**
 * Options given in code win; `LOOPWATCH_*` / `OTEL_*` variables fill what code leaves unset. Never fails: each
 * invalid option or variable is replaced by its default and listed in `problems` (one line each, naming the option,
 * the value, what is accepted and what is used instead), so a typo in one never switches the rest off.
 */
export function resolveConfig(options: LoopwatchOptions = {}, env: Env = process.env): ResolvedConfig {
  const p = new Problems();
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- defends an untyped JavaScript caller
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    p.add('options', options, 'an object', 'using the defaults');
    options = {};
  }
  unknownKeys(p, options, KNOWN_OPTIONS);

  const threshold = pick(p, numberSpec('stallThresholdMs', 'LOOPWATCH_STALL_THRESHOLD_MS', 1, 600_000), options.stallThresholdMs, env, DEFAULTS.stallThresholdMs as number).value;
  // A stall must show as a late heartbeat: beats at most half the threshold apart (1 ms, the timers' resolution, at
  // the least). Unset, the resolution follows the threshold, so any threshold in the range is accepted as it is.
  const halfThreshold = threshold / 2;
  const sampleMax = Math.min(1000, Math.max(1, halfThreshold));
  const sampleDefault = Math.max(1, Math.min(DEFAULTS.sampleIntervalMs, Math.floor(halfThreshold)));
  const sampleSpec = withAccepted(numberSpec('sampleIntervalMs', 'LOOPWATCH_SAMPLE_INTERVAL_MS', 1, sampleMax), `, at most half of stallThresholdMs=${threshold}`);
  const sampleIntervalMs = pick(p, sampleSpec, options.sampleIntervalMs, env, sampleDefault, sampleDefault === DEFAULTS.sampleIntervalMs ? undefined : using(sampleDefault)).value;
  // Adaptive heartbeat: up to half the threshold, a multiple of the resolution, at most 100 ms.
  const maxDefault = Math.max(sampleIntervalMs, Math.min(100, Math.floor(halfThreshold / sampleIntervalMs) * sampleIntervalMs));
  const maxSpec = withAccepted(
    numberSpec('maxSampleIntervalMs', 'LOOPWATCH_MAX_SAMPLE_INTERVAL_MS', sampleIntervalMs, Math.min(1000, Math.max(sampleIntervalMs, halfThreshold))),
    `: from sampleIntervalMs=${sampleIntervalMs} to half of stallThresholdMs=${threshold}, equal to sampleIntervalMs for a fixed heartbeat`,
  );
  const maxSampleIntervalMs = pick(p, maxSpec, options.maxSampleIntervalMs, env, maxDefault, using(maxDefault)).value;

  const log = pick(p, wordSpec('log', 'LOOPWATCH_LOG', ['stderr', 'off'] as const), options.log, env, 'off').value;
  const strict = pick(p, boolSpec('strict', 'LOOPWATCH_STRICT'), options.strict, env, false, 'using the default "off"').value;
  const debug = pick(p, boolSpec('debug', 'LOOPWATCH_DEBUG'), undefined, env, false, 'using the default "off"').value;

  // OTEL_SERVICE_NAME is validated with the other OTEL_* variables (export/otel.ts).
  const serviceName = pick(p, nonEmptyString('serviceName'), options.serviceName, env, env.OTEL_SERVICE_NAME || defaultServiceName()).value;
  const threadName = pick<string | undefined>(p, nonEmptyString('threadName'), options.threadName, env, undefined, 'using the default (the thread\'s name)').value;

  const prometheus = resolvePrometheus(p, options.prometheus, env);
  const otel = resolveOtel(p, options.otel, env, serviceName);
  const threadpool = resolveThreadpool(p, options.threadpool, env);
  const health = resolveHealth(p, options.health, env);

  // attribution: on / off / deep (deep = on + async_hooks timing of every callback).
  const attribution = pick<boolean | 'deep'>(
    p,
    { option: 'attribution', envName: 'LOOPWATCH_ATTRIBUTION', code: (v) => (v === true || v === false || v === 'deep' ? v : undefined), codeAccepted: 'true, false, "deep"', env: (s) => (/^\s*deep\s*$/i.test(s) ? 'deep' : envBool(s)), envAccepted: 'on, off, deep' },
    options.attribution,
    env,
    true,
    'using the default "on"',
  ).value;
  const requestContext = pick<'auto' | boolean>(
    p,
    { option: 'requestContext', envName: 'LOOPWATCH_REQUEST_CONTEXT', code: (v) => (v === true || v === false || v === 'auto' ? v : undefined), codeAccepted: '"auto", true, false', env: (s) => (/^\s*auto\s*$/i.test(s) ? 'auto' : envBool(s)), envAccepted: 'auto, on, off' },
    options.requestContext,
    env,
    'auto',
  ).value;
  const requestScope = pick(p, wordSpec('requestScope', 'LOOPWATCH_REQUEST_SCOPE', ['connection', 'request'] as const), options.requestScope, env, 'connection').value;
  const routePatterns = resolveRoutePatterns(p, options.routePatterns, env);
  const native = pick(p, boolSpec('native', 'LOOPWATCH_NATIVE'), options.native, env, true, 'using the default "on"').value;
  const liveReport = resolveLiveReport(p, options, env);

  return {
    serviceName,
    stallThresholdMs: threshold,
    liveReport,
    sampleIntervalMs,
    maxSampleIntervalMs,
    prometheus,
    otel,
    log,
    threadName,
    threadpool,
    attribution: attribution !== false,
    attributionDeep: attribution === 'deep',
    requestContext,
    requestScope,
    routePatterns,
    native,
    health,
    strict,
    debug,
    problems: p.list,
  };
}

/** A range that depends on other options says which. */
function withAccepted<T>(spec: Spec<T>, more: string): Spec<T> {
  return { ...spec, codeAccepted: spec.codeAccepted + more, envAccepted: (spec.envAccepted ?? spec.codeAccepted) + more };
}

function defaultServiceName(): string {
  const main = process.env.npm_package_name;
  return main && main !== '' ? main : 'unknown_service:node';
}
