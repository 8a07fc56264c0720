import type { ThreadDirectory } from '../threads/directory';

/** Progress marks (seconds) at which an ongoing stall is reported on stderr. */
const MARKS = [1, 5, 10, 30, 60, 120, 300, 600];

/**
 * Watches every thread's heartbeat from the watchdog thread and tells when a
 * stall starts, how it goes and when it ends — while the stalled thread
 * itself cannot run any code.
 */
export class StallWatch {
  private readonly ongoing = new Map<number, { nextMark: number }>();

  constructor(
    private readonly directory: ThreadDirectory,
    private readonly report: boolean,
    private readonly write: (line: string) => void,
    private readonly hooks: {
      onStallStart?(threadId: number): void;
      onStallEnd?(threadId: number): void;
    } = {},
  ) {}

  poll(nowNs: bigint): void {
    for (const t of this.directory.threads()) {
      const blockedMs = t.state.blockedForMs(nowNs);
      const current = this.ongoing.get(t.id);
      if (blockedMs > 0) {
        if (!current) {
          this.ongoing.set(t.id, { nextMark: 0 });
          this.hooks.onStallStart?.(t.id);
        }
        const entry = this.ongoing.get(t.id)!;
        const mark = MARKS[entry.nextMark];
        if (this.report && mark !== undefined && blockedMs >= mark * 1000) {
          this.write(`thread "${t.name}" has been blocked for ${(blockedMs / 1000).toFixed(1)} s (stall in progress)`);
          entry.nextMark++;
        }
      } else if (current) {
        this.ongoing.delete(t.id);
        this.hooks.onStallEnd?.(t.id);
      }
    }
  }
}
