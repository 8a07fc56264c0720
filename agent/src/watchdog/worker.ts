/**
 * The watchdog thread. It lives off the application's event loop, so it keeps
 * working while a monitored thread is blocked: it serves Prometheus /metrics
 * (including how long each thread has been blocked right now) and notices
 * stalls as they happen.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Diagnostics } from '../runtime/diag';
import * as N from '../metrics/names';
import { SeriesStore } from '../metrics/store';
import { ThreadState } from '../channel/thread-state';
import type { ChannelMessage } from '../channel/messages';
import { ThreadDirectory } from '../channel/directory';
import { StallWatch } from './stall-watch';
import { DeadlineWatches } from './deadlines';
import { WatchdogAttribution } from '../attribution/stack-sampler';
import { SLOT, type ToMain, type ToWatchdog, type WatchdogData } from './protocol';
import type { StallPush } from '../export/otlp-push';
import type { LiveLogSender } from '../export/otlp-live-log';
import { formatLiveLine, knownSoFar, liveStallOf } from './live-report';
import { stallIdOf } from '../stall/stall-id';
import { HealthEvaluator } from '../health/evaluate';
import type { HealthSnapshot } from '../types';
import type { InProgressStall } from '../export/otel-logs';
import { answerProbe, livenessEvidence } from '../health/probes';

const data = workerData as WatchdogData;
/*
 * What only some configurations use (the endpoint, the probe port, OTLP) is loaded when it is: a watchdog boots for
 * each test file under loopwatch/test, with none of them, and every module is time before its first test.
 */
/* eslint-disable @typescript-eslint/no-require-imports */
const post = (msg: ToMain) => parentPort?.postMessage(msg);
const diag = new Diagnostics();

const directory = new ThreadDirectory((name) => diag.error('watchdog', `more than 64 threads; not reporting thread "${name}"`));
directory.add(data.mainThreadId, data.mainThreadName, new ThreadState(data.mainBuffer));

// The main thread's agent is the watchdog's only correspondent: it relays what worker threads announce on
// the BroadcastChannel, so this thread never receives a BroadcastChannel message (the first one loads
// Node's bundled undici for MessageEvent, ~14 MB of RSS).
const channel = { postMessage: (msg: ChannelMessage): void => parentPort?.postMessage(msg) };
const sessions = new Int32Array(data.sessions);
// Set once the main thread's metrics are bound to an OTLP pipeline (otlp-push.ts).
let push: StallPush | undefined;
// The in-progress `loopwatch.stall` log records, where the main thread exports its logs over OTLP (otlp-live-log.ts).
let liveLog: LiveLogSender | undefined;
parentPort?.on('message', (msg: ChannelMessage | ToWatchdog) => {
  if (msg.type === 'otlp-push') {
    const { otlpInProgressSender, PushOutage, StallPush } = require('../export/otlp-push') as typeof import('../export/otlp-push');
    const { otlpLiveLogSender } = require('../export/otlp-live-log') as typeof import('../export/otlp-live-log');
    // One collector down is one outage line for both pushes; each failed push is counted (loopwatch.agent.errors).
    const outage = new PushOutage(diag, () => errorCounter('otel').add(1));
    push = new StallPush(msg.config, otlpInProgressSender(msg.config, outage), (open) => Atomics.store(sessions, SLOT.PUSH_OPEN, open ? 1 : 0));
    liveLog = otlpLiveLogSender(msg.config, diag, outage);
    return;
  }
  if (msg.type === 'close-push') {
    // The agent is stopping or the process exiting (the main thread may be waiting on this, briefly).
    const ack = (): void => {
      Atomics.add(sessions, SLOT.PUSH_CLOSED, 1);
      Atomics.notify(sessions, SLOT.PUSH_CLOSED);
    };
    Promise.all([push?.close(), liveLog?.close()]).then(ack, (err: unknown) => {
      diag.error('otel', 'could not close the stall-in-progress push', err);
      ack();
    });
    return;
  }
  if (msg.type === 'disconnect-sessions') {
    try {
      attribution?.disconnectAll();
    } catch (err) {
      diag.error('attribution', 'could not disconnect the inspector sessions', err);
    }
    // The main thread waits on this (briefly) in its 'exit' handler.
    Atomics.add(sessions, SLOT.DISCONNECTED, 1);
    Atomics.notify(sessions, SLOT.DISCONNECTED);
    return;
  }
  try {
    directory.apply(msg);
    // A new thread is looked at now (its deadline watched, or its first due time set), a gone one released.
    if (msg.type === 'thread' || msg.type === 'thread-gone') {
      clearTimeout(timer);
      tick();
    }
  } catch (err) {
    diag.error('watchdog', 'bad channel message', err);
  }
});
const store = new SeriesStore('watchdog', directory.registry, (msg) => channel.postMessage({ type: 'series', ...msg }));
const errorCounters = new Map<string, { add(v: number): void }>();
const errorCounter = (component: string): { add(v: number): void } => {
  let c = errorCounters.get(component);
  if (!c) {
    c = store.counter(N.LOOPWATCH_AGENT_ERRORS, { [N.ATTR_COMPONENT]: component });
    errorCounters.set(component, c);
  }
  return c;
};
diag.countErrorsWith((component) => errorCounter(component).add(1));
// The watchdog's own CPU time, so its cost is visible in production (updated on each poll and before each scrape).
const threadCpu = (process as { threadCpuUsage?: () => NodeJS.CpuUsage }).threadCpuUsage?.bind(process);
const cpuUser = store.counter(N.LOOPWATCH_AGENT_CPU_TIME, { [N.ATTR_CPU_MODE]: 'user' });
const cpuSystem = store.counter(N.LOOPWATCH_AGENT_CPU_TIME, { [N.ATTR_CPU_MODE]: 'system' });
let cpuSeen = { user: 0, system: 0 };
const updateCpu = (): void => {
  if (!threadCpu) return;
  const now = threadCpu();
  cpuUser.add((now.user - cpuSeen.user) / 1e6);
  cpuSystem.add((now.system - cpuSeen.system) / 1e6);
  cpuSeen = now;
};
// Threads that started before us announce themselves again.
channel.postMessage({ type: 'hello' });

