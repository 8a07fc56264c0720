import { DisabledAgent, LoopwatchAgent, VERSION } from './core/agent';
import { ConfigError, resolveConfig } from './config/config';
import { Diagnostics } from './runtime/diag';
import type { Agent, LoopwatchOptions } from './types';

export type { Agent, LoopwatchEvents, LoopwatchOptions, OtelOptions, PrometheusOptions, StackFrame, StallEvent } from './types';
export * as metricNames from './metrics/names';
export { prometheusName } from './metrics/prometheus-name';
export { ConfigError, VERSION as version };

// Per thread (each worker has its own globalThis), and shared by every copy of loopwatch loaded in it.
const CURRENT = Symbol.for('loopwatch.agent');
type Holder = { [CURRENT]?: LoopwatchAgent };

/**
 * Starts loopwatch on the calling thread (idempotent: a second call returns the running agent).
 *
 * Invalid options never throw (unless `strict`): loopwatch prints one message naming each bad option and
 * what it accepts, and returns an agent that does nothing, so the app keeps running.
 */
export function start(options: LoopwatchOptions = {}): Agent {
  const holder = globalThis as Holder;
  const running = holder[CURRENT];
  if (running?.enabled) return running;
  const diag = new Diagnostics();
  const config = resolveConfig(options, process.env);
  if (config instanceof ConfigError) {
    // An option in code wins over the environment, for `strict` as for the rest.
    if (typeof options?.strict === 'boolean' ? options.strict : /^(1|true|yes|on)$/i.test(process.env.LOOPWATCH_STRICT ?? '')) throw config;
    diag.warn(`${config.message}. loopwatch is off; the app keeps running.`);
    return new DisabledAgent();
  }
  try {
    const agent = new LoopwatchAgent(config, diag);
    holder[CURRENT] = agent;
    return agent;
  } catch (err) {
    if (config.strict) throw err;
    diag.error('agent', 'could not start; loopwatch is off, the app keeps running', err);
    return new DisabledAgent();
  }
}

/** The running agent of this thread, if any. */
export function getAgent(): Agent | undefined {
  const agent = (globalThis as Holder)[CURRENT];
  return agent?.enabled ? agent : undefined;
}
