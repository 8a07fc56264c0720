/**
 * The runner-neutral part of loopwatch/test: one agent per test process or worker, the window of the test that is
 * running, and which of the stalls the agent reports fall in it. Windows are cut by heartbeats taken at their edges
 * (the agent's `testing.beat()`), so a block belongs to the test it ran in, whatever the runner did before or after.
 */
import { Problems } from '../config/problems';
import type { LoopwatchAgent } from '../core/agent';
import { isMainThread } from 'node:worker_threads';
import { currentAgent, startAgent } from '../core/start';
import { Diagnostics, writeStderr } from '../runtime/diag';
import type { StallEvent } from '../types';
import { resolveTesting, validBudget, type TestingConfig, type TestingOptions } from './config';
import { BlockingError, blockedMessage, runnerOwn } from './report';

type Hooks = LoopwatchAgent['testing'];
interface Seen {
  readonly event: StallEvent;
  readonly ns: bigint;
}
interface Window {
  readonly fromNs: bigint;
  toNs: bigint | undefined;
}
interface Running {
  readonly name: string;
  readonly fromNs: bigint;
  budgetMs: number;
}
interface State {
  options: TestingOptions;
  config: TestingConfig | undefined;
  /** null: the agent could not start here (said once); the tests run unwatched. */
  hooks: Hooks | null | undefined;
  stop: (() => Promise<void>) | undefined;
  /** The agent was started by this module (not found running: loopwatch/register, the app's own). */
  ownAgent: boolean;
  /** Until the watchdog runs, a block would be measured but not sampled: the first test waits for it. */
  ready: Promise<unknown> | undefined;
  thresholdMs: number;
  seen: Seen[];
  allowed: Window[];
  current: Running | undefined;
}

/** At most this many stalls kept between two test ends (a test that blocks a thousand times fails on its longest). */
const MAX_SEEN = 200;
const MAX_ALLOWED = 200;
// Per realm: a runner that gives each test file its own global (jest) gets an agent per file, stopped with it.
const KEY = Symbol.for('loopwatch.testing.state');
const diag = new Diagnostics();

function state(): State {
  const g = globalThis as { [KEY]?: State };
  return (g[KEY] ??= { options: {}, config: undefined, hooks: undefined, stop: undefined, ownAgent: false, ready: undefined, thresholdMs: 0, seen: [], allowed: [], current: undefined });
}

const now = (): bigint => process.hrtime.bigint();

/** Options in code for this process (before its first test): they win over `LOOPWATCH_TEST_*`. */
export function configure(options: TestingOptions): void {
  const s = state();
  s.options = { ...s.options, ...options };
  if (s.config) s.config = undefined;
  // The agent started when the runner's adapter loaded, with the variables' budget as its threshold: a lower budget
  // needs a lower threshold, so that agent makes way for one started at the first test. A higher one needs nothing
  // (blocks under the budget are left out at each test's end).
  if (s.ownAgent && s.current === undefined && config(s).budgetMs < s.thresholdMs) void shutdown();
}

function config(s: State): TestingConfig {
  if (!s.config) {
    const problems = new Problems();
    s.config = resolveTesting(s.options, process.env, problems);
    for (const p of problems.list) diag.warn(p.line);
  }
  return s.config;
}

function hooks(s: State): Hooks | null {
  if (s.hooks !== undefined) return s.hooks;
  const { budgetMs } = config(s);
  s.hooks = null;
  try {
    // An agent already running here (loopwatch/register, the app's own) is watched by its process's watchdog.
    const startedHere = currentAgent() === undefined;
    // Only what the test needs: no endpoint, no probes, no export, no console lines; the stack of each block.
    const agent = startAgent({ stallThresholdMs: budgetMs, prometheus: false, health: false, otel: false, log: 'off', threadpool: false, attribution: true });
    const running = agent as Partial<LoopwatchAgent>;
    if (!agent.enabled || !running.testing || !running.resolvedConfig) {
      diag.warn('loopwatch/test: the agent is not running in this thread; tests are not checked for blocking');
      return null;
    }
    s.thresholdMs = running.resolvedConfig.stallThresholdMs;
    if (!running.resolvedConfig.attribution) diag.warn('loopwatch/test: attribution is off (LOOPWATCH_ATTRIBUTION); reports carry no stack');
    if (s.thresholdMs > budgetMs) {
      diag.warn(`loopwatch/test: the running agent's stallThresholdMs (${s.thresholdMs}) is above the budget (${budgetMs} ms); blocks shorter than ${s.thresholdMs} ms are not seen`);
    }
    const testing = running.testing;
    testing.observe((event, ns) => {
      if (s.seen.length >= MAX_SEEN) s.seen.shift();
      s.seen.push({ event, ns });
    });
    s.hooks = testing;
    s.ownAgent = startedHere;
    s.stop = () => agent.stop();
    s.ready = agent.ready();
    // A runner's worker thread (vitest --pool=threads, jest workerThreads): the runner's main thread runs no agent,
    // so no watchdog would sample this thread's blocks. It gets its own, which the first test waits for like the
    // main thread's.
    if (startedHere && !isMainThread) ownWatchdog(s, agent, testing);
  } catch (err) {
    diag.error('test', 'could not start the agent; tests are not checked for blocking', err);
  }
  return s.hooks;
}

