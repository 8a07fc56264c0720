import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Diagnostics } from '../diag';
import type { ChannelMessage } from '../threads/channel';
import type { ToMain, ToWatchdog, WatchdogData } from './protocol';
import type { OtlpPushConfig } from './otlp-push';

export interface Watchdog {
  /** Resolves with the endpoint URL, or undefined when there is none (off, or it could not listen). */
  readonly listening: Promise<string | undefined>;
  /** Thread/series/hello messages for the watchdog's directory. */
  post(msg: ChannelMessage): void;
  /** Has the watchdog push the stall in progress over OTLP while a thread is blocked (otlp-push.ts). */
  pushInProgress(config: OtlpPushConfig): void;
  /**
   * Synchronously (the process is exiting) has the watchdog disconnect its inspector sessions, waiting at most
   * `timeoutMs`; returns at once when none is connected.
   */
  disconnectSessions(timeoutMs: number): void;
  stop(): Promise<void>;
}

/**
 * Starts the watchdog thread. It must not load the app's preloads
 * (`--import loopwatch/register` would start an agent inside it), so it gets
 * no execArgv and no NODE_OPTIONS; and it must never keep the process alive.
 */
export function spawnWatchdog(
  data: Omit<WatchdogData, 'sessions'>,
  diag: Diagnostics,
  onPortProblem: (code: string, message: string) => void,
  onChannel: (msg: ChannelMessage) => void,
): Watchdog {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const sessions = new Int32Array(new SharedArrayBuffer(8));
  const worker = new Worker(join(__dirname, 'worker.js'), {
    workerData: { ...data, sessions: sessions.buffer } satisfies WatchdogData,
    execArgv: [],
    env,
    name: 'loopwatch-watchdog',
    // Bound the watchdog's memory; it holds little beyond the exposition text.
    resourceLimits: { maxOldGenerationSizeMb: 48, maxYoungGenerationSizeMb: 8 },
  });
  let stopped = false;
  const listening = new Promise<string | undefined>((resolve) => {
    worker.on('message', (msg: ToMain | ChannelMessage) => {
      if (msg.type === 'listening') resolve(msg.url);
      else if (msg.type === 'listen-failed') {
        onPortProblem(msg.code, msg.message);
        resolve(undefined);
      } else {
        try {
          onChannel(msg);
        } catch (err) {
          diag.error('threads', 'bad message from the watchdog', err);
        }
      }
    });
    worker.on('error', (err) => {
      diag.error('watchdog', 'watchdog thread failed', err);
      resolve(undefined);
    });
    worker.on('exit', (code) => {
      if (!stopped) diag.error('watchdog', `watchdog thread exited unexpectedly (code ${code})`);
      resolve(undefined);
    });
  });
  // After the listeners: attaching a 'message' listener refs the worker's port again.
  worker.unref();
  return {
    listening,
    post(msg) {
      if (!stopped) worker.postMessage(msg);
    },
    pushInProgress(config) {
      if (!stopped) worker.postMessage({ type: 'otlp-push', config } satisfies ToWatchdog);
    },
    disconnectSessions(timeoutMs) {
      if (stopped || Atomics.load(sessions, 0) === 0) return;
      const acked = Atomics.load(sessions, 1);
      worker.postMessage({ type: 'disconnect-sessions' } satisfies ToWatchdog);
      Atomics.wait(sessions, 1, acked, timeoutMs);
    },
    async stop() {
      stopped = true;
      await worker.terminate();
    },
  };
}
