/** Messages between the main thread's agent and its watchdog worker. */
import type { OtlpPushConfig } from '../export/otlp-push';
import type { HealthLimits } from '../health/snapshot';

export interface WatchdogData {
  /** The thread that started this watchdog: the main thread, or a worker thread that watches itself (loopwatch/test). */
  mainThreadId: number;
  mainThreadName: string;
  mainBuffer: SharedArrayBuffer;
  prometheus: { port: number; host: string; path: string } | false;
  log: 'stderr' | 'off';
  /** In-progress reports of a stall: first at this age, then every `everyMs` (live-report.ts). */
  liveReport: { afterMs: number; everyMs: number };
  /** Fallback poll period if a poll fails. */
  pollMs: number;
  /** Sample the stack of blocked threads through the inspector. */
  attribution: boolean;
  /** `/livez` `/readyz` (health/), or false. */
  health: (HealthLimits & { port: number | undefined }) | false;
  /**
   * Int32Array [inspector sessions connected, disconnect acknowledgements, OTLP push episode open, closing-push
   * acknowledgements] (see Watchdog.disconnectSessions and Watchdog.closePush).
   */
  sessions: SharedArrayBuffer;
}

/** From the main thread's agent to its watchdog, besides the channel messages it relays. */
export type ToWatchdog = { type: 'disconnect-sessions' } | { type: 'otlp-push'; config: OtlpPushConfig } | { type: 'close-push' };

/** Slots of the `sessions` Int32Array. */
export const SLOT = { SESSIONS: 0, DISCONNECTED: 1, PUSH_OPEN: 2, PUSH_CLOSED: 3 } as const;

export type ToMain =
  | { type: 'listening'; url: string | undefined }
  | { type: 'listen-failed'; code: string; message: string };
