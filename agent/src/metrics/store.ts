import { bucketIndex } from './histogram';
import { ATTR_POOL_KIND, ATTR_POOL_NAME, ATTR_THREAD_NAME, metricDefinition, type MetricDefinition } from './names';

/** Partial: a lookup of a key the series does not carry is undefined, and the code checks for it. */
export type Attributes = Readonly<Partial<Record<string, string>>>;

/** A metric series living in shared memory, announced to other threads by message. */
export interface SeriesAnnouncement {
  id: string;
  name: string;
  attributes: Attributes;
  buffer: SharedArrayBuffer;
}

export interface SeriesView {
  readonly id: string;
  readonly def: MetricDefinition;
  readonly attributes: Attributes;
  /** gauge/counter: [value]; histogram: [count per bucket…, +Inf, sum]. */
  readonly data: Float64Array;
}

export interface GaugeHandle {
  set(value: number): void;
}
export interface CounterHandle {
  add(value: number): void;
}
export interface HistogramHandle {
  observe(value: number): void;
}

/**
 * Series that any thread creates (pool levels, self-metrics) and the watchdog
 * and exporters read at scrape time. Creating a series allocates; updating it
 * is a few Float64 writes.
 */
export class SeriesStore {
  private seq = 0;
  private readonly own = new Map<string, SeriesView>();

  constructor(
    private readonly prefix: string,
    private readonly registry: SeriesRegistry,
    private readonly announce: (msg: { add?: SeriesAnnouncement; remove?: string }) => void,
  ) {}

  gauge(name: string, attributes: Attributes): GaugeHandle & { remove(): void } {
    const view = this.create(name, attributes);
    return {
      set: (v) => {
        view.data[0] = v;
      },
      remove: () => this.remove(view.id),
    };
  }

  counter(name: string, attributes: Attributes): CounterHandle & { remove(): void } {
    const view = this.create(name, attributes);
    return {
      add: (v) => {
        view.data[0] += v;
      },
      remove: () => this.remove(view.id),
    };
  }

  histogram(name: string, attributes: Attributes): HistogramHandle & { remove(): void } {
    const view = this.create(name, attributes);
    const bounds = view.def.buckets ?? [];
    const sumIndex = bounds.length + 1;
    return {
      observe: (v) => {
        view.data[bucketIndex(bounds, v)]++;
        view.data[sumIndex] += v;
      },
      remove: () => this.remove(view.id),
    };
  }

  /** Re-sends every live series (a watchdog that started late asks for them). */
  announceAll(): void {
    for (const v of this.own.values()) {
      this.announce({ add: { id: v.id, name: v.def.name, attributes: v.attributes, buffer: v.data.buffer as SharedArrayBuffer } });
    }
  }

  removeAll(): void {
    for (const id of [...this.own.keys()]) this.remove(id);
  }

  private create(name: string, attributes: Attributes): SeriesView {
    const def = metricDefinition(name);
    const slots = def.kind === 'histogram' ? (def.buckets?.length ?? 0) + 2 : 1;
    const buffer = new SharedArrayBuffer(slots * 8);
    const msg: SeriesAnnouncement = { id: `${this.prefix}:${++this.seq}`, name, attributes: { ...attributes }, buffer };
    const view = this.registry.add(msg);
    this.own.set(view.id, view);
    this.announce({ add: msg });
    return view;
  }

  private remove(id: string): void {
    if (!this.own.delete(id)) return;
    this.registry.remove(id);
    this.announce({ remove: id });
  }
}

/** All series visible to one thread: its own and those other threads announced. */
export class SeriesRegistry {
  private readonly series = new Map<string, SeriesView>();
  /** Thread-name labels that differ from what the thread calls itself, by series id prefix (see ThreadDirectory). */
  private readonly relabelled = new Map<string, string>();
  /**
   * The thread (series id prefix) that first reported each pool (`kind|name`). Pool series carry no thread label, so
   * a pool of the same kind and name in another thread — each worker of a pool opening its own "pg" — is exported as
   * `<name>@<threadId>` instead of colliding (Prometheus drops duplicate series, OpenTelemetry keeps the last).
   */
  private readonly poolOwners = new Map<string, string>();

  add(msg: SeriesAnnouncement): SeriesView {
    const view: SeriesView = {
      id: msg.id,
      def: metricDefinition(msg.name),
      attributes: this.relabel(msg.id, this.ownPool(msg.id, msg.attributes)),
      data: new Float64Array(msg.buffer),
    };
    this.series.set(msg.id, view);
    return view;
  }

  /**
   * Exports the series whose id starts with `prefix` (one thread's) with `thread.name` = `label`, those already
   * announced and those to come; `undefined` forgets the prefix.
   */
  labelThread(prefix: string, label: string | undefined): void {
    if (label === undefined) {
      this.relabelled.delete(prefix);
      return;
    }
    this.relabelled.set(prefix, label);
    for (const [id, view] of this.series) {
      if (id.startsWith(prefix)) this.series.set(id, { ...view, attributes: this.relabel(id, view.attributes) });
    }
  }

  private ownPool(id: string, attributes: Attributes): Attributes {
    const pool = attributes[ATTR_POOL_NAME];
    if (pool === undefined) return attributes;
    const prefix = id.slice(0, id.indexOf(':') + 1);
    const key = `${attributes[ATTR_POOL_KIND] ?? ''}|${pool}`;
    const owner = this.poolOwners.get(key);
    if (owner === undefined) this.poolOwners.set(key, prefix);
    else if (owner !== prefix) return { ...attributes, [ATTR_POOL_NAME]: `${pool}@${prefix.slice(0, -1)}` };
    return attributes;
  }

  private relabel(id: string, attributes: Attributes): Attributes {
    if (this.relabelled.size === 0 || attributes[ATTR_THREAD_NAME] === undefined) return attributes;
    const label = this.relabelled.get(id.slice(0, id.indexOf(':') + 1));
    return label === undefined || attributes[ATTR_THREAD_NAME] === label ? attributes : { ...attributes, [ATTR_THREAD_NAME]: label };
  }

  remove(id: string): void {
    this.series.delete(id);
  }

  /** Drops every series whose id starts with `prefix` (a thread that went away). */
  removePrefix(prefix: string): void {
    for (const id of this.series.keys()) if (id.startsWith(prefix)) this.series.delete(id);
    for (const [key, owner] of this.poolOwners) if (owner === prefix) this.poolOwners.delete(key);
  }

  values(): IterableIterator<SeriesView> {
    return this.series.values();
  }
}
