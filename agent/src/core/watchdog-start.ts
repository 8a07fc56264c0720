/** The main thread's agent starts the process's one watchdog thread with what it watches and serves. */
import type { ResolvedConfig } from '../config/config';
import * as N from '../metrics/names';
import type { SeriesStore } from '../metrics/store';
import type { Diagnostics } from '../runtime/diag';
import type { ChannelMessage } from '../channel/messages';
import { spawnWatchdog, type Watchdog } from '../watchdog/spawn';
import { listenFailure } from './notices';

export interface WatchdogStart {
  readonly config: ResolvedConfig;
  readonly threadId: number;
  readonly threadName: string;
  /** The main thread's shared heartbeat state. */
  readonly buffer: SharedArrayBuffer;
  readonly store: SeriesStore;
  readonly diag: Diagnostics;
  readonly onChannel: (msg: ChannelMessage) => void;
}

export function startWatchdog(s: WatchdogStart): Watchdog {
  const { config, diag } = s;
  const p = config.prometheus;
  const own = p && p.port !== undefined ? { port: p.port, host: p.host, path: p.path } : false;
  const restarts = s.store.counter(N.LOOPWATCH_WATCHDOG_RESTARTS, {});
  return spawnWatchdog(
    {
      mainThreadId: s.threadId,
      mainThreadName: s.threadName,
      mainBuffer: s.buffer,
      prometheus: own,
      log: config.log,
      liveReport: config.liveReport,
      pollMs: Math.max(5, Math.min(50, config.stallThresholdMs / 4)),
      attribution: config.attribution,
      health: config.health,
    },
    diag,
    {
      onPortProblem: (code, message) => {
        if (p) diag.error('prometheus', listenFailure(p, code, message));
      },
      onChannel: s.onChannel,
      onRestart: () => restarts.add(1),
    },
  );
}
