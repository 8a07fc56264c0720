import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, type Diagnostics } from '../runtime/diag';
import type { ChannelMessage } from '../channel/messages';
import { SLOT, type ToMain, type ToWatchdog, type WatchdogData } from './protocol';
import type { OtlpPushConfig } from '../export/otlp-push';

/** How long stop() waits for the closing OTLP push of an open episode. */
const STOP_PUSH_WAIT_MS = 2000;

export interface Watchdog {
  /** Resolves with the endpoint URL, or undefined when there is none (off, or it could not listen). */
  readonly listening: Promise<string | undefined>;
  /** Thread/series/hello messages for the watchdog's directory. */
  post(msg: ChannelMessage): void;
  /** Has the watchdog push the stall in progress over OTLP while a thread is blocked (otlp-push.ts). */
  pushInProgress(config: OtlpPushConfig): void;
  /**
   * Synchronously (the process is exiting) has the watchdog end an open OTLP push episode with its 0s, waiting at
   * most `timeoutMs`; returns at once when none is open (a backend would otherwise keep the last value for minutes).
   */
  closePush(timeoutMs: number): void;
  /**
   * Synchronously (the process is exiting) has the watchdog disconnect its inspector sessions, waiting at most
   * `timeoutMs`; returns at once when none is connected.
   */
  disconnectSessions(timeoutMs: number): void;
  stop(): Promise<void>;
}

/** Backoff between restarts of a watchdog that died: doubles from the first, capped; reset after a healthy run. */
const RESTART_BACKOFF = { firstMs: 1000, maxMs: 60_000, healthyMs: 60_000 } as const;

export interface WatchdogHooks {
  onPortProblem(code: string, message: string): void;
  onChannel(msg: ChannelMessage): void;
  /** A restarted watchdog is running (counted in `loopwatch.watchdog.restarts`; it asks for the threads with 'hello'). */
  onRestart?(): void;
}

/**
 * Starts the watchdog thread, supervised: should it die (its heap cap, an exception, someone's `worker.terminate()`),
 * the death is said in one line and counted, and a new one starts after a backoff, so stalls are never silently
 * unseen. It must not load the app's preloads (`--import loopwatch/register` would start an agent inside it), so it
 * gets no execArgv and no NODE_OPTIONS; and it must never keep the process alive (the worker and the restart timer
 * are unref'd).
 */
