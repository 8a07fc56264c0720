/**
 * A stall's id, the same on every thread: made from the monotonic time of the last beat before it (`sinceNs`), which
 * the stalled thread and the watchdog both know. Carries nothing of the app's.
 */
export function stallIdOf(sinceNs: bigint): string {
  return sinceNs.toString(16);
}
