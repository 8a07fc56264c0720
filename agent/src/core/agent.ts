import { EventEmitter } from 'node:events';
import * as dc from 'node:diagnostics_channel';
import { isMainThread, threadId } from 'node:worker_threads';
import * as workerThreads from 'node:worker_threads';
import type { ResolvedConfig } from '../config/config';
import { describe, type Diagnostics } from '../runtime/diag';
import { OtelExporter } from '../export/otel';
import { registerInto } from '../export/prometheus';
import { MetricsCollector } from '../export/collect';
import * as N from '../metrics/names';
import { poolSinkFactory } from '../metrics/pool-sink';
import { SeriesStore } from '../metrics/store';
import { monitorPool as attachPool, startThreadpoolMonitor } from '../pools';
import { flushPoolLevels, setPoolLevelFlushing } from '../pools/watch';
import type { MonitorPoolOptions, SinkFactory } from '../pools/types';
import { formatStall } from '../export/console';
import { StallPipeline } from '../stall/pipeline';
import { startThreadAttribution, type ThreadAttributionHandle } from '../attribution/thread';
import { countRouteFailuresWith } from '../attribution/route';
import { otelRegistered } from '../runtime/otel-global';
import { loadNative, type Deadline, type LoopMeter, type Native } from '../runtime/native';
import { ThreadMonitor } from '../heartbeat/monitor';
import { openChannel, type ChannelMessage } from '../channel/messages';
import { ThreadDirectory } from '../channel/directory';
import type { Agent, LoopwatchEvents, StallEvent } from '../types';
import { spawnWatchdog, type Watchdog } from '../watchdog/spawn';

/** The thread's native deadline, or undefined where the addon is not available (the watchdog then polls). */
function createDeadline(diag: Diagnostics): Deadline | undefined {
  const loaded = loadNative();
  if ('error' in loaded) {
    // Expected elsewhere; on Linux it ships with the package, so say why once (the main thread's agent only).
    if (process.platform === 'linux' && isMainThread) diag.warn(`${loaded.error}; the watchdog polls on a timer instead (LOOPWATCH_NATIVE=off silences this)`);
    return undefined;
  }
  try {
    return loaded.native.createDeadline();
  } catch (err) {
    diag.error('native', 'could not create the native deadline; the watchdog polls on a timer instead', err);
    return undefined;
  }
}

/** The thread's native loop meter, or undefined where the addon is not available (createDeadline said why). */
function createMeter(diag: Diagnostics): LoopMeter | undefined {
  const loaded = loadNative();
  if ('error' in loaded) return undefined;
  try {
    return loaded.native.createMeter();
  } catch (err) {
    diag.error('native', 'could not create the native loop meter; the heartbeat beats every sampleIntervalMs while the loop is busy instead', err);
    return undefined;
  }
}

/** The addon for GC timing, or undefined where it is not available (createDeadline said why). */
function nativeAddon(): Native | undefined {
  const loaded = loadNative();
  return 'native' in loaded ? loaded.native : undefined;
}

/** Set on the thread's global once the "routes are not tracked" warning was printed. */
const UNTRACKED_WARNED = Symbol.for('loopwatch.requestContext.warned');

// eslint-disable-next-line @typescript-eslint/no-require-imports
export const VERSION: string = (require('../../package.json') as { version: string }).version;

