/**
 * The seam between pool adapters (this directory) and the agent core.
 *
 * Adapters observe a pool and feed a {@link PoolSink}; the core provides the
 * sink (backed by shared memory that the Prometheus endpoint in the watchdog
 * worker and the OTel exporter read at scrape time). Adapters never emit
 * metrics themselves.
 */

export type PoolKind = 'libuv' | 'pg' | 'mysql2' | 'generic-pool' | 'tarn' | 'undici' | 'piscina' | 'custom';

export interface PoolSnapshot {
  max: number;
  used: number;
  idle: number;
  pending: number;
}

/** Where a pool's measurements go. */
export interface PoolSink {
  /** Current levels; call whenever they may have changed (on pool events) — cheap (a few Float64 writes). */
  update(s: PoolSnapshot): void;
  /** Seconds from acquire request to grant (real measurement). */
  observeWait(seconds: number): void;
  /** Seconds a slot was held (grant → release), where measurable. */
  observeUse(seconds: number): void;
  /** An acquire timeout or error. */
  error(type: 'timeout' | 'error'): void;
  /** The pool is closed: stop reporting its series. */
  close(): void;
}

/** Operation families of the libuv threadpool monitor, in index order. */
export const THREADPOOL_FAMILIES = ['fs', 'crypto', 'zlib', 'dns'] as const;

/**
 * Per-family series of the threadpool monitor, indexed like
 * THREADPOOL_FAMILIES. Each call is one Float64 write in shared memory; the
 * values are read at scrape time.
 */
export interface ThreadpoolFamilySink {
  inFlight(family: number, n: number): void;
  submitted(family: number): void;
  close(): void;
}

export interface SinkFactory {
  /**
   * `levels: 'max'`: only the pool's size is known, not its used/idle/pending slots (the libuv threadpool without
   * operation counting): those series are not exported at all rather than reading a made-up 0.
   */
  (name: string, kind: PoolKind, options?: { levels?: 'all' | 'max' }): PoolSink;
  /** Optional: per-family threadpool series (the core's factory provides them). */
  threadpoolFamilies?: () => ThreadpoolFamilySink;
}

export type OnAdapterError = (err: unknown, where: string) => void;

export interface MonitorPoolOptions {
  name?: string;
  kind?: PoolKind;
  /**
   * Extension (optional): how often pools that have no state-change events
   * (undici, custom) are sampled, in ms. Default 1000. Event-driven adapters
   * (pg, mysql2, generic-pool, tarn, piscina) do not poll.
   */
  sampleIntervalMs?: number;
}

export interface PoolMonitorHandle {
  detach(): void;
}

export interface ThreadpoolMonitorOptions {
  /** Period of the queue-wait probe in ms (default 1000). */
  probeIntervalMs?: number;
  /**
   * Count in-flight operations of the built-in threadpool-backed APIs
   * (fs, crypto, zlib, dns) by wrapping their module exports. Default false:
   * it measured +14–21 % CPU per request on a file-serving handler
   * (docs/pools.md). Without it only `max` and the probe's wait time are
   * meaningful (used/idle/pending read 0/max/0).
   */
  countOperations?: boolean;
}

/** Per-family in-flight counts kept by the threadpool monitor. */
export interface ThreadpoolStats {
  size: number;
  inFlight: number;
  byFamily: { fs: number; crypto: number; zlib: number; dns: number };
  probes: number;
  /** Smallest probe round trip seen (s): the probe's intrinsic cost, subtracted from each wait. */
  probeBaseline: number;
  /** Last probe wait (s). */
  lastWait: number;
  /** Builtins (zlib, dns) not wrapped yet because nothing has loaded them. */
  unloaded: string[];
  /** Module exports currently replaced by a counting wrapper (0 with `countOperations: false` and after stop). */
  wrapped: number;
}

export interface ThreadpoolMonitorHandle {
  stop(): void;
  /** Current counts (for the demo console and tests). */
  stats(): ThreadpoolStats;
}

/**
 * Plain adapter: anything else. Each field is a number or a function returning
 * one; `pending` and `idle` are optional (0 / max − used when absent).
 */
export interface PlainPoolAdapter {
  max: number | (() => number);
  used: number | (() => number);
  idle?: number | (() => number);
  pending?: number | (() => number);
}
