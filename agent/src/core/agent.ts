// Longer than 300 lines: one class holds a thread's agent lifecycle (start, stop, the channel dispatch, the held-back and
// stall report paths that must run on the main thread); lazy loading and GraphQL labels pushed it just over, the next
// split is the channel dispatch (onChannel) into its own file.
import { EventEmitter } from 'node:events';
import * as dc from 'node:diagnostics_channel';
import { isMainThread, threadId } from 'node:worker_threads';
import type { ResolvedConfig } from '../config/config';
import type { Diagnostics } from '../runtime/diag';
import { OtelExporter } from '../export/otel';
import { MetricsCollector } from '../export/collect';
import { poolSinkFactory } from '../metrics/pool-sink';
import { SeriesStore } from '../metrics/store';
import { flushPoolLevels, setPoolLevelFlushing } from '../pools/watch';
import type { MonitorPoolOptions, SinkFactory } from '../pools/types';
import { StallPipeline, type HeldBackReports } from '../stall/pipeline';
import { startThreadAttribution, type ThreadAttributionHandle } from '../attribution/thread';
import { ThreadMonitor } from '../heartbeat/monitor';
import type { ChannelMessage } from '../channel/messages';
import { ThreadDirectory } from '../channel/directory';
import type { Agent, HealthSnapshot, LoopwatchEvents, StallEvent } from '../types';
import type { Watchdog } from '../watchdog/spawn';
import { countErrors } from './error-counters';
import { MonitoredPools } from './pools';
import { Relay, releaseWatchdogAtExit, workerExits } from './relay';
import { emitStall, emitStallLog, sayHeldBack } from './stall-events';
import { createDeadline, createMeter, nativeAddon } from './native-parts';
import { warnUntrackedRequests } from './notices';
import { startWatchdog } from './watchdog-start';
import { startThreadpool } from './threadpool-start';
import { defaultThreadName } from './thread-name';
import { VERSION } from './version';
import { HealthEvaluator, safeHealth } from '../health/evaluate';


export class LoopwatchAgent extends EventEmitter<LoopwatchEvents> implements Agent {
  readonly threadName: string;
  private running = true;
  private readonly directory: ThreadDirectory;
  private readonly store: SeriesStore;
  private readonly monitor: ThreadMonitor;
  /** To and from the watchdog and worker threads' agents. */
  private readonly relay: Relay;
  private readonly watchdog: Watchdog | undefined;
  private readonly otel: OtelExporter | undefined;
  private readonly unregisterFromApp: (() => void) | undefined;
  private readonly readyPromise: Promise<{ prometheusUrl?: string }>;
  private readonly sinks: SinkFactory;
  private readonly pools: MonitoredPools;
  private readonly threadpool: { stop(): void } | undefined;
  private readonly stalls: StallPipeline;
  private readonly threadAttribution: ThreadAttributionHandle | undefined;
  /** agent.health(): the same shared state the watchdog's probes read. */
  private readonly healthEvaluator: HealthEvaluator | undefined;
  /** Lets go of the module-wide error sinks that refer to this agent's logger and store. */
  private readonly uncountErrors: () => void;
  private readonly onThreadExit = () => {
    this.lastWords();
    this.announceGone(true);
  };
  private readonly onProcessExit = () => {
    releaseWatchdogAtExit(this.watchdog, this.diag);
    this.lastWords();
  };
  private readonly onWorkerCreated = workerExits((id) => {
    if (!this.running) return;
    const gone: ChannelMessage = { type: 'thread-gone', id, exited: true };
    this.directory.apply(gone);
    this.relay.post(gone);
  });

