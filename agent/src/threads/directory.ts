import type { MetricSource, MonitoredThread } from '../metrics/collect';
import { SeriesRegistry, type SeriesView } from '../metrics/store';
import { ThreadState } from '../thread/state';
import type { ChannelMessage } from './channel';

/** Label cardinality bound: at most this many threads are reported per process. */
export const MAX_THREADS = 64;

/** What one reader (the watchdog, or the main thread's exporters) knows about the process's monitored threads. */
export class ThreadDirectory implements MetricSource {
  private readonly byId = new Map<number, MonitoredThread>();
  readonly registry = new SeriesRegistry();

  constructor(private readonly onOverflow: (name: string) => void = () => {}) {}

  add(id: number, name: string, state: ThreadState): void {
    if (!this.byId.has(id) && this.byId.size >= MAX_THREADS) return this.onOverflow(name);
    this.byId.set(id, { id, name, state });
  }

  remove(id: number): void {
    this.byId.delete(id);
    this.registry.removePrefix(`${id}:`);
  }

  get(id: number): MonitoredThread | undefined {
    return this.byId.get(id);
  }

  /** Applies a channel message; returns true if it was about threads or series. */
  apply(msg: ChannelMessage): boolean {
    switch (msg.type) {
      case 'thread':
        this.add(msg.id, msg.name, new ThreadState(msg.buffer));
        return true;
      case 'thread-gone':
        this.remove(msg.id);
        return true;
      case 'series':
        if (msg.add) this.registry.add(msg.add);
        if (msg.remove) this.registry.remove(msg.remove);
        return true;
      default:
        return false;
    }
  }

  threads(): Iterable<MonitoredThread> {
    return this.byId.values();
  }

  series(): Iterable<SeriesView> {
    return this.registry.values();
  }
}
