import { loadNative, type DeadlineWatch, type Native } from '../runtime/native';

/** A thread as the watchdog's deadline bookkeeping sees it (ThreadDirectory's entries). */
export interface DeadlineThread {
  id: number;
  state: { running: boolean; deadlineId: number | undefined };
}

/**
 * The watchdog's side of the native deadlines: one poll per monitored thread that has one, kept in step with the
 * thread directory. A thread without one (no addon, `native: false`, or it gave its deadline up) is not covered,
 * and the watchdog keeps polling it on a timer.
 */
export class DeadlineWatches {
  private readonly watches = new Map<number, { id: number; watch: DeadlineWatch }>();
  /** Loaded at the first thread that has a deadline (a watchdog without any never loads the addon). */
  private native: Native | undefined;
  /** Deadlines that could not be watched, not tried again (the thread stays polled on a timer). */
  private readonly refused = new Set<string>();

  constructor(
    private readonly onError: (message: string, err?: unknown) => void,
    private readonly onFire: () => void,
    private readonly load: () => ReturnType<typeof loadNative> = loadNative,
  ) {}

  /** Is this thread's heartbeat watched by its deadline (no timer needed for it)? */
  covers(threadId: number): boolean {
    return this.watches.has(threadId);
  }

  sync(threads: Iterable<DeadlineThread>): void {
    const seen = new Set<number>();
    for (const t of threads) {
      seen.add(t.id);
      const id = t.state.running ? t.state.deadlineId : undefined;
      const current = this.watches.get(t.id);
      if (current && current.id !== id) this.release(t.id);
      if (id === undefined || this.watches.has(t.id)) continue;
      const key = `${t.id}:${id}`;
      if (this.refused.has(key)) continue;
      const native = this.native ?? this.loadNative();
      if (!native) {
        this.refused.add(key);
        continue;
      }
      try {
        this.watches.set(t.id, { id, watch: native.watch(id, this.fire) });
      } catch (err) {
        this.refused.add(key);
        if (this.refused.size > 1024) this.refused.clear();
        // Closed since the thread published it (it is stopping): nothing is wrong.
        if ((err as { code?: unknown }).code === 'LOOPWATCH_DEADLINE_GONE') continue;
        this.onError('could not watch a thread\'s native deadline; polling it on a timer instead', err);
      }
    }
    for (const id of this.watches.keys()) if (!seen.has(id)) this.release(id);
  }

  /** Releases every poll (the watchdog is going away). */
  close(): void {
    for (const id of [...this.watches.keys()]) this.release(id);
  }

  private readonly fire = (): void => {
    try {
      this.onFire();
    } catch (err) {
      this.onError('deadline callback failed', err);
    }
  };

  private release(id: number): void {
    const w = this.watches.get(id);
    this.watches.delete(id);
    try {
      w?.watch.close();
    } catch (err) {
      this.onError('could not release a native deadline', err);
    }
  }

  private loadNative(): Native | undefined {
    const loaded = this.load();
    if ('error' in loaded) {
      // The monitored thread loaded it (it has a deadline), so this is unexpected: say so once.
      this.onError(loaded.error);
      return undefined;
    }
    this.native = loaded.native;
    return this.native;
  }
}
