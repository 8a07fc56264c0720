/** Condensing a stall's samples into one attribution, and merging it into the stall event. Pure. */
import { CulpritTally, decideCulprit, type Culprit } from './culprit';
import { formatFrame, isInternalFrame, sourceMapFrames } from './frames';
import type { LongCallback } from './deep';
import { weighSamples } from './stall-timing';
import type { AttributionSample } from './thread-types';
import type { StackFrame, StallEvent } from '../types';

/**
 * What the watchdog learned about one stall. JSON-serialisable (crosses threads). The request fields are the stall
 * event's own (types.ts documents them), copied onto it at merge.
 */
export interface StallAttribution extends Pick<StallEvent, 'route' | 'unknownRequest' | 'graphqlOperation' | 'traceId' | 'spanId' | 'resourceType' | 'victims'> {
  /** Stack of a sample showing the dominant culprit, innermost first, not yet source-mapped. */
  stack: StackFrame[];
  /** Samples taken during the stall. */
  samples: number;
  /** Culprit frames by share of on-time samples, most frequent first (raw frames, mapped at merge). */
  dominant: { frame: StackFrame; samples: number }[];
  /**
   * 'sampled': the stack was read during the block. 'late': every sample was read after a non-interruptible call
   * returned (stall-timing.ts): the stack shows what ran next, so it names no culprit.
   */
  stackSource: 'sampled' | 'late';
  /** The culprit's share of the sampling periods, late ones counted as the periods they missed (0..1); 0 when late. */
  confidence: number;
  /**
   * Late only: the late stack's top two frames outside Node's internals (raw, mapped at merge). The blocking call was
   * made from one of them (or from Node code they called): V8 runs the deferred getter either back in the caller of
   * that call or at the entry of the next function it calls.
   */
  blockedWithin?: StackFrame[];
}

/**
 * How a stall's stack was obtained, and the code it names: decided once per stall (stall/record.ts), from the
 * thread's own notes when it has them (stall-mark.ts, what its span events carry), else from the watchdog's
 * attribution; the event, its span events and log record read it.
 */
export interface StackEvidence {
  /** Undefined: unknown (no sample named code, or the stack was read late). */
  readonly culprit: Culprit | undefined;
  /** 'sampled': read during the block; 'late': read only after a non-interruptible call returned; 'none': no sample. */
  readonly stackSource: 'sampled' | 'late' | 'none';
  /** The culprit's share of the sampling periods (0..1); 0 when late or none. */
  readonly confidence: number;
}

/** A stall no sample saw. */
export const NO_EVIDENCE: StackEvidence = { culprit: undefined, stackSource: 'none', confidence: 0 };

/** Extra fields attribution adds to the stall event (beyond the core `StallEvent` ones). */
export interface StallAttributionFields {
  /** Number of stack samples taken during the stall (1 for most stalls under ~150 ms). */
  samples?: number;
  /** For stalls sampled more than once: culprits with their share of samples (0..1), most frequent first. */
  dominantFrames?: { culprit: string; share: number }[];
}

export function aggregateSamples(samples: readonly AttributionSample[]): StallAttribution | undefined {
  if (!samples.length) return undefined;
  // Only samples read during the block decide (a late one shows the code that ran after the blocking call).
  const onTime = samples.filter((s) => !s.late);
  // The periods only late samples cover: time the thread ran where no sample could look.
  let unknown = 0;
  for (const s of samples) if (s.late) unknown += s.missed ?? 1;
  // The same tally, over the same samples, as the thread's own notes on the stall (stall-mark.ts).
  const tally = new CulpritTally<AttributionSample>();
  for (const s of onTime) tally.add(s);
  const ranked = tally.ranked();
  const weighed = weighSamples(ranked[0]?.samples ?? 0, onTime.length, unknown);
  if (weighed.stackSource === 'late') return lateAttribution(samples);
  const rep = ranked[0]?.last ?? onTime[onTime.length - 1]!;
  // Request context: from the representative sample, else any sample that had one.
  const ctx = contextSample(samples, rep);
  const out: StallAttribution = {
    stack: rep.frames,
    samples: samples.length,
    dominant: ranked.map((r) => ({ frame: r.frame, samples: r.samples })),
    stackSource: 'sampled',
    confidence: weighed.confidence,
  };
  return withContext(out, samples, rep, ctx);
}

/** Mostly late: the first late stack (read right after the blocking call returned), naming no culprit. */
function lateAttribution(samples: readonly AttributionSample[]): StallAttribution {
  const rep = samples.find((s) => s.late) as AttributionSample;
  const ctx = contextSample(samples, rep);
  const out: StallAttribution = { stack: rep.frames, samples: samples.length, dominant: [], stackSource: 'late', confidence: 0 };
  // Node's own frames on top (the JS wrapper of a native call: pbkdf2Sync, execSync) are skipped.
  const outer = rep.frames.filter((f) => !isInternalFrame(f)).slice(0, 2);
  if (outer.length) out.blockedWithin = outer;
  return withContext(out, samples, rep, ctx);
}

/**
 * The sample whose request the stall is given: the representative one, else one with a route — not when the
 * representative sample ran in a request that cannot be named (another sample's route would be a guess).
 */
function contextSample(samples: readonly AttributionSample[], rep: AttributionSample): AttributionSample {
  if (rep.route || rep.unknownRequest) return rep;
  return samples.find((s) => s.route) ?? rep;
}

