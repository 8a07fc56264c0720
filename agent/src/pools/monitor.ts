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
import { attachPg, isPgPool } from './adapters/pg';
import { attachMysql2, mysql2Core } from './adapters/mysql2';
import { attachGenericPool, isGenericPool } from './adapters/generic-pool';
import { attachTarn, isTarnPool, knexTarn } from './adapters/tarn';
import { attachUndici, isUndiciDispatcher } from './adapters/undici';
import { attachPiscina, isPiscina } from './adapters/piscina';
import { attachPlain, isPlainAdapter } from './adapters/custom';

const NOOP: PoolMonitorHandle = Object.freeze({ detach() {} });

interface Detected {
  kind: PoolKind;
  /** The object actually observed (e.g. the core pool of a mysql2 promise pool). */
  target: object;
}

/** Detects the pool kind. `hint` (options.kind) is checked against the shape. */
export function detectPool(pool: unknown, hint?: PoolKind): Detected | null {
  const p = pool as any;
  if (!p || (typeof p !== 'object' && typeof p !== 'function')) return null;
  const tries: Array<[PoolKind, () => object | null]> = [
    ['pg', () => (isPgPool(p) ? p : null)],
    ['mysql2', () => mysql2Core(p)],
    ['tarn', () => (isTarnPool(p) ? p : knexTarn(p))],
    ['generic-pool', () => (isGenericPool(p) ? p : null)],
    ['piscina', () => (isPiscina(p) ? p : null)],
    ['undici', () => (isUndiciDispatcher(p) ? p : null)],
    ['custom', () => (isPlainAdapter(p) ? p : null)],
  ];
  for (const [kind, test] of tries) {
    if (hint && hint !== kind) continue;
    const target = test();
    if (target) return { kind, target };
  }
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
    const watch = new PoolWatch<any>(target, name, kind, sink, onError);
    if (onClosed) watch.onClose(onClosed);
    try {
      switch (kind) {
        case 'pg':
          attachPg(watch, target);
          break;
        case 'mysql2':
          attachMysql2(watch, target);
          break;
        case 'tarn':
          attachTarn(watch, target);
          break;
        case 'generic-pool':
          attachGenericPool(watch, target, sampleMs);
          break;
        case 'piscina':
          attachPiscina(watch, target);
          break;
        case 'undici':
          attachUndici(watch, target, sampleMs);
          break;
        case 'custom':
          attachPlain(watch, target as any, sampleMs);
          break;
        default:
          throw new Error(`no adapter for kind ${kind}`);
      }
    } catch (err) {
      watch.report(err, 'attach');
      watch.close();
      return NOOP;
    }
    return { detach: () => watch.close() };
  } catch (err) {
    report(err, 'monitorPool');
    return NOOP;
  }
}
