/**
 * The thread's own notes on the stall in progress, written by the getter inside the blocked code (a V8 interrupt)
 * and taken once by the stall pipeline at the first heartbeat after the stall. One mark at a time: bounded.
 */
import type { StackEvidence } from './aggregate';
import { CulpritTally, decideCulprit } from './culprit';
import type { SpanLike } from './spans';
import { weighSamples } from './stall-timing';
import type { GraphqlOperation } from '../types';
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
  /** The GraphQL operation a plugin attached to that request, at the same sample as `route`. */
  readonly graphqlOperation: GraphqlOperation | undefined;
  /** On-time samples by culprit frame: the same tally as the watchdog's aggregate, over the same samples. */
  readonly tally: CulpritTally<AttributionSample>;
  /** On-time samples, also those with an empty stack (which the tally does not count). */
  onTime: number;
  /** Periods covered only by late samples (read after a non-interruptible call returned): never tallied. */
  late: number;
}

/**
 * The stall's evidence as this mark's samples show it, by the watchdog aggregate's rule (`weighSamples`): the culprit
 * (from the sample the leader was first seen in, the raw stack it is shown with), how the stack was read and the
 * culprit's share. The stall record keeps the first reading (stall/record.ts).
 */
export function markEvidence(m: StallMark<unknown>): StackEvidence {
  const leader = m.tally.leader();
  const { stackSource, confidence } = weighSamples(leader?.samples ?? 0, m.onTime, m.late);
  const culprit = stackSource === 'sampled' && leader ? decideCulprit(leader.first.frames) : undefined;
  return { culprit, stackSource, confidence };
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
    else {
      m.onTime++;
      m.tally.add(sample);
    }
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
      graphqlOperation: sample.graphqlOperation,
      tally,
      onTime: sample.late ? 0 : 1,
      late: sample.late ? sample.missed ?? 1 : 0,
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