export function spawnWatchdog(data: Omit<WatchdogData, 'sessions'>, diag: Diagnostics, hooks: WatchdogHooks): Watchdog {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const sessions = new Int32Array(new SharedArrayBuffer(16));
  let stopped = false;
  let worker: Worker;
  let startedAt = 0;
  let backoffMs: number = RESTART_BACKOFF.firstMs;
  let restartTimer: NodeJS.Timeout | undefined;
  /** The OTLP push configuration, sent again to a restarted watchdog. */
  let pushConfig: OtlpPushConfig | undefined;
  /** The port the first watchdog bound (port 0 picks one): a restarted watchdog serves on the same. */
  let boundPort: number | undefined;
  let resolveListening!: (url: string | undefined) => void;
  const listening = new Promise<string | undefined>((resolve) => (resolveListening = resolve));

  const launch = (): void => {
    startedAt = Date.now();
    // A dead watchdog's inspector sessions and push episode are gone with it.
    Atomics.store(sessions, SLOT.SESSIONS, 0);
    Atomics.store(sessions, SLOT.PUSH_OPEN, 0);
    const w = new Worker(join(__dirname, 'worker.js'), {
      workerData: {
        ...data,
        prometheus: data.prometheus && boundPort !== undefined ? { ...data.prometheus, port: boundPort } : data.prometheus,
        sessions: sessions.buffer,
      } satisfies WatchdogData,
      execArgv: [],
      env,
      name: 'loopwatch-watchdog',
      // Bound the watchdog's memory; it holds little beyond the exposition text.
      resourceLimits: { maxOldGenerationSizeMb: 48, maxYoungGenerationSizeMb: 8 },
    });
    worker = w;
    w.on('message', (msg: ToMain | ChannelMessage) => {
      if (msg.type === 'listening') {
        if (msg.url && boundPort === undefined) boundPort = Number(new URL(msg.url).port);
        resolveListening(msg.url);
      }
      else if (msg.type === 'listen-failed') {
        hooks.onPortProblem(msg.code, msg.message);
        resolveListening(undefined);
      } else {
        try {
          hooks.onChannel(msg);
        } catch (err) {
          diag.error('threads', 'bad message from the watchdog', err);
        }
      }
    });
    // The 'exit' that follows says it, once, with the restart.
    let failure: unknown;
    w.on('error', (err: unknown) => {
      failure = err;
    });
    w.on('exit', (code) => {
      if (stopped || w !== worker) return;
      resolveListening(undefined);
      // A watchdog that ran long enough was healthy: its death starts the backoff again from the first step.
      if (Date.now() - startedAt >= RESTART_BACKOFF.healthyMs) backoffMs = RESTART_BACKOFF.firstMs;
      const why = failure === undefined ? `exited unexpectedly (code ${code})` : `failed: ${describe(failure)}`;
      diag.error('watchdog', `the watchdog thread ${why}; stalls are not watched until it restarts in ${backoffMs / 1000} s`);
      restartTimer = setTimeout(restart, backoffMs);
      restartTimer.unref();
      backoffMs = Math.min(backoffMs * 2, RESTART_BACKOFF.maxMs);
    });
    // After the listeners: attaching a 'message' listener refs the worker's port again.
    w.unref();
  };
  const restart = (): void => {
    restartTimer = undefined;
    if (stopped) return;
    try {
      launch();
    } catch (err) {
      diag.error('watchdog', 'could not restart the watchdog thread; stalls are not watched', err);
      return;
    }
    if (pushConfig) worker.postMessage({ type: 'otlp-push', config: pushConfig } satisfies ToWatchdog);
    hooks.onRestart?.();
  };
  launch();
  return {
    listening,
    post(msg) {
      if (!stopped) worker.postMessage(msg);
    },
    pushInProgress(config) {
      pushConfig = config;
      if (!stopped) worker.postMessage({ type: 'otlp-push', config } satisfies ToWatchdog);
    },
    disconnectSessions(timeoutMs) {
      if (stopped || Atomics.load(sessions, SLOT.SESSIONS) === 0) return;
      const acked = Atomics.load(sessions, SLOT.DISCONNECTED);
      worker.postMessage({ type: 'disconnect-sessions' } satisfies ToWatchdog);
      Atomics.wait(sessions, SLOT.DISCONNECTED, acked, timeoutMs);
    },
    closePush(timeoutMs) {
      if (stopped || Atomics.load(sessions, SLOT.PUSH_OPEN) === 0) return;
      const acked = Atomics.load(sessions, SLOT.PUSH_CLOSED);
      worker.postMessage({ type: 'close-push' } satisfies ToWatchdog);
      Atomics.wait(sessions, SLOT.PUSH_CLOSED, acked, timeoutMs);
    },
    async stop() {
      if (restartTimer) clearTimeout(restartTimer);
      if (!stopped && Atomics.load(sessions, SLOT.PUSH_OPEN) === 1) {
        // An open push episode ends with its 0s before the thread goes (bounded: a dead endpoint must not hold stop()).
        const acked = Atomics.load(sessions, SLOT.PUSH_CLOSED);
        worker.postMessage({ type: 'close-push' } satisfies ToWatchdog);
        const wait = Atomics.waitAsync(sessions, SLOT.PUSH_CLOSED, acked, STOP_PUSH_WAIT_MS);
        if (wait.async) await wait.value;
      }
      stopped = true;
      await worker.terminate();
    },
  };
}
