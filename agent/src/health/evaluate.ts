import type { ThreadState } from '../channel/thread-state';
import type { SeriesView } from '../metrics/store';
import { FINE_BUCKETS, windowStats } from '../metrics/histogram';
import { ATTR_POOL_NAME, POOL_PENDING } from '../metrics/names';
import { healthyAssumed, type HealthLimits, type HealthSnapshot } from './snapshot';

/** What the evaluation reads: the threads' shared state and the series (pool levels), as ThreadDirectory holds them. */
export interface HealthSource {
  threads(): Iterable<{ readonly id: number; readonly name: string; readonly state: ThreadState }>;
  series(): Iterable<SeriesView>;
}

/** Two cumulative snapshots of one thread's fine delay histogram: the window is what came after `base`. */
interface DelayWindow {
  base: Float64Array;
  baseAt: number;
  next: Float64Array;
  nextAt: number;
  /** The evaluation that last saw the thread (a thread gone since is forgotten). */
  seen: number;
  /** The thread's total stalled time (s) at the last evaluation: a stall that began and ended between two still counts. */
  stallSum: number;
}

/**
 * Health from shared memory only, so any thread can evaluate it — the watchdog for `/livez` `/readyz` while the
 * app's loop is blocked, the app's own thread for `agent.health()`. "Blocked" is the stall in progress exactly as the
 * watchdog reports it (`ThreadState.blockedForMs`, the same reading as its progress lines). Nothing runs unless asked:
 * the delay window advances at evaluations (a probe every few seconds is plenty), so an unprobed agent pays nothing.
 * Readiness has hysteresis: once failed, it comes back only after `recoveryMs` with every condition clear.
 */
export class HealthEvaluator {
  private readonly windows = new Map<number, DelayWindow>();
  private readonly scratch = new Float64Array(FINE_BUCKETS);
  private lastBadMs = -Infinity;
  private generation = 0;

  constructor(
    private readonly limits: HealthLimits,
    /** Monotonic ns (process.hrtime.bigint in production; injected by the tests). */
    private readonly nowNs: () => bigint = () => process.hrtime.bigint(),
  ) {}

  /**
   * `self`: the calling thread's id when it is a monitored thread (agent.health()): a thread running this is not
   * blocked, whatever its heartbeat says (it may not have beaten yet since its last long callback).
   */
  evaluate(source: HealthSource, self?: number): HealthSnapshot {
    const now = this.nowNs();
    const nowMs = Number(now / 1_000_000n);
    const L = this.limits;
    let blockedThread: string | undefined;
    let blockedMs = 0;
    let slowThread: string | undefined;
    let slowP99 = -1;
    let endedStall = false;
    const gen = ++this.generation;
    for (const t of source.threads()) {
      if (!t.state.running) continue;
      const b = t.id === self ? 0 : t.state.blockedForMs(now);
      if (b > blockedMs) {
        blockedMs = b;
        blockedThread = t.name;
      }
      const p99 = this.delayP99Ms(t.id, t.state, nowMs, gen);
      const w = this.windows.get(t.id);
      if (w) {
        // Stalls that ended since the last look (the thread records each when it resumes) fail readiness now, as if
        // seen in progress: the recovery hold counts from their end, not from the last probe that saw them.
        const sum = t.state.stallSum;
        if ((sum - w.stallSum) * 1000 >= L.readinessStallMs) endedStall = true;
        w.stallSum = sum;
      }
      if (p99 !== undefined && p99 > slowP99) {
        slowP99 = p99;
        slowThread = t.name;
      }
    }
    for (const [id, w] of this.windows) if (w.seen !== gen) this.windows.delete(id);
    let pool: string | undefined;
    if (L.readinessPoolPending !== undefined) {
      for (const s of source.series()) {
        if (s.def.name === POOL_PENDING && s.data[0] > L.readinessPoolPending) {
          pool = s.attributes[ATTR_POOL_NAME];
          break;
        }
      }
    }
    const stalled = (blockedMs > 0 && blockedMs >= L.readinessStallMs) || endedStall;
    const delayed = L.readinessDelayMs > 0 && slowP99 > L.readinessDelayMs;
    const bad = stalled || delayed || pool !== undefined;
    if (bad) this.lastBadMs = nowMs;
    const recovering = !bad && nowMs - this.lastBadMs < L.recoveryMs;
    const snap: HealthSnapshot = {
      live: !(blockedMs > 0 && blockedMs >= L.livenessTimeoutMs),
      ready: !bad && !recovering,
      state: blockedMs > 0 ? 'blocked' : delayed || pool !== undefined ? 'saturated' : 'ok',
      blockedForMs: Math.round(blockedMs),
    };
    const thread = blockedMs > 0 ? blockedThread : delayed ? slowThread : undefined;
    if (thread !== undefined) snap.thread = thread;
    if (slowP99 >= 0) snap.delayP99Ms = Math.round(slowP99 * 10) / 10;
    if (pool !== undefined) snap.pool = pool;
    const reason = stalled ? 'stall' : delayed ? 'delay' : pool !== undefined ? 'pool' : recovering ? 'recovering' : undefined;
    if (reason !== undefined) snap.reason = reason;
    return snap;
  }

  /** p99 delay (ms) since the window's base (between one and two windows ago), or undefined without samples. */
  private delayP99Ms(id: number, state: ThreadState, nowMs: number, gen: number): number | undefined {
    const fine = state.delayFine();
    let w = this.windows.get(id);
    if (!w) {
      // First look at this thread: the window starts now (one snapshot pair per thread, allocated once).
      w = { base: Float64Array.from(fine), baseAt: nowMs, next: Float64Array.from(fine), nextAt: nowMs, seen: gen, stallSum: state.stallSum };
      this.windows.set(id, w);
      return undefined;
    }
    w.seen = gen;
    const win = this.limits.delayWindowMs;
    if (nowMs - w.nextAt >= win) {
      // Not looked at for two windows: what lies before `next` is too old to speak for "recent".
      const tmp = w.base;
      w.base = w.next;
      w.baseAt = w.nextAt;
      w.next = tmp;
      w.next.set(fine);
      w.nextAt = nowMs;
      if (nowMs - w.baseAt >= 2 * win) {
        w.base.set(fine);
        w.baseAt = nowMs;
      }
    }
    const d = this.scratch;
    for (let i = 0; i < FINE_BUCKETS; i++) d[i] = fine[i] - w.base[i];
    const stats = windowStats(d, 0, 0);
    return stats ? stats.p99 * 1000 : undefined;
  }
}

/** `agent.health()`: never throws into the app (an evaluation that fails is reported and assumed healthy). */
export function safeHealth(evaluator: HealthEvaluator | undefined, source: HealthSource, self: number, onError: (err: unknown) => void): HealthSnapshot {
  try {
    if (evaluator) return evaluator.evaluate(source, self);
  } catch (err) {
    onError(err);
  }
  return healthyAssumed();
}
