/** The native addon's parts one thread's agent uses, each undefined where the addon is not available. */
import { isMainThread } from 'node:worker_threads';
import type { Diagnostics } from '../runtime/diag';
import { loadNative, type Deadline, type LoopMeter, type Native } from '../runtime/native';

/** The thread's native deadline, or undefined where the addon is not available (the watchdog then polls). */
export function createDeadline(diag: Diagnostics): Deadline | undefined {
  const loaded = loadNative();
  if ('error' in loaded) {
    // Information, not a fault: one line at start (the main thread's agent only) saying what precision this platform gets.
    if (isMainThread) {
      diag.warn(
        `${loaded.error}: stalls are timed by JavaScript timers (a heartbeat every 10 ms under load) and the watchdog polls; ` +
          'LOOPWATCH_NATIVE=off silences this',
      );
    }
    return undefined;
  }
  try {
    return loaded.native.createDeadline();
  } catch (err) {
    diag.error('native', 'could not create the native deadline; the watchdog polls on a timer instead', err);
    return undefined;
  }
}

/** The thread's native loop meter, or undefined where the addon is not available (createDeadline said why). */
export function createMeter(diag: Diagnostics): LoopMeter | undefined {
  const loaded = loadNative();
  if ('error' in loaded) return undefined;
  try {
    return loaded.native.createMeter();
  } catch (err) {
    diag.error('native', 'could not create the native loop meter; the heartbeat beats every sampleIntervalMs while the loop is busy instead', err);
    return undefined;
  }
}

/** The addon for GC timing, or undefined where it is not available (createDeadline said why). */
export function nativeAddon(): Native | undefined {
  const loaded = loadNative();
  return 'native' in loaded ? loaded.native : undefined;
}
