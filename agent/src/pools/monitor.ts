/**
 * `monitorPool`: detect the pool type, attach the adapter, return a handle.
 * Never throws into the application: detection or attach failures go to
 * `onError` and yield a no-op handle.
 */
import type {
  MonitorPoolOptions,
  OnAdapterError,
  PoolKind,
  PoolMonitorHandle,
  PoolSink,
  SinkFactory,
} from './types';
import { reportSafely } from './report';
import { PoolWatch } from './watch';
import { attachPg, isPgPool, type PgPool } from './adapters/pg';
import { attachMysql2, mysql2Core, type Mysql2Pool } from './adapters/mysql2';
import { attachGenericPool, isGenericPool, type GenericPool } from './adapters/generic-pool';
import { attachTarn, isTarnPool, knexTarn, type TarnPool } from './adapters/tarn';
import { attachUndici, isUndiciDispatcher, type UndiciDispatcher } from './adapters/undici';
import { attachPiscina, isPiscina, type Piscina } from './adapters/piscina';
import { attachPlain, isPlainAdapter } from './adapters/custom';
import type { PlainPoolAdapter } from './types';

const NOOP: PoolMonitorHandle = Object.freeze({ detach() {} });

/** The pool kind and the object actually observed (e.g. the core pool of a mysql2 promise pool). */
type Detected =
  | { kind: 'pg'; target: PgPool }
  | { kind: 'mysql2'; target: Mysql2Pool }
  | { kind: 'tarn'; target: TarnPool }
  | { kind: 'generic-pool'; target: GenericPool }
  | { kind: 'piscina'; target: Piscina }
  | { kind: 'undici'; target: UndiciDispatcher }
  | { kind: 'custom'; target: PlainPoolAdapter };

/**
 * Detects the pool kind, trying each in this order. `hint` (options.kind) is checked against the shape.
 * @internal used by test/agent/pools/monitor.test.mjs
 */
export function detectPool(pool: unknown, hint?: PoolKind): Detected | null {
  if (!pool || (typeof pool !== 'object' && typeof pool !== 'function')) return null;
  const tried = (kind: PoolKind): boolean => !hint || hint === kind;
  if (tried('pg') && isPgPool(pool)) return { kind: 'pg', target: pool };
  const core = tried('mysql2') ? mysql2Core(pool) : null;
  if (core) return { kind: 'mysql2', target: core };
  const tarn = tried('tarn') ? (isTarnPool(pool) ? pool : knexTarn(pool)) : null;
  if (tarn) return { kind: 'tarn', target: tarn };
  if (tried('generic-pool') && isGenericPool(pool)) return { kind: 'generic-pool', target: pool };
  if (tried('piscina') && isPiscina(pool)) return { kind: 'piscina', target: pool };
  if (tried('undici') && isUndiciDispatcher(pool)) return { kind: 'undici', target: pool };
  if (tried('custom') && isPlainAdapter(pool)) return { kind: 'custom', target: pool };
  return null;
}

const counters = new Map<PoolKind, number>();
function defaultName(kind: PoolKind): string {
  const n = (counters.get(kind) ?? 0) + 1;
  counters.set(kind, n);
  return n === 1 ? kind : `${kind}-${n}`;
}

export function monitorPool(
  pool: unknown,
  options: MonitorPoolOptions | undefined,
  sinks: SinkFactory,
  onError: OnAdapterError,
  /** Called once when monitoring ends, whoever ends it (detach(), the pool closing, the pool collected). */
  onClosed?: () => void,
): PoolMonitorHandle {
  const report = (err: unknown, where: string): void => reportSafely(onError, err, where);
  try {
    const opts = options ?? {};
    const found = detectPool(pool, opts.kind);
    if (!found) {
      report(
        new TypeError(
          opts.kind
            ? `monitorPool: object does not look like a ${opts.kind} pool`
            : 'monitorPool: unrecognised pool (expected pg, mysql2, generic-pool, tarn/knex, undici, piscina or { max, used, idle, pending })',
        ),
        'monitorPool',
      );
      return NOOP;
    }
    const { kind, target } = found;
    if (PoolWatch.isWatched(target)) {
      report(new Error(`monitorPool: this ${kind} pool is already monitored`), 'monitorPool');
      return NOOP;
    }
    const name = opts.name ?? defaultName(kind);
    const sampleMs = opts.sampleIntervalMs ?? 1000;
    let sink: PoolSink;
    try {
      sink = sinks(name, kind);
    } catch (err) {
      report(err, `monitorPool ${kind}:${name}: sink factory`);
      return NOOP;
    }
    /** Watches `t` with `attach`; a failing attach is reported and unhooked, leaving a no-op handle. */
    const start = <T extends object>(t: T, attach: (watch: PoolWatch<T>, target: T) => void): PoolMonitorHandle => {
      const watch = new PoolWatch(t, name, kind, sink, onError);
      if (onClosed) watch.onClose(onClosed);
      try {
        attach(watch, t);
      } catch (err) {
        watch.report(err, 'attach');
        watch.close();
        return NOOP;
      }
      return { detach: () => watch.close() };
    };
    switch (found.kind) {
      case 'pg':
        return start(found.target, attachPg);
      case 'mysql2':
        return start(found.target, attachMysql2);
      case 'tarn':
        return start(found.target, attachTarn);
      case 'generic-pool':
        return start(found.target, (w, t) => attachGenericPool(w, t, sampleMs));
      case 'piscina':
        return start(found.target, attachPiscina);
      case 'undici':
        return start(found.target, (w, t) => attachUndici(w, t, sampleMs));
      case 'custom':
        return start(found.target, (w, t) => attachPlain(w, t, sampleMs));
    }
  } catch (err) {
    report(err, 'monitorPool');
    return NOOP;
  }
}
