import { VERSION } from './core/version';
import { ConfigError } from './config/config';
import { currentAgent, startAgent } from './core/start';
import type { Agent, LoopwatchOptions } from './types';

export type {
  Agent,
  GraphqlOperation,
  HealthOptions,
  HealthReason,
  HealthSnapshot,
  HealthState,
  LoopwatchEvents,
  LoopwatchOptions,
  MonitorPoolOptions,
  OtelOptions,
  PlainPoolAdapter,
  PoolKind,
  PrometheusOptions,
  StackFrame,
  StallEvent,
  ThreadpoolOptions,
} from './types';
export { shedLoad, type ShedLoadOptions } from './health/shed';
export { loopwatchApollo, loopwatchYoga } from './attribution/graphql';
export * as metricNames from './metrics/names';
export { prometheusName } from './metrics/prometheus-name';
export { ConfigError, VERSION as version };

/**
 * Starts loopwatch on the calling thread. A second call returns the running agent (and says once which of its
 * options differ from the running agent's: those are not applied).
 *
 * Invalid options never throw (unless `strict`): each one yields one line naming it, its value, what is accepted and
 * the default used instead, and the rest of the configuration applies. On a Node older than 22.15 loopwatch says so
 * once and returns an agent that does nothing, so the app keeps running.
 */
export function start(options: LoopwatchOptions = {}): Agent {
  return startAgent(options);
}

/** The running agent of this thread, if any. */
export function getAgent(): Agent | undefined {
  return currentAgent();
}
