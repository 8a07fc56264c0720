/** Messages between the main thread's agent and its watchdog worker. */
import type { OtlpPushConfig } from './otlp-push';

export interface WatchdogData {
  mainThreadId: number;
  mainThreadName: string;
  mainBuffer: SharedArrayBuffer;
  prometheus: { port: number; host: string; path: string } | false;
  log: 'stderr' | 'off';
  /** Fallback poll period if a poll fails. */
  pollMs: number;
  /** Sample the stack of blocked threads through the inspector. */
  attribution: boolean;
  /** Int32Array [inspector sessions connected, disconnect acknowledgements] (see Watchdog.disconnectSessions). */
  sessions: SharedArrayBuffer;
}

/** From the main thread's agent to its watchdog, besides the channel messages it relays. */
export type ToWatchdog = { type: 'disconnect-sessions' } | { type: 'otlp-push'; config: OtlpPushConfig };

export type ToMain =
  | { type: 'listening'; url: string | undefined }
  | { type: 'listen-failed'; code: string; message: string };