export class LoopwatchAgent extends EventEmitter<LoopwatchEvents> implements Agent {
  readonly threadName: string;
  private running = true;
  private readonly directory: ThreadDirectory;
  private readonly store: SeriesStore;
  private readonly monitor: ThreadMonitor;
  /** To and from worker threads' agents (the main thread posts here only once one was heard from). */
  private readonly channel: ReturnType<typeof openChannel>;
  private peersHeard = false;
  private readonly watchdog: Watchdog | undefined;
  private readonly otel: OtelExporter | undefined;
  private readonly unregisterFromApp: (() => void) | undefined;
  private readonly readyPromise: Promise<{ prometheusUrl?: string }>;
  private readonly sinks: SinkFactory;
  private readonly pools = new Set<{ detach(): void }>();
  private readonly threadpool: { stop(): void } | undefined;
  private readonly stalls: StallPipeline;
  private readonly threadAttribution: ThreadAttributionHandle | undefined;
  private readonly onThreadExit = () => {
    this.lastWords();
    this.announceGone(true);
  };
  // Main thread: a process exiting right after a block (a CLI's process.exit()) may find the watchdog's inspector
  // session still connected, and Node would print "Waiting for the debugger to disconnect..." and wait for it.
  private readonly onProcessExit = () => {
    try {
      this.watchdog?.disconnectSessions(200);
    } catch (err) {
      this.diag.error('watchdog', 'could not disconnect the inspector sessions at exit', err);
    }
    try {
      this.watchdog?.closePush(500);
    } catch (err) {
      this.diag.error('otel', 'could not close the stall-in-progress push at exit', err);
    }
    this.lastWords();
  };
  // Worker threads this thread creates: their end is seen here even when they cannot say it (worker.terminate()
  // runs no 'exit' handler in the worker), so their series do not linger as threads blocked for good.
  private readonly onWorkerCreated = (msg: unknown): void => {
    const worker = (msg as { worker?: { threadId?: unknown; once?: Function } } | null)?.worker;
    if (!worker || typeof worker.threadId !== 'number' || typeof worker.once !== 'function') return;
    const id = worker.threadId;
    worker.once('exit', () => {
      if (!this.running) return;
      const gone: ChannelMessage = { type: 'thread-gone', id, exited: true };
      this.directory.apply(gone);
      this.post(gone);
    });
  };

