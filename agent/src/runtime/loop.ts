import { performance } from 'node:perf_hooks';

/**
 * Whether the main thread's event loop has started: false while the main script runs (and a `--require` preload before
 * it). Work left for a later turn then would run once the app's loop turns, blocking it early on; before that, it only
 * delays the start of the process, as the app's own modules do. (`performance.nodeTiming.loopStart` is -1 until then.)
 */
export function loopStarted(): boolean {
  return performance.nodeTiming.loopStart >= 0;
}
