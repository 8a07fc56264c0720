import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Diagnostics } from '../runtime/diag';
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
  const sessions = new Int32Array(new SharedArrayBuffer(16));
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