// The session's `connectToMainThread()` reaches the process's main thread (threadId 0) even from a watchdog that a
// worker thread started for itself (loopwatch/test in a runner's thread pool): that worker is then sampled through the
// main thread's NodeWorker domain, as any worker is.
const PROCESS_MAIN_THREAD_ID = 0;
const attribution = data.attribution
  ? new WatchdogAttribution({ mainThreadId: PROCESS_MAIN_THREAD_ID, onConnected: (n) => Atomics.store(sessions, SLOT.SESSIONS, n) })
  : undefined;
attribution?.start();
const stallBegan = new Map<number, bigint>();
/** Epoch ms minus monotonic ms: a stall's start time from its last beat (for the in-progress record's timestamp). */
const epochOffsetMs = Date.now() - Number(process.hrtime.bigint()) / 1e6;
const watch = new StallWatch(directory, data.log === 'stderr', (line) => diag.warn(line), {
  onStallStart(threadId) {
    const thread = directory.get(threadId);
    if (!thread) return;
    stallBegan.set(threadId, thread.state.lastBeatNs);
    if (!attribution) return;
    attribution.onStallStart(threadId, thread.state.lastBeatNs);
    if (attribution.unavailable) diag.error('attribution', attribution.unavailable);
  },
  onProgress(threadId, blockedMs) {
    const e = liveStall(threadId, blockedMs);
    if (!e) return;
    if (data.log === 'stderr') diag.warn(formatLiveLine(e));
    // After this poll's gauge push is out: loading the logs SDK and exporter the first time takes this thread a while
    // (seconds on a loaded machine), which must not hold back the push of the gauge. Not loaded earlier (at the
    // stall's start): that would starve the attribution samples of every short stall.
    if (liveLog) queueMicrotask(() => afterPush(() => void liveLog?.emit(e)));
  },
  onStallEnd(threadId) {
    const sinceNs = stallBegan.get(threadId);
    stallBegan.delete(threadId);
    if (sinceNs === undefined || !attribution) return;
    attribution
      .onStallEnd(threadId)
      .then((result) => channel.postMessage({ type: 'attribution', threadId, sinceNs, attribution: result }))
      .catch((err: unknown) => diag.error('attribution', 'could not attribute a stall', err));
  },
}, data.liveReport);
/** A stall still running, written by this thread while the stalled one cannot: its samples so far, the final record's culprit rule. */
function liveStall(threadId: number, blockedMs: number): InProgressStall | undefined {
  const thread = directory.get(threadId);
  const sinceNs = stallBegan.get(threadId);
  if (!thread || sinceNs === undefined) return undefined;
  const startTime = Math.round(epochOffsetMs + Number(sinceNs) / 1e6);
  return liveStallOf(thread.name, stallIdOf(sinceNs), blockedMs, startTime, attribution?.samplesSoFar(threadId) ?? []);
}
/** Runs `f` once the push in flight (if any) has been sent, or after PUSH_WAIT_MS if it has not by then. */
const PUSH_WAIT_MS = 1000;
function afterPush(f: () => void): void {
  const settled = push?.settled();
  if (!settled) return f();
  let done = false;
  const once = (): void => {
    if (done) return;
    done = true;
    clearTimeout(timeout);
    f();
  };
  const timeout = setTimeout(once, PUSH_WAIT_MS);
  void settled.then(once);
}
// Threads with a native deadline (native.ts) wake the watchdog themselves once their heartbeat is a threshold old;
// the others are looked at on a timer.
const deadlines = new DeadlineWatches((msg, err) => diag.error('native', msg, err), () => {
  // A deadline fired: look now (the timer set for later would be too late for a stall's first samples).
  clearTimeout(timer);
  tick();
});
// Not a fixed interval: each poll says when the next one can first see a stall (see StallWatch.poll).
let timer: NodeJS.Timeout | undefined;
const tick = (): void => {
  let next = data.pollMs;
  try {
    deadlines.sync(directory.threads());
    const now = process.hrtime.bigint();
    next = watch.poll(now, (id) => deadlines.covers(id));
    push?.poll(now, directory.threads());
    updateCpu();
  } catch (err) {
    diag.error('watchdog', 'poll failed', err);
  }
  timer = setTimeout(tick, next);
};
tick();

