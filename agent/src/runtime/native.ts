import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { markUnavailable, nativeGcTimerAllowed, type InternalsReport } from './internals';

/**
 * loopwatch's optional native addon (agent/native/, Linux):
 * - deadline.c: a kernel timer per monitored thread that the thread pushes back on every heartbeat and the
 *   watchdog polls, so the watchdog wakes only when a heartbeat is overdue;
 * - meter.c: a loop meter that measures each event-loop iteration's busy span, so a stall's duration is exact
 *   without a 10 ms heartbeat;
 * - gc.c: a GC timer that adds each GC pause to the thread's histogram from V8's GC callbacks, without the
 *   PerformanceEntry object and JavaScript callback a `gc` PerformanceObserver costs per GC.
 *   Used only on the V8 versions its tests ran on (runtime/internals.ts, `v8.gcCallbacks`).
 * Without it (another OS, a binary that does not load, `native: false`) the watchdog looks on its own timer,
 * about once per stall threshold, the heartbeat beats every `sampleIntervalMs` while the loop is busy, and GC
 * pauses come from a PerformanceObserver.
 */

/** A timer owned by the thread that created it. */
export interface Deadline {
  /** Fire once `ms` from now (0 disarms); false if the kernel refused. */
  arm(ms: number): boolean;
  /**
   * Its process-wide id, for the watchdog (-1 once closed). An id, not the descriptor number: a number read later
   * may name another file by then, and the watchdog must never touch a descriptor that is not loopwatch's.
   */
  readonly id: number;
  /** Disarm and close (idempotent). */
  close(): void;
}

/** The watchdog's poll of a deadline created by another thread. */
export interface DeadlineWatch {
  /** Stop and release (idempotent). */
  close(): void;
}

/**
 * The calling thread's loop meter: `cells` (see agent/native/meter.c) is written by the loop's prepare phase and
 * read — and its longest span reset — by the heartbeat (LoopSampler), on the same thread.
 */
export interface LoopMeter {
  readonly cells: Float64Array;
  /** Stop measuring (idempotent). */
  close(): void;
}

/** The calling thread's GC timer (gc.c). */
interface GcWatch {
  /** Stop timing (idempotent). */
  close(): void;
}

export interface Native {
  createDeadline(): Deadline;
  createMeter(): LoopMeter;
  /**
   * Times every GC of the calling thread into `region` (per GC type: a count per bucket of `bounds`, upper bounds
   * inclusive, then +Inf, then the sum of seconds); `kinds[v8GcType]` is the type's block index, -1 to skip it.
   * Throws with code `LOOPWATCH_NATIVE_GC_UNAVAILABLE` on a V8 the timer was not tested on (nothing is looked up
   * there) or where the node binary does not export V8's GC callbacks; either is said once through `onError`.
   */
  watchGc(region: Float64Array, bounds: readonly number[], kinds: Int32Array, onError?: InternalsReport): GcWatch;
  /**
   * Polls a deadline (by id) in this thread's event loop; `onFire` runs each time it fires. Throws with code
   * `LOOPWATCH_DEADLINE_GONE` if it was closed since its id was read.
   */
  watch(id: number, onFire: () => void): DeadlineWatch;
}

interface Binding {
  create(): object;
  arm(d: object, ms: number): boolean;
  id(d: object): number;
  close(d: object): void;
  watch(id: number, cb: () => void): object;
  unwatch(w: object): void;
  meter(cells: Float64Array): object;
  unmeter(m: object): void;
  gcwatch(region: Float64Array, bounds: Float64Array, kinds: Int32Array): object;
  ungcwatch(w: object): void;
}

/**
 * Where the build puts the addon for this platform (scripts/run.mjs).
 * @internal used by test/agent/native.test.mjs
 */
export const NATIVE_PATH = join(__dirname, '..', 'native', `loopwatch.${process.platform}-${process.arch}.node`);

/**
 * The C library this Linux process runs on: Alpine's musl or glibc. Read from what the process has mapped (musl's
 * loader on a glibc machine — musl-tools installs one — says nothing about this process).
 */
function linuxLibc(): 'musl' | 'glibc' {
  try {
    return /\/ld-musl-|\/libc\.musl-/.test(readFileSync('/proc/self/maps', 'latin1')) ? 'musl' : 'glibc';
  } catch {
    return 'glibc'; // no /proc: the glibc build is tried, and a wrong guess is a failed load, said once, not a crash
  }
}

/**
 * Where the addon may be, best first: the one built for this machine (a source checkout, or the package's own
 * build), then the package's prebuilt one for this platform (`prebuilds/linux-<arch>[-musl]/`, built by
 * scripts/run.mjs at pack time). Only files that exist: a missing binary is a fallback, never a crash.
 */
function nativeCandidates(libc: 'musl' | 'glibc' = linuxLibc()): string[] {
  const target = `${process.platform}-${process.arch}${libc === 'musl' ? '-musl' : ''}`;
  const built = libc === 'glibc' ? [NATIVE_PATH] : [];
  return [...built, join(__dirname, '..', '..', 'prebuilds', target, 'loopwatch.node')].filter((f) => existsSync(f));
}

let loaded: { native: Native } | { error: string } | undefined;

/** The addon, or why it is not there. Loaded once per thread (N-API: each thread gets its own instance). */
export function loadNative(): { native: Native } | { error: string } {
  if (loaded) return loaded;
  if (process.platform !== 'linux') return (loaded = { error: `no native addon for ${process.platform} (Linux only)` });
  const libc = linuxLibc();
  const candidates = nativeCandidates(libc);
  if (!candidates.length) return (loaded = { error: `no native addon for ${process.platform}-${process.arch} (${libc}) in this package` });
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const b = require(candidates[0]) as Binding;
    loaded = {
      native: {
        createDeadline(): Deadline {
          const d = b.create();
          return {
            arm: (ms) => b.arm(d, ms),
            get id() {
              return b.id(d);
            },
            close: () => b.close(d),
          };
        },
        createMeter(): LoopMeter {
          // Over an ArrayBuffer of its own: a small typed array's storage may otherwise live on V8's heap and move.
          const cells = new Float64Array(new ArrayBuffer(7 * Float64Array.BYTES_PER_ELEMENT));
          const m = b.meter(cells);
          return { cells, close: () => b.unmeter(m) };
        },
        watch(id, onFire) {
          const w = b.watch(id, onFire);
          return { close: () => b.unwatch(w) };
        },
        watchGc(region, bounds, kinds, onError) {
          // A mangled name that resolves on an untested V8 could mean another signature: never call it there.
          if (!nativeGcTimerAllowed(onError)) throw gcUnavailable(`V8 ${process.versions.v8} is not a version the native GC timer was tested on`);
          let w: object;
          try {
            w = b.gcwatch(region, Float64Array.from(bounds), kinds);
          } catch (err) {
            if ((err as NodeJS.ErrnoException | undefined)?.code === 'LOOPWATCH_NATIVE_GC_UNAVAILABLE') {
              markUnavailable('v8.gcCallbacks', (err as Error).message, onError);
            }
            throw err;
          }
          return { close: () => b.ungcwatch(w) };
        },
      },
    };
  } catch (err) {
    // The first line only: a dlopen error carries no require stack worth printing.
    loaded = { error: `native addon not loaded (${(err instanceof Error ? err.message : String(err)).split('\n')[0]})` };
  }
  return loaded;
}

function gcUnavailable(message: string): Error {
  return Object.assign(new Error(message), { code: 'LOOPWATCH_NATIVE_GC_UNAVAILABLE' });
}