  /** `onStopped`: called once by stop(), so that whoever registered this agent lets go of it (start.ts). */
  constructor(
    private readonly config: ResolvedConfig,
    private readonly diag: Diagnostics,
    private readonly onStopped?: () => void,
  ) {
    super();
    this.threadName = config.threadName ?? defaultThreadName();
    this.directory = new ThreadDirectory((name) => diag.error('threads', `more than 64 threads; not reporting thread "${name}"`));
    // First, before anything runs: the app's registry can refuse loopwatch's metrics (a name already taken).
    if (config.prometheus && config.prometheus.registry) {
      // Only for an app's prom-client registry (most apps let the watchdog serve /metrics): loaded for it alone.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { registerInto } = require('../export/prometheus') as typeof import('../export/prometheus');
      this.unregisterFromApp = registerInto(config.prometheus.registry, new MetricsCollector(this.directory));
    }
    // Whatever started is stopped again if a later step throws: a failed start leaves nothing running.
    const undo: Array<() => unknown> = [() => this.unregisterFromApp?.()];
    try {
      this.relay = new Relay((msg) => this.onChannel(msg), diag);
      undo.push(() => this.relay.close());
      this.store = new SeriesStore(String(threadId), this.directory.registry, (msg) => this.relay.post({ type: 'series', ...msg }));
      this.uncountErrors = countErrors(diag, this.store);
      undo.push(() => this.uncountErrors());
      this.sinks = poolSinkFactory(this.store, (name) => diag.error('pools', `more than 50 pools; not reporting pool "${name}"`));
      this.pools = new MonitoredPools(this.sinks, diag);

      const exemplify = (seconds: number, traceId: string, at: number): void => this.monitor.state.setStallExemplar(seconds, traceId, at);
      this.stalls = new StallPipeline(this.threadName, config.attribution, this.store, (e) => this.onStall(e), exemplify, { onHeldBack: (r) => this.onHeldBack(r) });
      if (config.attribution) {
        // loopwatch attribution wiring: span events need the app's spans (otel not turned off).
        this.threadAttribution = startThreadAttribution({
          lastBeatNs: () => this.monitor.state.lastBeatNs,
          spanEvents: config.otel !== false,
          ...(config.attributionDeep ? { deep: { thresholdMs: config.stallThresholdMs } } : {}),
          requests: config.requestContext,
          requestScope: config.requestScope,
          routePatterns: config.routePatterns,
          // Said at the first request left untracked, not at start: an OpenTelemetry SDK started after loopwatch
          // registers its context manager before requests arrive, and then requests are tracked after all.
          onUntrackedRequest: () => warnUntrackedRequests(diag),
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
      if (this.threadAttribution) this.stalls.useThread(this.threadAttribution, () => this.monitor.beatIfBusy(), (what, err) => diag.error('attribution', what, err));
      // A worker parking in an idle wait may not loop again for long: its stalls are reported before it parks.
      this.monitor.onPark(() => this.stalls.flush(), 'stalls');
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
        this.watchdog = this.relay.watchdog = startWatchdog({
          config, threadId, threadName: this.threadName, buffer: this.monitor.state.buffer, store: this.store, diag,
          onChannel: (msg) => this.relay.fromWatchdog(msg),
        });
        undo.push(() => this.watchdog?.stop());
        process.on('exit', this.onProcessExit);
        undo.push(() => process.off('exit', this.onProcessExit));
        if (config.otel) {
          this.otel = new OtelExporter(new MetricsCollector(this.directory), config.otel, diag, VERSION, (push) => this.watchdog?.pushInProgress(push));
          this.otel.start();
          undo.push(() => this.otel?.stop());
        }
        this.relay.greetPeers();
        if (config.threadpool) {
          this.threadpool = startThreadpool(this.sinks, config.threadpool, diag);
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
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const { formatStall } = require('../export/console') as typeof import('../export/console');
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
    this.healthEvaluator = config.health ? new HealthEvaluator(config.health) : undefined;
    this.readyPromise = (this.watchdog?.listening ?? Promise.resolve(undefined)).then((url) => (url ? { prometheusUrl: url } : {}));
  }

  /** What this agent runs with (a second start() compares its own with it). */
  get resolvedConfig(): ResolvedConfig {
    return this.config;
  }

  get enabled(): boolean {
    return this.running;
  }

  ready(): Promise<{ prometheusUrl?: string }> {
    // Whoever awaits ready() wants the answer: hold the loop open for it, briefly (the watchdog itself is unref'd).
    const hold = setTimeout(() => {}, 5000);
    return this.readyPromise.finally(() => clearTimeout(hold));
  }

  /**
   * loopwatch/test: `beat()` ends the measure of what ran so far (a block that just ended is detected now);
   * `settled()` resolves once every detected stall is reported; `observe()` sees every stall, uncapped.
   */
  get testing(): { beat(): void; settled(): Promise<void>; observe: StallPipeline['observe']; ownWatchdog(): Watchdog } {
    return {
      beat: () => this.monitor.finalBeat(),
      settled: () => this.stalls.settled(),
      observe: (fn) => this.stalls.observe(fn),
      // A worker thread of a process whose main thread runs no agent (a test runner's thread pool) has no watchdog to
      // sample it: this starts one for it alone, whose stack samples come back here as the main thread's relay would
      // bring them. The caller stops it.
      ownWatchdog: () =>
        startWatchdog({
          config: this.config, threadId, threadName: this.threadName, buffer: this.monitor.state.buffer, store: this.store, diag: this.diag,
          onChannel: (msg) => {
            if (msg.type === 'attribution' && msg.threadId === threadId) this.stalls.attributed(msg.sinceNs, msg.attribution);
          },
        }),
    };
  }

  monitorPool(pool: unknown, options?: MonitorPoolOptions): { detach(): void } {
    if (!this.running) return { detach() {} };
    return this.pools.add(pool, options);
  }

  health(): HealthSnapshot {
    return safeHealth(this.running ? this.healthEvaluator : undefined, this.directory, threadId, (err) => this.diag.error('health', 'could not evaluate health', err));
  }

  /**
   * The thread is exiting or the agent stopping: a block in its last callback is detected, and every stall detected
   * (also one still waiting for its attribution) is reported, not dropped.
   */
  private lastWords(when: 'exit' | 'stop' = 'exit'): void {
    if (!this.running) return;
    try {
      this.monitor.finalBeat();
      this.stalls.flush();
      // Nothing later can say the reports the cap holds back now.
      this.stalls.closeReportWindows();
    } catch (err) {
      this.diag.error('agent', `reporting the last stalls at ${when}`, err);
    }
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.lastWords('stop');
    this.running = false;
    this.onStopped?.();
    this.monitor.stop();
    this.stalls.stop();
    this.threadAttribution?.stop();
    this.threadpool?.stop();
    this.pools.detachAll();
    setPoolLevelFlushing(false);
    this.announceGone(false);
    process.off('exit', this.onThreadExit);
    process.off('exit', this.onProcessExit);
    dc.unsubscribe('worker_threads', this.onWorkerCreated);
    this.uncountErrors();
    this.store.removeAll();
    this.relay.close();
    this.unregisterFromApp?.();
    // In this order: an OTLP push episode's closing 0s (watchdog) must be the last word on a block in progress.
    await this.otel?.stop();
    await this.watchdog?.stop();
  }

  /** A finished (attributed, rate-capped) stall of this thread. */
  private onStall(event: StallEvent): void {
    if (!isMainThread) this.relay.post({ type: 'stall', threadId, event });
    else if (this.config.otel) emitStallLog(event, this.diag, this.otel);
    emitStall(this, event, this.diag);
  }

  /** Stall reports of this thread the cap held back that no later report said: said where its stalls are. */
  private onHeldBack(reports: HeldBackReports): void {
    if (!isMainThread) this.relay.post({ type: 'held-back', threadId, reports });
    else sayHeldBack(reports, this.config, this.diag, this.otel);
  }

  /** A message from a worker thread's agent or from the watchdog. */
  private onChannel(msg: ChannelMessage): void {
    if (!this.running) return;
    if (msg.type === 'hello') {
      this.announceThread();
      this.store.announceAll();
    } else if (msg.type === 'stall') {
      if (isMainThread && msg.threadId !== threadId) {
        if (this.config.otel) emitStallLog(msg.event, this.diag, this.otel);
        emitStall(this, msg.event, this.diag);
      }
    } else if (msg.type === 'held-back') {
      if (isMainThread && msg.threadId !== threadId) sayHeldBack(msg.reports, this.config, this.diag, this.otel);
    } else if (msg.type === 'attribution') {
      if (msg.threadId === threadId) this.stalls.attributed(msg.sinceNs, msg.attribution);
    } else {
      this.directory.apply(msg);
    }
  }

  private announceThread(): void {
    this.relay.post({ type: 'thread', id: threadId, name: this.threadName, buffer: this.monitor.state.buffer });
  }

  private announceGone(exited: boolean): void {
    this.monitor.state.markStopped();
    try {
      this.relay.post({ type: 'thread-gone', id: threadId, exited });
    } catch (err) {
      // The channel is closed once stop() ran; nothing left to tell.
      if (this.running) this.diag.error('threads', 'could not announce thread exit', err);
    }
  }
}
