/**
 * One stall, as every consumer reads it: its duration and start are measured once and its culprit decided once,
 * and the stall event, its span events, the culprit counter, the exemplar, the console line and the log record are
 * all written from this record (the last three through the event, which is what crosses threads).
 */
import { culpritOfAttribution, mergeAttribution, mergeDeep, type StallAttribution, type StallAttributionFields } from '../attribution/aggregate';
import type { Culprit } from '../attribution/culprit';
import type { Arrivals } from '../attribution/connections';
import type { LongCallback } from '../attribution/deep';
import type { DetectedStall, SamplerClock } from '../heartbeat/sampler';
import type { StallEvent } from '../types';
import { stallIdOf } from './stall-id';

export interface StallRecord {
  readonly thread: string;
  /** Monotonic ns of the last beat before the stall: identifies it (across threads too). */
  readonly sinceNs: bigint;
  /**
   * How long the thread ran without yielding: the heartbeat's measure (sampler.ts). Only span events written before
   * the beat (their request ended first) carry `recordEndingNow`'s, the same measure as a beat without a loop meter.
   */
  readonly durationMs: number;
  /** Epoch ms when the block began. */
  readonly startTime: number;
  /**
   * Decided once: from the thread's own samples when it has them (that is what early span events carry), else
   * from the watchdog's attribution when it arrives. Undefined: unknown.
   */
  culprit: Culprit | undefined;
  /** The requests that arrived while it blocked, counted after it (attribution/connections.ts watchArrivals). */
  arrivals?: Arrivals;
}

/**
 * The event's victims with the requests that arrived during the stall added (they were in no in-flight list while
 * it blocked). Where the in-flight part is unknown (`victims` left out) the sum is too, and stays left out.
 */
export function addArrivals(event: StallEvent, record: StallRecord): void {
  const n = record.arrivals?.count ?? 0;
  if (n > 0 && event.victims !== undefined) event.victims += n;
}

/** The parts of the thread's shared state read to time a stall no beat has measured yet. */
export interface LoopState {
  readonly loopActiveMs: number;
  readonly lastBeatNs: bigint;
  readonly thresholdMs: number;
}

/** A stall the heartbeat measured (the sampler: busy time between two beats, or the loop meter's busy span). */
export function recordOfDetected(stall: DetectedStall, thread: string): StallRecord {
  return { thread, sinceNs: stall.sinceNs, durationMs: stall.durationMs, startTime: stall.startTime, culprit: undefined };
}

/**
 * A stall that is over now (a request it delayed is ending) but that no beat has measured yet: measured the way
 * the heartbeat will, as the loop's busy time since the last beat capped by wall time. Undefined when that is
 * under the threshold (no stall).
 */
export function recordEndingNow(loop: LoopState, clock: SamplerClock, thread: string): StallRecord | undefined {
  const durationMs = Math.min(clock.loopTime().active - loop.loopActiveMs, Number(clock.nowNs() - loop.lastBeatNs) / 1e6);
  if (!(durationMs >= loop.thresholdMs)) return undefined;
  return { thread, sinceNs: loop.lastBeatNs, durationMs, startTime: clock.wallMs() - durationMs, culprit: undefined };
}

/**
 * The stall event of a record, with the watchdog's attribution (if it came) and deep mode's callback merged in.
 * The record's culprit, when decided, is the event's; otherwise the attribution's decides it, and the record
 * keeps that. Source-maps frames: call it on the stalled thread.
 */
export function eventOf(record: StallRecord, attribution: StallAttribution | undefined, deep: LongCallback | undefined): StallEvent & StallAttributionFields {
  const base: StallEvent = { durationMs: record.durationMs, startTime: record.startTime, thread: record.thread, stack: [], stallId: stallIdOf(record.sinceNs), stackSource: 'none' };
  if (!record.culprit && attribution) record.culprit = culpritOfAttribution(attribution);
  const event: StallEvent & StallAttributionFields = mergeAttribution(base, attribution, undefined, record.culprit);
  // No word from the watchdog (it timed out, or the agent is stopping): the thread's own samples still name the code
  // its span events named. The stack stays empty: it is the watchdog's (an empty one tells a stall it did not see).
  if (!attribution && record.culprit) {
    event.culprit = record.culprit.name;
    event.stackSource = 'sampled';
  } else if (!attribution) {
    event.stackSource = 'none';
    event.confidence = 0;
  }
  return mergeDeep(event, deep);
}