function withContext(out: StallAttribution, samples: readonly AttributionSample[], rep: AttributionSample, ctx: AttributionSample): StallAttribution {
  if (ctx.route) out.route = ctx.route;
  else if (ctx.unknownRequest) out.unknownRequest = ctx.unknownRequest;
  if (ctx.graphqlOperation) out.graphqlOperation = { ...ctx.graphqlOperation };
  if (ctx.traceId) out.traceId = ctx.traceId;
  if (ctx.spanId) out.spanId = ctx.spanId;
  const rt = rep.resourceType ?? ctx.resourceType;
  if (rt) out.resourceType = rt;
  const first = samples[0]!;
  const victims = victimsOf(first, rt);
  if (victims !== undefined) out.victims = victims;
  return out;
}

/** Resource types whose callbacks never run for a request (their stall delays every request in flight). */
const NOT_REQUEST = new Set(['Timeout', 'Immediate', 'FSREQCALLBACK', 'MESSAGEPORT']);

/**
 * Other requests the stall delayed. Where requests are not tracked (`tracked: false`), whether the blocked code
 * itself serves one of the in-flight requests is known only from its resource type: an HTTP callback does, a timer
 * does not; otherwise (a promise continuation) the count is unknown and left out rather than counting the stalled
 * request as its own victim.
 */
function victimsOf(first: AttributionSample, resourceType: string | undefined): number | undefined {
  if (first.inflight === undefined) return undefined;
  if (first.tracked !== false) return Math.max(0, first.inflight - (first.inRequest ? 1 : 0));
  if (first.inflight === 0) return 0;
  if (resourceType === 'HTTPINCOMINGMESSAGE') return first.inflight - 1;
  if (resourceType !== undefined && NOT_REQUEST.has(resourceType)) return first.inflight;
  return undefined;
}

/** The culprit an attribution names: none when its stack was read late (its top ran after the blocking call). */
export function culpritOfAttribution(attribution: StallAttribution, cwd?: string): Culprit | undefined {
  return attribution.stackSource === 'late' ? undefined : decideCulprit(attribution.stack, cwd);
}

/** The evidence of a stall the thread has no notes on: the watchdog's attribution, by the same rule. */
export function evidenceOfAttribution(attribution: StallAttribution, cwd?: string): StackEvidence {
  return { culprit: culpritOfAttribution(attribution, cwd), stackSource: attribution.stackSource, confidence: attribution.confidence };
}

/**
 * Merges an attribution into a stall event (returns a new object). Source-maps frames, so call it on the thread
 * that stalled (the one that loaded the code). With no attribution the event keeps an empty stack.
 */
export function mergeAttribution<E extends StallEvent>(
  event: E,
  attribution: StallAttribution | undefined,
  cwd?: string,
  /** Decided already (the stall record's, from the thread's notes on the same samples): the event says it. */
  decided?: StackEvidence,
): E & StallAttributionFields {
  if (!attribution) return { ...event };
  const evidence = decided ?? evidenceOfAttribution(attribution, cwd);
  const culprit = evidence.culprit;
  // The stack shown is one that holds the culprit: the watchdog's representative sample, unless its culprit is
  // another (the thread counted a sample the watchdog did not receive) or it was read late, then the sample the
  // culprit came from.
  const raw = culprit && (attribution.stackSource === 'late' || decideCulprit(attribution.stack, cwd)?.name !== culprit.name) ? culprit.stack : attribution.stack;
  const out: E & StallAttributionFields = { ...event, stack: sourceMapFrames(raw), stackSource: evidence.stackSource, confidence: evidence.confidence };
  if (culprit) out.culprit = culprit.name;
  // A late stack names no culprit: its top is the code that ran after the blocking call returned.
  if (evidence.stackSource === 'late' && attribution.blockedWithin) {
    out.blockedWithin = sourceMapFrames(attribution.blockedWithin).map((f) => formatFrame(f, cwd));
  }
  if (attribution.route) out.route = attribution.route;
  else if (attribution.unknownRequest) out.unknownRequest = attribution.unknownRequest;
  if (attribution.graphqlOperation) out.graphqlOperation = attribution.graphqlOperation;
  if (attribution.traceId) out.traceId = attribution.traceId;
  if (attribution.spanId) out.spanId = attribution.spanId;
  if (attribution.resourceType) out.resourceType = attribution.resourceType;
  if (attribution.victims !== undefined) out.victims = attribution.victims;
  out.samples = attribution.samples;
  if (attribution.samples > 1) {
    const mapped = sourceMapFrames(attribution.dominant.map((d) => d.frame));
    out.dominantFrames = attribution.dominant.slice(0, 5).map((d, i) => ({
      culprit: formatFrame(mapped[i]!, cwd),
      share: Math.round((d.samples / attribution.samples) * 1000) / 1000,
    }));
  }
  return out;
}

/**
 * Merges deep mode's record of the callback that blocked: its exact resource type replaces the stack heuristic's,
 * and `origin` gives where it was scheduled (source-mapped here, on the stalled thread).
 */
export function mergeDeep<E extends StallEvent>(event: E, long: LongCallback | undefined): E {
  if (!long) return event;
  const out: E = { ...event, resourceType: long.type };
  if (long.origin.length) out.origin = sourceMapFrames(long.origin);
  return out;
}
