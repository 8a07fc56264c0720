/**
 * The watchdog's report of a stall that is still running: the blocked thread cannot say anything until it is over,
 * which may be never (an infinite loop, or a liveness probe's SIGKILL). Built from the samples taken so far with the
 * same rule as the final record (aggregateSamples + culpritOfAttribution: a late stack names none), `unknown` while there are none.
 */
import { aggregateSamples, culpritOfAttribution } from '../attribution/aggregate';
import { UNKNOWN_CULPRIT } from '../attribution/culprit';
import type { AttributionSample } from '../attribution/thread-types';
import type { InProgressStall } from '../export/otel-logs';

/** Frames shown on the one stderr line. */
const LINE_FRAMES = 3;

/**
 * The stall as known so far, shaped as a stall event (what the log record is written from). Frames are not
 * source-mapped: the watchdog did not load the app's code; the final record, written on the stalled thread, is.
 */
/** The culprit and route the samples of a stall still running name so far (what the health probes show). */
export function knownSoFar(samples: readonly AttributionSample[]): { culprit: string; route?: string } {
  const attribution = aggregateSamples(samples);
  const culprit = attribution && culpritOfAttribution(attribution);
  return { culprit: culprit ? culprit.name : UNKNOWN_CULPRIT, ...(attribution?.route ? { route: attribution.route } : {}) };
}

export function liveStallOf(thread: string, stallId: string, blockedMs: number, startTime: number, samples: readonly AttributionSample[]): InProgressStall {
  const e: InProgressStall = { durationMs: blockedMs, startTime, thread, stack: [], stallId };
  const attribution = aggregateSamples(samples);
  if (!attribution) return e;
  e.stack = attribution.stack;
  const culprit = culpritOfAttribution(attribution);
  if (culprit) e.culprit = culprit.name;
  e.stackSource = attribution.stackSource;
  if (attribution.route) e.route = attribution.route;
  if (attribution.traceId) e.traceId = attribution.traceId;
  if (attribution.spanId) e.spanId = attribution.spanId;
  if (attribution.resourceType) e.resourceType = attribution.resourceType;
  return e;
}

/** One stderr line: thread, duration so far, stall id, route, culprit, top frames. */
export function formatLiveLine(e: InProgressStall): string {
  const parts = [`thread "${e.thread}" has been blocked for ${(e.durationMs / 1000).toFixed(1)} s (stall in progress)`, `stall id ${e.stallId}`];
  if (e.route) parts.push(`route ${e.route}`);
  parts.push(`culprit ${e.culprit ?? UNKNOWN_CULPRIT}`);
  const frames = e.stack.slice(0, LINE_FRAMES).map((f) => `${f.functionName || '<anonymous>'} (${f.fileName}:${f.lineNumber}:${f.columnNumber})`);
  if (frames.length) parts.push(`at ${frames.join(' < ')}${e.stack.length > LINE_FRAMES ? ' < …' : ''}`);
  return parts.join(' | ');
}
