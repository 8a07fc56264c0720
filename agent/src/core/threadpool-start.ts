/** The main thread's libuv threadpool monitor (pools/threadpool.ts), started when start() leaves the least to wait for. */
import type { SinkFactory, ThreadpoolMonitorOptions } from '../pools/types';
import type { Diagnostics } from '../runtime/diag';
import { loopStarted } from '../runtime/loop';

/**
 * Counting operations wraps fs and crypto: that starts now, before the app's modules take their functions
 * (`const { stat } = require('fs')`). Without counting the monitor wraps nothing and probes first a second from now:
 * started from a running loop (an app's own start() call), it starts — and loads node:crypto, which its probe uses —
 * in the loop's next turn, so that start() blocks the app's loop for less; before the loop runs (loopwatch/register),
 * now. Unref'd: a process about to exit skips it. stop() ends it whichever it is.
 */
export function startThreadpool(sinks: SinkFactory, options: ThreadpoolMonitorOptions, diag: Diagnostics): { stop(): void } {
  let monitor: { stop(): void } | undefined;
  const start = (): void => {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { startThreadpoolMonitor } = require('../pools/threadpool') as typeof import('../pools/threadpool');
      monitor = startThreadpoolMonitor(sinks, (err, where) => diag.error('threadpool', where, err), options);
    } catch (err) {
      diag.error('threadpool', 'could not start the threadpool monitor', err);
    }
  };
  let later: NodeJS.Immediate | undefined;
  if (options.countOperations || !loopStarted()) start();
  else {
    later = setImmediate(() => {
      later = undefined;
      start();
    }).unref();
  }
  return {
    stop() {
      if (later) clearImmediate(later);
      later = undefined;
      monitor?.stop();
      monitor = undefined;
    },
  };
}