function ownWatchdog(s: State, agent: { stop(): Promise<void> }, testing: Hooks): void {
  try {
    const dog = testing.ownWatchdog();
    s.ready = dog.listening;
    s.stop = async () => {
      await agent.stop();
      await dog.stop();
    };
  } catch (err) {
    diag.error('test', 'could not start a watchdog for this worker thread; its blocks are reported without a stack', err);
  }
}

/**
 * Starts the agent now, when a runner's adapter loads (before the test files are): its watchdog thread boots while
 * the runner loads and compiles the files, instead of holding up the first test. Never throws.
 */
export function startEarly(): void {
  hooks(state());
}

/** A test (with its before-each hooks) begins: what ran before it is measured now and is not its. */
export async function testStarted(name: string): Promise<void> {
  const s = state();
  const h = hooks(s);
  if (!h) return;
  if (s.ready) {
    await s.ready;
    s.ready = undefined;
  }
  h.beat();
  s.current = { name, fromNs: now(), budgetMs: config(s).budgetMs };
}

/**
 * The test (and its hooks) ended: resolves to the report of its blocks over budget, if any. Waits only for stalls
 * already detected to get their stack (at most the agent's attribution wait), never a fixed sleep.
 */
export async function testEnded(): Promise<string | undefined> {
  const s = state();
  const run = s.current;
  const h = s.hooks;
  if (!run || !h) return undefined;
  h.beat();
  const toNs = now();
  // The agent's timers are unref'd: hold the loop open while a stall waits for its stack (bounded by the agent).
  const hold = setTimeout(() => {}, 5000);
  try {
    await h.settled();
  } finally {
    clearTimeout(hold);
  }
  if (s.current === run) s.current = undefined;
  const mine = s.seen.filter((x) => x.ns > run.fromNs && x.ns <= toNs);
  const over = mine.filter((x) => x.event.durationMs >= run.budgetMs && !allowedAt(s, x.ns) && !runnerOwn(x.event));
  s.seen = s.seen.filter((x) => x.ns > toNs);
  s.allowed = s.allowed.filter((w) => w.toNs === undefined || w.toNs > toNs);
  if (!over.length) return undefined;
  return blockedMessage(run.name, run.budgetMs, over.map((x) => x.event));
}

function allowedAt(s: State, ns: bigint): boolean {
  return s.allowed.some((w) => ns > w.fromNs && (w.toNs === undefined || ns <= w.toNs));
}

/** Fail mode: the error to fail the test with; warn mode: the report is printed, and nothing to fail with. */
export function warnOrFail(message: string | undefined): BlockingError | undefined {
  if (message === undefined) return undefined;
  if (config(state()).mode === 'warn') {
    writeStderr(message);
    return undefined;
  }
  return new BlockingError(message);
}

/** The adapters' one outcome: fail mode throws the report, warn mode prints it. */
export async function checkTest(): Promise<void> {
  const error = warnOrFail(await testEnded());
  if (error) throw error;
}

/** Makes this realm's state the one another realm's copy of this module reads (jest's sandbox of a test file). */
export function shareState(global: object): void {
  (global as { [KEY]?: State })[KEY] = state();
}

/**
 * Runs `fn` with blocking allowed: a block that ends while it runs (awaited, if it returns a promise) is not
 * charged to the test. Returns what `fn` returns.
 */
export function allowBlocking<T>(fn: () => T): T {
  const s = state();
  const h = s.hooks;
  if (!h) return fn();
  h.beat();
  const w: Window = { fromNs: now(), toNs: undefined };
  if (s.allowed.length >= MAX_ALLOWED) s.allowed.shift();
  s.allowed.push(w);
  const close = (): void => {
    h.beat();
    w.toNs = now();
  };
  let result: T;
  try {
    result = fn();
  } catch (err) {
    close();
    throw err;
  }
  if (result instanceof Promise) {
    return result.then(
      (v: unknown) => (close(), v),
      (err: unknown) => {
        close();
        throw err;
      },
    ) as T;
  }
  close();
  return result;
}

/** This test's own budget (ms), from now to its end; it cannot go below the agent's threshold (the global budget). */
export function blockingBudget(ms: number): void {
  const s = state();
  if (!validBudget(ms) && ms !== Infinity) {
    diag.warn(`blockingBudget(${String(ms)}) is not valid (accepted: a number from 1 to 600000 (ms), or Infinity); the test keeps its budget`);
    return;
  }
  if (!s.current) {
    diag.warn('blockingBudget() was called outside a test; ignored');
    return;
  }
  if (ms < s.thresholdMs) diag.warn(`blockingBudget(${ms}) is below the global budget (${s.thresholdMs} ms), which is the shortest block seen; using ${s.thresholdMs}`);
  s.current.budgetMs = Math.max(ms, s.thresholdMs);
}

/** Stops the agent this module started (a runner that gives each test file its own global, at the file's end). */
export async function shutdown(): Promise<void> {
  const s = state();
  const stop = s.stop;
  s.stop = undefined;
  s.hooks = undefined;
  s.ownAgent = false;
  s.ready = undefined;
  s.current = undefined;
  s.seen = [];
  s.allowed = [];
  if (stop) await stop();
}
