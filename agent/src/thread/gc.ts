import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import type { GcType, ThreadState } from './state';

const KIND_TO_TYPE: Readonly<Record<number, GcType>> = {
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

/** Records every GC pause of this thread into its shared state. */
export function observeGc(state: ThreadState, onError: (err: unknown) => void): { stop(): void } {
  const observer = new PerformanceObserver((list) => {
    try {
      // Read every entry: the observer batches, and a busy heap produces several per callback.
      for (const entry of list.getEntries()) {
        const type = KIND_TO_TYPE[gcKind(entry)];
        if (type) state.recordGc(type, entry.duration / 1000);
      }
    } catch (err) {
      onError(err);
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return { stop: () => observer.disconnect() };
}

function gcKind(entry: PerformanceEntry): number {
  const detail = (entry as PerformanceEntry & { detail?: unknown }).detail as { kind?: number } | null | undefined;
  return detail?.kind ?? -1;
}
