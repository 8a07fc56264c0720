/**
 * A worker thread inside `Atomics.wait` is waiting for work (piscina's and synckit's idle loops park their workers
 * there), not stalled: its heartbeat cannot run, so without this the watchdog would see every idle worker as
 * blocked for as long as it idles, and the first beat after the wait would measure the wait as a stall.
 *
 * On worker threads only, `Atomics.wait` is replaced by a transparent wrapper (same name, length, return values
 * and exceptions; not a constructor, like the original) that tells the heartbeat when the thread parks and when it
 * resumes. The main thread's `Atomics.wait` is left alone: nothing else can run there while it waits, so it is
 * the stall it looks like. `Atomics.waitAsync` does not block and is not touched.
 */

type Wait = (typedArray: Int32Array | BigInt64Array, index: number, value: number | bigint, timeout?: number) => string;

export interface IdleWaitHooks {
  /** The thread is about to wait. */
  park(): void;
  /** The wait of `waitNs` returned (or threw). */
  resume(waitNs: bigint): void;
}

/**
 * Installs the wrapper on this thread's `Atomics`; returns what uninstalls it (which leaves in place a wrapper
 * someone else installed over ours), or undefined when `Atomics.wait` cannot be replaced here. The hooks must not
 * throw (the caller catches and reports): the wrapper never adds an exception of its own to the app's wait.
 */
export function wrapAtomicsWait(hooks: IdleWaitHooks): (() => void) | undefined {
  const descriptor = Object.getOwnPropertyDescriptor(Atomics, 'wait');
  if (!descriptor || typeof descriptor.value !== 'function' || !descriptor.configurable) return undefined;
  const original = descriptor.value as Wait;
  // A method (not a function expression): like the built-in, it has no prototype and cannot be called with `new`.
  const holder = {
    wait(typedArray: Int32Array | BigInt64Array, index: number, value: number | bigint, timeout?: number): string {
      hooks.park();
      const t0 = process.hrtime.bigint();
      try {
        // A missing argument is `undefined` either way (a missing timeout is an infinite one in both).
        return original.call(Atomics, typedArray, index, value, timeout);
      } finally {
        hooks.resume(process.hrtime.bigint() - t0);
      }
    },
  };
  const wrapper: Wait = Reflect.get(holder, 'wait');
  Object.defineProperty(Atomics, 'wait', { ...descriptor, value: wrapper });
  return () => {
    if (Atomics.wait === (wrapper as unknown)) Object.defineProperty(Atomics, 'wait', descriptor);
  };
}
