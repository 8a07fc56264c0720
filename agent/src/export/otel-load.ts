/**
 * Loading loopwatch's own OTLP pipeline without one long block of the app's loop, when start() is called from a running
 * loop: the SDK and the exporters are some 450 files (docs/performance.md, "Cold start"), required here one package per
 * turn of the loop; the pipeline starts (otel.ts, startOwn) in the turn after the last, its first export one interval
 * from then.
 */
import { createRequire } from 'node:module';
import type { OtelEnvSettings } from './otel-env';
import { LOG_EXPORTERS, METRIC_EXPORTERS } from './otlp-protocol';

/**
 * A package, and the package whose dependency it is: required from that one's place, so that it is the copy the SDK
 * uses (an app may have others).
 */
export type Step = readonly [name: string, dependencyOf?: string];

/**
 * What startOwn requires for these settings, a package per step in an order where each brings little of the next:
 * the big dependencies apart from the packages that bring them (~25 ms each on the benchmark VM, instead of ~50).
 */
export function ownPipelinePackages({ metrics, logs }: OtelEnvSettings): Step[] {
  const resources = '@opentelemetry/resources';
  const steps: Step[] = [['@opentelemetry/api'], ['@opentelemetry/semantic-conventions', resources], ['@opentelemetry/core', resources]];
  steps.push([resources], ['@opentelemetry/sdk-metrics']);
  const metricExporter = metrics.enabled ? METRIC_EXPORTERS[metrics.protocol] : undefined;
  const logExporter = logs.enabled ? LOG_EXPORTERS[logs.protocol] : undefined;
  if (metricExporter) steps.push(['@opentelemetry/otlp-exporter-base', metricExporter], ['@opentelemetry/otlp-transformer', metricExporter], [metricExporter]);
  if (logExporter) steps.push(['@opentelemetry/api-logs', '@opentelemetry/sdk-logs'], ['@opentelemetry/sdk-logs'], [logExporter]);
  return steps;
}

/** Requires a step's package; false where it does not load from here (startOwn requires it again and says why). */
function preload([name, dependencyOf]: Step): boolean {
  try {
    (dependencyOf === undefined ? require : createRequire(require.resolve(dependencyOf)))(name);
    return true;
  } catch {
    return false;
  }
}

/** Stall log records kept while the pipeline loads (a few turns of the loop, unless the app blocks in each). */
const MAX_HELD = 64;

export interface TurnLoad {
  /** While packages are still to be loaded, keeps `fn` to run right after `done` (true); false once done. */
  hold(fn: () => void): boolean;
  /** Runs `done` now (it requires what is left itself), not in a later turn. */
  finishNow(): void;
}

/**
 * Requires `steps` one per turn, then runs `done`. Ref'd: a few turns, for the export the app asked for. A package
 * that does not load is passed over: `done` requires it again and says why, in its own words (a missing optional
 * exporter, …).
 */
export function requireInTurns(steps: readonly Step[], done: () => void): TurnLoad {
  const left = [...steps];
  const held: Array<() => void> = [];
  let next: NodeJS.Immediate | undefined;
  const finish = (): void => {
    done();
    for (const fn of held.splice(0)) fn();
  };
  const turn = (): void => {
    next = undefined;
    const step = left.shift();
    if (step === undefined) return finish();
    preload(step);
    next = setImmediate(turn);
  };
  next = setImmediate(turn);
  return {
    hold(fn) {
      if (next === undefined) return false;
      if (held.length < MAX_HELD) held.push(fn);
      return true;
    },
    finishNow() {
      if (next === undefined) return;
      clearImmediate(next);
      next = undefined;
      finish();
    },
  };
}
