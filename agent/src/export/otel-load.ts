/**
 * Loading loopwatch's own OTLP pipeline without one long block of the app's loop: the SDK and the exporters are some
 * 450 files (docs/performance.md, "Cold start"), required here one package per turn of the loop; the pipeline
 * starts (otel.ts, startOwn) in the turn after the last, its first export one interval from then.
 */
import type { OtelEnvSettings } from './otel-env';
import { LOG_EXPORTERS, METRIC_EXPORTERS } from './otlp-protocol';

/** The packages startOwn requires for these settings, in an order where each brings few of the next one's files. */
export function ownPipelinePackages({ metrics, logs }: OtelEnvSettings): string[] {
  const packages = ['@opentelemetry/api', '@opentelemetry/resources', '@opentelemetry/sdk-metrics'];
  const metricExporter = metrics.enabled ? METRIC_EXPORTERS[metrics.protocol] : undefined;
  const logExporter = logs.enabled ? LOG_EXPORTERS[logs.protocol] : undefined;
  if (metricExporter) packages.push(metricExporter);
  if (logExporter) packages.push('@opentelemetry/sdk-logs', logExporter);
  return packages;
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
 * Requires `packages` one per turn, then runs `done`. Ref'd: a few turns, for the export the app asked for. A package
 * that does not load ends the loading early: `done` requires it again and says why, in its own words (a missing
 * optional exporter, …).
 */
export function requireInTurns(packages: readonly string[], done: () => void): TurnLoad {
  const left = [...packages];
  const held: Array<() => void> = [];
  let next: NodeJS.Immediate | undefined;
  const finish = (): void => {
    done();
    for (const fn of held.splice(0)) fn();
  };
  const turn = (): void => {
    next = undefined;
    const name = left.shift();
    if (name === undefined) return finish();
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require(name);
    } catch {
      left.length = 0;
    }
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
