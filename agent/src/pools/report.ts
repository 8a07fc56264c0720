/** Error reporting shared by the pool monitors: nothing they do may throw into the application. */
import { PREFIX, describe, writeStderr } from '../runtime/diag';
import type { OnAdapterError } from './types';

/** Calls `onError`; if that throws too, there is nowhere left to report to — the app must not see it. */
export function reportSafely(onError: OnAdapterError, err: unknown, where: string): void {
  try {
    onError(err, where);
  } catch (e) {
    lastResort(e, where);
  }
}

/**
 * The agent's onError itself failed (it writes to stderr and counts in
 * shared memory, so this means something is badly broken): one line on
 * stderr, at most once, written synchronously and never throwing.
 */
let lastResortUsed = false;
function lastResort(err: unknown, where: string): void {
  if (lastResortUsed) return;
  lastResortUsed = true;
  writeStderr(`${PREFIX} pools: error reporter failed (${where}): ${describe(err)}`);
}
