import type { ResolvedConfig } from './schema';

/**
 * The options (as a user names them) in which two configurations differ: a second start() names those it could not
 * apply. Objects the app passes (registry, meterProvider) differ when they are not the same object.
 */
export function differingOptions(a: ResolvedConfig, b: ResolvedConfig): string[] {
  const out: string[] = [];
  const cmp = (name: string, x: unknown, y: unknown) => {
    if (x !== y) out.push(name);
  };
  cmp('serviceName', a.serviceName, b.serviceName);
  cmp('stallThresholdMs', a.stallThresholdMs, b.stallThresholdMs);
  cmp('sampleIntervalMs', a.sampleIntervalMs, b.sampleIntervalMs);
  cmp('maxSampleIntervalMs', a.maxSampleIntervalMs, b.maxSampleIntervalMs);
  if (!a.prometheus || !b.prometheus) cmp('prometheus', a.prometheus === false, b.prometheus === false);
  else for (const k of ['port', 'host', 'path', 'registry'] as const) cmp(`prometheus.${k}`, a.prometheus[k], b.prometheus[k]);
  if (!a.otel || !b.otel) cmp('otel', a.otel === false, b.otel === false);
  else for (const k of ['meterProvider', 'otlp', 'stallPush'] as const) cmp(`otel.${k}`, a.otel[k], b.otel[k]);
  cmp('log', a.log, b.log);
  cmp('threadName', a.threadName, b.threadName);
  if (!a.threadpool || !b.threadpool) cmp('threadpool', a.threadpool === false, b.threadpool === false);
  else for (const k of ['probeIntervalMs', 'countOperations'] as const) cmp(`threadpool.${k}`, a.threadpool[k], b.threadpool[k]);
  cmp('attribution', `${a.attribution}${a.attributionDeep}`, `${b.attribution}${b.attributionDeep}`);
  cmp('requestContext', a.requestContext, b.requestContext);
  cmp('requestScope', a.requestScope, b.requestScope);
  cmp('routePatterns', a.routePatterns.join('\n'), b.routePatterns.join('\n'));
  cmp('native', a.native, b.native);
  if (!a.health || !b.health) cmp('health', a.health === false, b.health === false);
  else for (const k of ['livenessTimeoutMs', 'readinessStallMs', 'readinessDelayMs', 'delayWindowMs', 'readinessPoolPending', 'recoveryMs', 'port'] as const) cmp(`health.${k}`, a.health[k], b.health[k]);
  return out;
}
