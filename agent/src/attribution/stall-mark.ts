/**
 * The thread's own notes on the stall in progress, written by the getter inside the blocked code (a V8 interrupt)
 * and taken once by the stall pipeline at the first heartbeat after the stall. One mark at a time: bounded.
 */
import { CulpritTally, decideCulprit, type Culprit } from './culprit';
import type { SpanLike } from './spans';
import type { AttributionSample } from './thread-types';

/** A sample this long after the previous one belongs to another stall (samples of one stall are ≤ 50 ms apart). */
export const MARK_STALE_NS = 1_000_000_000n;

export interface StallMark<R> {
  /** hrtime of the first sample of this stall, and of the latest. */
  readonly atNs: bigint;
  lastNs: bigint;
  /** The request the blocked code ran for, at the first sample. */
  readonly request: R | undefined;
  /** Span active in the blocked code at the first sample. */
  readonly activeSpan: SpanLike | undefined;
  /** Requests in flight at the first sample (the ones the stall delays), kept only with span events. */
  readonly inflight: readonly R[];
  /** How many requests were in flight at the first sample (undefined: could not be counted). */
  readonly requestsInFlight: number | undefined;
  readonly route: string | undefined;
  /** On-time samples by culprit frame: the same tally as the watchdog's aggregate, over the same samples. */
  readonly tally: CulpritTally<AttributionSample>;
  /** Periods covered only by late samples (read after a non-interruptible call returned): never tallied. */
  late: number;
  /** The culprit, fixed the first time it is read (a span event written with it), so later readers agree. */
  culprit: Culprit | undefined;
  /** Spans already marked because their request ended before the pipeline took the mark. */
  flushed: Set<SpanLike> | undefined;
}

/** The stall's culprit as far as this mark knows, decided once: every later call returns the same. */
export function markCulprit(m: StallMark<unknown>): Culprit | undefined {
  if (m.culprit) return m.culprit;
  const leader = m.tally.leader();
  // Unknown (late) time at least the leader's: the block was mostly where no sample could look (aggregate.ts).
  if (!leader || m.late >= leader.samples) return undefined;
  // The sample the leader was first seen in (the raw stack the culprit is shown with).
  m.culprit = decideCulprit(leader.first.frames);
  return m.culprit;
}

/** Holds the current mark. */
export class StallMarks<R> {
  private mark: StallMark<R> | undefined;

  /** The mark of the stall a sample taken at `nowNs` belongs to, if one is in progress. */
  live(nowNs: bigint): StallMark<R> | undefined {
    const m = this.mark;
    return m !== undefined && nowNs - m.lastNs < MARK_STALE_NS ? m : undefined;
  }

  /** Counts a sample for the stall in progress (inside the interrupt: no allocation beyond the tally's entry). */
  continueWith(m: StallMark<R>, sample: AttributionSample, nowNs: bigint): void {
    m.lastNs = nowNs;
    if (sample.late) m.late += sample.missed ?? 1;
    else m.tally.add(sample);
  }

  /** Starts the mark of a new stall at its first sample. */
  begin(sample: AttributionSample, nowNs: bigint, request: R | undefined, activeSpan: SpanLike | undefined, inflight: readonly R[]): void {
    const tally = new CulpritTally<AttributionSample>();
    if (!sample.late) tally.add(sample);
    this.mark = {
      atNs: nowNs,
      lastNs: nowNs,
      request,
      activeSpan,
      inflight,
      requestsInFlight: sample.inflight,
      route: sample.route,
      tally,
      late: sample.late ? sample.missed ?? 1 : 0,
      culprit: undefined,
      flushed: undefined,
    };
  }

  /**
   * The mark of the stall between the beats at `sinceNs` and `endNs`, once. A mark from before this stall (a
   * sample with no stall detected on this side) is dropped; one begun after `endNs` is left for the next stall.
   */
  take(sinceNs: bigint, endNs: bigint): StallMark<R> | undefined {
    const m = this.mark;
    if (!m || m.atNs > endNs) return undefined;
    this.mark = undefined;
    return m.atNs < sinceNs ? undefined : m;
  }

  clear(): void {
    this.mark = undefined;
  }
}