  constructor(
    private readonly config: ResolvedConfig,
    private readonly diag: Diagnostics,
  ) {
    super();
    this.threadName = config.threadName ?? defaultThreadName();
    this.directory = new ThreadDirectory((name) => diag.error('threads', `more than 64 threads; not reporting thread "${name}"`));
    // First, before anything runs: the app's registry can refuse loopwatch's metrics (a name already taken).
    if (config.prometheus && config.prometheus.registry) {
      this.unregisterFromApp = registerInto(config.prometheus.registry, new MetricsCollector(this.directory));
    }
    // Whatever started is stopped again if a later step throws: a failed start leaves nothing running.
    const undo: Array<() => unknown> = [() => this.unregisterFromApp?.()];
    try {
      this.channel = openChannel(
        (msg) => this.onPeer(msg),
        (err) => diag.error('threads', 'bad channel message', err),
      );
      undo.push(() => this.channel.close());
      this.store = new SeriesStore(String(threadId), this.directory.registry, (msg) => this.post({ type: 'series', ...msg }));
      this.countErrors();
      this.sinks = poolSinkFactory(this.store, (name) => diag.error('pools', `more than 50 pools; not reporting pool "${name}"`));

      this.stalls = new StallPipeline(this.threadName, config.attribution, this.store, (e) => this.onStall(e), (seconds, traceId, at) =>
        this.monitor.state.setStallExemplar(seconds, traceId, at),
      );
      if (config.attribution) {
        // loopwatch attribution wiring: span events need the app's spans (otel not turned off).
        this.threadAttribution = startThreadAttribution({
          spanEvents: config.otel !== false,
          ...(config.attributionDeep ? { deep: { thresholdMs: config.stallThresholdMs } } : {}),
          requests: config.requestContext,
          requestScope: config.requestScope,
          routePatterns: config.routePatterns,
          // Said at the first request left untracked, not at start: an OpenTelemetry SDK started after loopwatch
          // registers its context manager before requests arrive, and then requests are tracked after all.
          onUntrackedRequest: () => {
            // Once per thread, however often the agent is stopped and started.
            const g = globalThis as Record<symbol, unknown>;
            if (g[UNTRACKED_WARNED]) return;
            g[UNTRACKED_WARNED] = true;
            const cheaper =
              Number(process.versions.node.split('.')[0]) >= 24
                ? 'Run without --no-async-context-frame'
                : 'Run Node 22 with --experimental-async-context-frame (or Node 24)';
            diag.warn(
              `stalls will name their code but not their HTTP route (until an OpenTelemetry context manager is registered): ` +
                `on Node ${process.versions.node} with this setup, tracking requests would run an async_hooks callback for every ` +
                `promise (+33 % CPU on a promise-heavy handler). ${cheaper} to get routes for one AsyncLocalStorage frame per connection, or set ` +
                'LOOPWATCH_REQUEST_CONTEXT=on (requestContext: true) to pay for it; LOOPWATCH_REQUEST_CONTEXT=off silences this.',
            );
          },
          onError: (what, err) => diag.error('attribution', what, err),
        });
        undo.push(() => this.threadAttribution?.stop());
      }
      this.monitor = new ThreadMonitor(
        config.sampleIntervalMs,
        config.stallThresholdMs,
        config.maxSampleIntervalMs,
        diag,
        (s) => this.stalls.detected(s),
        config.native ? createDeadline(diag) : undefined,
        config.native ? createMeter(diag) : undefined,
        config.native ? nativeAddon() : undefined,
      );
      undo.push(() => this.monitor.stop(), () => this.stalls.stop());
      if (this.threadAttribution) this.stalls.useThread(this.threadAttribution, this.monitor.state, (what, err) => diag.error('attribution', what, err));
      // Pool levels are read once per heartbeat instead of on every acquire and release.
      this.monitor.onBeat(flushPoolLevels, 'pools');
      // So is OpenTelemetry registered since start (span events, request tracking), not on every request.
      const attribution = this.threadAttribution;
      if (attribution) this.monitor.onBeat(() => attribution.refresh(), 'attribution');
      setPoolLevelFlushing(true);
      undo.push(() => setPoolLevelFlushing(false));
      this.directory.add(threadId, this.threadName, this.monitor.state);
      this.announceThread();

      if (isMainThread) {
        this.watchdog = this.startWatchdog();
        undo.push(() => this.watchdog?.stop());
        process.on('exit', this.onProcessExit);
        undo.push(() => process.off('exit', this.onProcessExit));
        if (config.otel) {
          this.otel = new OtelExporter(new MetricsCollector(this.directory), config.otel, diag, VERSION, (push) => this.watchdog?.pushInProgress(push));
          this.otel.start();
          undo.push(() => this.otel?.stop());
        }
        // Hear from worker threads that started before us (only they listen on the channel).
        this.channel.postMessage({ type: 'hello' });
        if (config.threadpool) {
          this.threadpool = startThreadpoolMonitor(this.sinks, (err, where) => diag.error('threadpool', where, err), config.threadpool);
          undo.push(() => this.threadpool?.stop());
        }
      } else {
        // A worker thread may end without stop(); its series must not linger as a thread blocked forever.
        process.once('exit', this.onThreadExit);
        undo.push(() => process.off('exit', this.onThreadExit));
      }
      dc.subscribe('worker_threads', this.onWorkerCreated);
      undo.push(() => dc.unsubscribe('worker_threads', this.onWorkerCreated));
      if (config.log === 'stderr' && isMainThread) {
        this.on('stall', (e) => diag.warn(formatStall(e)));
      }
    } catch (err) {
      this.running = false;
      for (const step of undo.reverse()) {
        try {
          const done = step();
          if (done instanceof Promise) done.catch((e: unknown) => diag.error('agent', 'cleaning up after a failed start', e));
        } catch (e) {
          diag.error('agent', 'cleaning up after a failed start', e);
        }
      }
      throw err;
    }
    this.readyPromise = (this.watchdog?.listening ?? Promise.resolve(undefined)).then((url) => (url ? { prometheusUrl: url } : {}));
  }

  get enabled(): boolean {
    return this.running;
  }

  ready(): Promise<{ prometheusUrl?: string }> {
    // Whoever awaits ready() wants the answer: hold the loop open for it, briefly (the watchdog itself is unref'd).
    const hold = setTimeout(() => {}, 5000);
    return this.readyPromise.finally(() => clearTimeout(hold));
  }

