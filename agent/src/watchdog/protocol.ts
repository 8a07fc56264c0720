/** Messages between the main thread's agent and its watchdog worker. */

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
}

export type ToMain =
  | { type: 'listening'; url: string | undefined }
  | { type: 'listen-failed'; code: string; message: string };
