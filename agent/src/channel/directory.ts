import { SeriesRegistry, type SeriesView } from '../metrics/store';
import { ThreadState } from './thread-state';
import type { ChannelMessage } from './messages';

export interface MonitoredThread {
  readonly id: number;
  readonly name: string;
  readonly state: ThreadState;
}

/** What the metric collectors read at scrape time: every monitored thread's shared state, and every series. */
export interface MetricSource {
  threads(): Iterable<MonitoredThread>;
  series(): Iterable<SeriesView>;
}

/** Label cardinality bound: at most this many threads are reported per process. */
const MAX_THREADS = 64;
/** How many ended threads are remembered (a late announcement comes within moments of the end). */
const MAX_EXITED = 1024;

/** The thread id a series id belongs to (`<threadId>:…`). */
function threadOf(seriesId: string): number {
  return Number(seriesId.slice(0, seriesId.indexOf(':')));
}

/** What one reader (the watchdog, or the main thread's exporters) knows about the process's monitored threads. */
export class ThreadDirectory implements MetricSource {
  private readonly byId = new Map<number, MonitoredThread>();
  /**
   * Threads that ended (thread ids are never reused in a process): their announcements can arrive after the news
   * of their end, on another channel, and must not bring them back as threads blocked for good. Bounded.
   */
  private readonly exited = new Set<number>();
  readonly registry = new SeriesRegistry();

  constructor(private readonly onOverflow: (name: string) => void = () => {}) {}

  add(id: number, name: string, state: ThreadState): void {
    if (!this.byId.has(id) && this.byId.size >= MAX_THREADS) return this.onOverflow(name);
    // Live threads sharing a name (a pool of workers given one name) would export duplicate series, which Prometheus
    // drops and OpenTelemetry overwrites: the later ones are told apart by their thread id, their own series too.
    let label = name;
    for (const t of this.byId.values()) {
      if (t.id !== id && t.name === name) {
        label = `${name}#${id}`;
        break;
      }
    }
    this.byId.set(id, { id, name: label, state });
    if (label !== name) this.registry.labelThread(`${id}:`, label);
  }

  remove(id: number): void {
    this.byId.delete(id);
    this.registry.removePrefix(`${id}:`);
    this.registry.labelThread(`${id}:`, undefined);
  }

  get(id: number): MonitoredThread | undefined {
    return this.byId.get(id);
  }

  /** Applies a channel message; returns true if it was about threads or series. */
  apply(msg: ChannelMessage): boolean {
    switch (msg.type) {
      case 'thread':
        if (!this.exited.has(msg.id)) this.add(msg.id, msg.name, new ThreadState(msg.buffer));
        return true;
      case 'thread-gone':
        if (msg.exited) this.markExited(msg.id);
        this.remove(msg.id);
        return true;
      case 'series':
        if (msg.add && !this.exited.has(threadOf(msg.add.id))) this.registry.add(msg.add);
        if (msg.remove) this.registry.remove(msg.remove);
        return true;
      default:
        return false;
    }
  }

  private markExited(id: number): void {
    this.exited.add(id);
    if (this.exited.size <= MAX_EXITED) return;
    const oldest = this.exited.values().next();
    if (!oldest.done) this.exited.delete(oldest.value);
  }

  threads(): Iterable<MonitoredThread> {
    return this.byId.values();
  }

  series(): Iterable<SeriesView> {
    return this.registry.values();
  }
}
