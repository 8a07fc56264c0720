import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { GC_BUCKETS } from '../metrics/names';
import type { Native } from '../runtime/native';
import { GC_TYPES, type GcType, type ThreadState } from '../channel/thread-state';

// Node's GC kinds are V8's GCType values (a PerformanceEntry's detail.kind is the GCType its epilogue got).
const KIND_TO_TYPE: Readonly<Partial<Record<number, GcType>>> = {
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
  // V8's kGCTypeMinorMarkSweep: the young generation's collector under --minor-ms, which Node names no constant for.
  2: 'minor',
};

export interface GcTiming {
  /** Where the pauses come from: V8's GC callbacks through the addon, or a PerformanceObserver. */
  readonly source: 'native' | 'observer';
  stop(): void;
}

/**
 * Records every GC pause of this thread into its shared state: through the native addon's GC timer where it is
 * available (no JavaScript runs per GC), else through a `gc` PerformanceObserver.
 */
export function observeGc(state: ThreadState, onError: (what: string, err: unknown) => void, native?: Native): GcTiming {
  if (native) {
    try {
      // Where the timer is not allowed or V8's callbacks are missing, runtime/internals.ts has said so, once.
      const watch = native.watchGc(state.gcRegion(), GC_BUCKETS, nativeKinds(), (what) => onError(what, undefined));
      return { source: 'native', stop: () => watch.close() };
    } catch (err) {
      // A node binary that does not export V8's GC callbacks (another embedder, a future V8 signature) is
      // expected, and the observer below measures the same pauses; anything else is loopwatch's failure.
      if ((err as NodeJS.ErrnoException | undefined)?.code !== 'LOOPWATCH_NATIVE_GC_UNAVAILABLE') {
        onError('could not time GC natively; a PerformanceObserver measures it instead', err);
      }
    }
  }
  const observer = new PerformanceObserver((list) => {
    try {
      // Read every entry: the observer batches, and a busy heap produces several per callback.
      for (const entry of list.getEntries()) {
        const type = KIND_TO_TYPE[gcKind(entry)];
        if (type) state.recordGc(type, entry.duration / 1000);
      }
    } catch (err) {
      onError('GC observer failed', err);
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return { source: 'observer', stop: () => observer.disconnect() };
}

/** V8 GCType → index of the type's block in ThreadState.gcRegion(), -1 for types not exported. */
function nativeKinds(): Int32Array {
  const kinds = new Int32Array(32).fill(-1);
  for (const [kind, type] of Object.entries(KIND_TO_TYPE)) if (type !== undefined) kinds[Number(kind)] = GC_TYPES.indexOf(type);
  return kinds;
}

function gcKind(entry: PerformanceEntry): number {
  const detail = (entry as PerformanceEntry & { detail?: unknown }).detail as { kind?: number } | null | undefined;
  return detail?.kind ?? -1;
}