// Health probes: evaluated only when asked (nothing runs for them between probes).
const healthLimits = data.health;
const evaluator = healthLimits ? new HealthEvaluator(healthLimits) : undefined;
/** The thread a snapshot names (its first by that name, as the evaluation picked it). */
function threadNamed(name: string | undefined): number | undefined {
  if (name === undefined) return undefined;
  for (const t of directory.threads()) if (t.name === name) return t.id;
  return undefined;
}
// The first 503 of a stall: its stderr line, then its in-progress OTLP log record (as of the probe's reading), sent
// before that 503 is answered (health/probes.ts bounds the wait).
const onLiveness = livenessEvidence({
  write: (line) => diag.warn(line),
  send(snap) {
    const sender = liveLog;
    const id = threadNamed(snap.thread);
    const e = sender && id !== undefined ? liveStall(id, snap.blockedForMs) : undefined;
    if (!sender || !e) return undefined;
    if (!sender.loaded) {
      setImmediate(() => void sender.emit(e));
      return 'not-ready';
    }
    return sender.emit(e);
  },
  late: (message) => diag.error('health', message),
});
/** The snapshot, and while a thread is blocked what its samples name so far (the live report's rule). */
function healthNow(e: HealthEvaluator): HealthSnapshot {
  const snap = e.evaluate(directory);
  if (snap.state !== 'blocked') return snap;
  const id = threadNamed(snap.thread);
  if (id === undefined) return snap;
  const known = knownSoFar(attribution?.samplesSoFar(id) ?? []);
  snap.culprit = known.culprit;
  if (known.route) snap.route = known.route;
  return snap;
}
const probes = evaluator ? (path: string) => answerProbe(path, () => healthNow(evaluator), onLiveness) : undefined;
if (probes && healthLimits && healthLimits.port !== undefined) {
  const { startHealthServer } = require('../health/server') as typeof import('../health/server');
  startHealthServer(healthLimits.port, data.prometheus ? data.prometheus.host : '0.0.0.0', probes, (what, err) => diag.error('health', what, err)).catch(
    (err: unknown) => diag.error('health', `could not serve the health probes on port ${healthLimits.port} (health.port / LOOPWATCH_HEALTH_PORT)`, err),
  );
}

if (data.prometheus) {
  const { MetricsCollector } = require('../export/collect') as typeof import('../export/collect');
  const { startMetricsServer } = require('../export/metrics-server') as typeof import('../export/metrics-server');
  startMetricsServer(new MetricsCollector(directory), data.prometheus, diag, () => {
    try {
      updateCpu();
    } catch (err) {
      diag.error('watchdog', 'could not read the watchdog\'s CPU time', err);
    }
  }, probes)
    .then(({ url }) => post({ type: 'listening', url }))
    .catch((err: unknown) => {
      // Without an endpoint the watchdog still watches stalls; the main thread reports the failure.
      const e = err instanceof Error ? (err as NodeJS.ErrnoException) : undefined;
      post({ type: 'listen-failed', code: e?.code ?? 'UNKNOWN', message: e ? e.message : String(err) });
    });
} else {
  post({ type: 'listening', url: undefined });
}
/* eslint-enable @typescript-eslint/no-require-imports */