  monitorPool(pool: unknown, options?: MonitorPoolOptions): { detach(): void } {
    if (!this.running) return { detach() {} };
    let handle: { detach(): void } | undefined;
    const tracked = {
      detach: () => {
        this.pools.delete(tracked);
        handle?.detach();
      },
    };
    // Forgotten when monitoring ends however it ends: a pool the app closes itself (pool.end(), destroy()) without
    // detach() must not stay referenced here.
    let ended = false;
    handle = attachPool(pool, options, this.sinks, (err, where) => this.diag.error('pools', where, err), () => {
      ended = true;
      this.pools.delete(tracked);
    });
    if (!ended) this.pools.add(tracked);
    return tracked;
  }

  /** The thread is exiting: a block in its last callback is detected, and every stall detected is reported. */
  private lastWords(): void {
    if (!this.running) return;
    try {
      this.monitor.finalBeat();
      this.stalls.flush();
    } catch (err) {
      this.diag.error('agent', 'reporting the last stalls at exit', err);
    }
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    // A stall that just ended is detected, and stalls still waiting for their attribution are reported, not dropped.
    try {
      this.monitor.finalBeat();
      this.stalls.flush();
    } catch (err) {
      this.diag.error('agent', 'reporting pending stalls at stop', err);
    }
    this.running = false;
    this.monitor.stop();
    this.stalls.stop();
    this.threadAttribution?.stop();
    this.threadpool?.stop();
    for (const p of [...this.pools]) p.detach();
    setPoolLevelFlushing(false);
    this.announceGone(false);
    process.off('exit', this.onThreadExit);
    process.off('exit', this.onProcessExit);
    dc.unsubscribe('worker_threads', this.onWorkerCreated);
    this.store.removeAll();
    this.channel.close();
    this.unregisterFromApp?.();
    // In this order: an OTLP push episode's closing 0s (watchdog) must be the last word on a block in progress.
    await this.otel?.stop();
    await this.watchdog?.stop();
  }

  private startWatchdog(): Watchdog {
    const p = this.config.prometheus;
    const own = p && p.port !== undefined ? { port: p.port, host: p.host, path: p.path } : false;
    return spawnWatchdog(
      {
        mainThreadId: threadId,
        mainThreadName: this.threadName,
        mainBuffer: this.monitor.state.buffer,
        prometheus: own,
        log: this.config.log,
        pollMs: Math.max(5, Math.min(50, this.config.stallThresholdMs / 4)),
        attribution: this.config.attribution,
      },
      this.diag,
      (code, message) => {
        const where = own ? `${own.host}:${own.port}` : '';
        const hint =
          code === 'EADDRINUSE'
            ? `port ${where} is already in use`
            : `could not listen on ${where}: ${message}`;
        this.diag.error(
          'prometheus',
          `${hint}; the loopwatch metrics endpoint is off (the app and the rest of loopwatch keep running). ` +
            'Set prometheus.port / LOOPWATCH_PROMETHEUS_PORT to a free port, or "off".',
        );
      },
      (msg) => this.onWatchdog(msg),
    );
  }

  /** A finished (attributed, rate-capped) stall of this thread. */
  private onStall(event: StallEvent): void {
    if (!isMainThread) this.post({ type: 'stall', threadId, event });
    else if (this.config.otel) this.emitStallLog(event);
    this.emitStall(event);
  }

