/**
 * One stall, as every consumer reads it: its duration and start are measured once (by a heartbeat) and its culprit,
 * stack source and confidence decided once, and the stall event, its span events, the culprit counter, the exemplar,
 * the console line and the log record are all written from this record (the last three through the event, which is
 * what crosses threads).
 */
import { evidenceOfAttribution, mergeAttribution, mergeDeep, NO_EVIDENCE, type StackEvidence, type StallAttribution, type StallAttributionFields } from '../attribution/aggregate';
import type { Arrivals } from '../attribution/connections';
import type { LongCallback } from '../attribution/deep';
import type { DetectedStall } from '../heartbeat/sampler';
import type { StallEvent } from '../types';
import { stallIdOf } from './stall-id';

export interface StallRecord {
  readonly thread: string;
  /** Monotonic ns of the last beat before the stall: identifies it (across threads too). */
  readonly sinceNs: bigint;
  /**
   * How long the thread ran without yielding: the heartbeat's measure (sampler.ts), the only one. A span event of a
   * request that ends before the next scheduled beat is written after a beat run for it (stall/pipeline.ts).
   */
  readonly durationMs: number;
  /** Epoch ms when the block began. */
  readonly startTime: number;
  /**
   * Culprit, stack source and confidence, decided once: from the thread's own samples when it has them (that is
   * what the span events carry), else from the watchdog's attribution when it arrives, else none. Undefined: not
   * decided yet.
   */
  evidence: StackEvidence | undefined;
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

/** A stall the heartbeat measured (the sampler: busy time between two beats, or the loop meter's busy span). */
export function recordOfDetected(stall: DetectedStall, thread: string): StallRecord {
  return { thread, sinceNs: stall.sinceNs, durationMs: stall.durationMs, startTime: stall.startTime, evidence: undefined };
}

/**
 * The stall event of a record, with the watchdog's attribution (if it came) and deep mode's callback merged in.
 * The record's evidence, when decided, is the event's; otherwise the attribution's decides it, and the record
 * keeps that. Source-maps frames: call it on the stalled thread.
 */
export function eventOf(record: StallRecord, attribution: StallAttribution | undefined, deep: LongCallback | undefined): StallEvent & StallAttributionFields {
  const base: StallEvent = { durationMs: record.durationMs, startTime: record.startTime, thread: record.thread, stack: [], stallId: stallIdOf(record.sinceNs), stackSource: 'none' };
  const evidence = (record.evidence ??= attribution ? evidenceOfAttribution(attribution) : NO_EVIDENCE);
  const event: StallEvent & StallAttributionFields = mergeAttribution(base, attribution, undefined, evidence);
  // No word from the watchdog (it timed out, or the agent is stopping): the thread's own samples still say what its
  // span events said. The stack stays empty: it is the watchdog's (an empty one tells a stall it did not see).
  if (!attribution) {
    if (evidence.culprit) event.culprit = evidence.culprit.name;
    event.stackSource = evidence.stackSource;
    event.confidence = evidence.confidence;
  }
  return mergeDeep(event, deep);
}
