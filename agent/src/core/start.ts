/** start(): one agent per thread, never throwing into the app unless strict, never silent about what it ignores. */
import { isMainThread } from 'node:worker_threads';
import { differingOptions } from '../config/compare';
import { ConfigError, configError, resolveConfig, type Env } from '../config/config';
import { unsupportedNode } from '../config/node-version';
import { envBool } from '../config/problems';
import { Diagnostics } from '../runtime/diag';
import type { Agent, LoopwatchOptions } from '../types';
import type { LoopwatchAgent } from './agent';
import { DisabledAgent } from './disabled';

// Per thread (each worker has its own globalThis), and shared by every copy of loopwatch loaded in it.
const CURRENT = Symbol.for('loopwatch.agent');
const NODE_WARNED = Symbol.for('loopwatch.node.warned');
type Holder = { [CURRENT]?: LoopwatchAgent; [NODE_WARNED]?: boolean };

const fromEnv = (source: string): boolean => /^(LOOPWATCH|OTEL)_/.test(source);

/** Agents already told about a second start() with other options: said once each. */
const toldDiffering = new WeakSet<object>();

export function currentAgent(): Agent | undefined {
  const agent = (globalThis as Holder)[CURRENT];
  return agent?.enabled ? agent : undefined;
}

/** `env` and `versions` are parameters so that tests can give others than this process's. */
export function startAgent(options: LoopwatchOptions = {}, env: Env = process.env, versions: { readonly node?: string } = process.versions, diag = new Diagnostics()): Agent {
  const holder = globalThis as Holder;
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- defends an untyped JavaScript caller (start(null))
  const strictAsked = typeof options?.strict === 'boolean' ? options.strict : envBool(env.LOOPWATCH_STRICT ?? '') === true;
  const unsupported = unsupportedNode(versions);
  if (unsupported !== undefined) {
    if (strictAsked) throw new ConfigError([unsupported]);
    // Once per process: worker threads preloaded with loopwatch/register would each say it again.
    if (isMainThread && !holder[NODE_WARNED]) diag.warn(unsupported);
    holder[NODE_WARNED] = true;
    return new DisabledAgent();
  }
  const config = resolveConfig(options, env);
  const running = holder[CURRENT];
  if (running?.enabled) {
    if (config.strict && config.problems.length) throw configError(config.problems);
    // The variables' problems were said by the first start(); the options in code are this call's own.
    for (const p of config.problems) if (!fromEnv(p.source)) diag.warn(p.line);
    // A copy of an older loopwatch may hold the running agent: without its configuration there is nothing to compare.
    const before = (running as Partial<LoopwatchAgent>).resolvedConfig;
    // Only what this call asks for: options it leaves out (or derives, like sampleIntervalMs) are not a request.
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- defends an untyped JavaScript caller
    const asked = new Set(options && typeof options === 'object' ? Object.keys(options) : []);
    const differ = before ? differingOptions(before, config).filter((name) => asked.has(name.split('.')[0] ?? name)) : [];
    if (differ.length && !toldDiffering.has(running)) {
      toldDiffering.add(running);
      diag.warn(
        `start() was called again, with options that differ from the running agent's (${differ.join(', ')}); the running agent ` +
          'keeps its own and is returned: stop() it first to start with other options.',
      );
    }
    return running;
  }
  if (config.problems.length) {
    if (config.strict) throw configError(config.problems);
    // Worker threads read the variables the main thread read (loopwatch/register preloads them all): one mistake,
    // one line, said by the main thread; a worker names only the options its own code passed.
    for (const p of config.problems) if (isMainThread || !fromEnv(p.source)) diag.warn(p.line);
  }
  diag.debug = config.debug;
  try {
    // Loaded by the first start(), not by require('loopwatch'): importing the package (for its types, metricNames,
    // shedLoad…) loads the agent's few configuration modules and starts nothing.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { LoopwatchAgent } = require('./agent') as typeof import('./agent');
    // A stopped agent is let go of: the global would otherwise keep it, and all it measured, until the next start().
    const agent: InstanceType<typeof LoopwatchAgent> = new LoopwatchAgent(config, diag, () => {
      if (holder[CURRENT] === agent) Reflect.deleteProperty(holder, CURRENT);
    });
    holder[CURRENT] = agent;
    return agent;
  } catch (err) {
    if (config.strict) throw err;
    diag.error('agent', 'could not start; loopwatch is off, the app keeps running', err);
    return new DisabledAgent();
  }
}