  /** One OTel log record per stall, once a LoggerProvider is registered (loads the OTel API only then). */
  private emitStallLog(event: StallEvent): void {
    // The app's LoggerProvider if it registered one, else the one loopwatch's own OTLP export runs (if it does).
    const own = otelRegistered('logs') ? undefined : this.otel?.ownLoggerProvider;
    if (!own && !otelRegistered('logs')) return;
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      (require('../export/otel-logs') as typeof import('../export/otel-logs')).emitStallLog(event, this.diag, own);
    } catch (err) {
      this.diag.error('otel', 'could not load the OpenTelemetry logs API', err);
    }
  }

  private emitStall(event: StallEvent): void {
    // Each listener on its own: a throwing one must neither become an uncaught exception thrown from loopwatch's
    // timer nor keep the listeners after it from hearing of the stall. (`rawListeners` keeps `once` semantics.)
    for (const listener of this.rawListeners('stall') as Array<(e: StallEvent) => void>) {
      try {
        listener.call(this, event);
      } catch (err) {
        this.diag.error('events', `a 'stall' listener threw: ${describe(err)}`);
      }
    }
  }

  /**
   * Main thread: to the watchdog, and to worker threads once one was heard from. Worker thread: to the
   * channel, where the main thread's agent hears it (and relays to the watchdog what it needs).
   */
  private post(msg: ChannelMessage): void {
    if (!isMainThread) return this.channel.postMessage(msg);
    this.watchdog?.post(msg);
    if (this.peersHeard) this.channel.postMessage(msg);
  }

  /** A message from a worker thread's agent. */
  private onPeer(msg: ChannelMessage): void {
    if (isMainThread) {
      this.peersHeard = true;
      if (msg.type === 'thread' || msg.type === 'thread-gone' || msg.type === 'series') this.watchdog?.post(msg);
    }
    this.onChannel(msg);
  }

  /** A message from the watchdog (main thread only). */
  private onWatchdog(msg: ChannelMessage): void {
    // In flight while stop() closed the channel: nothing left to relay it to.
    if (!this.running) return;
    if (msg.type === 'attribution' && msg.threadId !== threadId) {
      // A worker thread's stall: only that thread can merge it.
      if (this.peersHeard) this.channel.postMessage(msg);
      return;
    }
    this.onChannel(msg);
  }

  private onChannel(msg: ChannelMessage): void {
    if (!this.running) return;
    if (msg.type === 'hello') {
      this.announceThread();
      this.store.announceAll();
    } else if (msg.type === 'stall') {
      if (isMainThread && msg.threadId !== threadId) {
        if (this.config.otel) this.emitStallLog(msg.event);
        this.emitStall(msg.event);
      }
    } else if (msg.type === 'attribution') {
      if (msg.threadId === threadId) this.stalls.attributed(msg.sinceNs, msg.attribution);
    } else {
      this.directory.apply(msg);
    }
  }

  private announceThread(): void {
    this.post({ type: 'thread', id: threadId, name: this.threadName, buffer: this.monitor.state.buffer });
  }

  private announceGone(exited: boolean): void {
    this.monitor.state.markStopped();
    try {
      this.post({ type: 'thread-gone', id: threadId, exited });
    } catch (err) {
      // The channel is closed once stop() ran; nothing left to tell.
      if (this.running) this.diag.error('threads', 'could not announce thread exit', err);
    }
  }

  private countErrors(): void {
    const counters = new Map<string, { add(v: number): void }>();
    if (isMainThread) {
      // At 0 from the start, so "no internal errors" is a value, not an absent series.
      for (const component of ['agent', 'sampler', 'gc', 'prometheus', 'otel', 'threads', 'events', 'pools', 'threadpool', 'attribution', 'watchdog']) {
        counters.set(component, this.store.counter(N.LOOPWATCH_AGENT_ERRORS, { [N.ATTR_COMPONENT]: component }));
      }
    }
    // Route reads that fail fall back silently; counted here (attribution/routes).
    countRouteFailuresWith(this.store.counter(N.LOOPWATCH_ROUTE_FAILURES, {}));
    this.diag.countErrorsWith((component) => {
      let c = counters.get(component);
      if (!c) {
        c = this.store.counter(N.LOOPWATCH_AGENT_ERRORS, { [N.ATTR_COMPONENT]: component });
        counters.set(component, c);
      }
      c.add(1);
    });
  }
}

function defaultThreadName(): string {
  if (isMainThread) return 'main';
  const name = (workerThreads as { threadName?: string }).threadName;
  // Node 24 names every unnamed worker 'WorkerThread' (Node 22: ''): all of them would share one set of series.
  return name && name !== '' && name !== 'WorkerThread' ? name : `worker-${threadId}`;
}

/** The agent returned when the configuration is invalid: same shape, does nothing. */
export class DisabledAgent extends EventEmitter<LoopwatchEvents> implements Agent {
  readonly enabled = false;
  constructor(readonly threadName: string = defaultThreadName()) {
    super();
  }
  ready(): Promise<{ prometheusUrl?: string }> {
    return Promise.resolve({});
  }
  monitorPool(): { detach(): void } {
    return { detach() {} };
  }
  stop(): Promise<void> {
    return Promise.resolve();
  }
}
