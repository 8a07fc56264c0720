/**
 * A stall's culprit, decided in one place. The watchdog's aggregate (aggregate.ts) and the thread's own notes on the
 * stall (stall-mark.ts) count the same samples with the same `CulpritTally`, and the culprit's name is always made
 * by `decideCulprit` from the raw winning frame, so the stall event, its span events, the culprit counter, the
 * console line and the log record cannot name different code for one stall.
 */
import { culpritFrameIndex, culpritKey, culpritName, isDependencyFrame as isDependency, sourceMapFrames } from './frames';
import type { StackFrame } from '../types';

/** The culprit label of a stall whose code is not known (no sample, or an empty stack). */
export const UNKNOWN_CULPRIT = 'unknown';

/** A stall's culprit: its frame, source-mapped, and its display name `fn (file:line)`. */
export interface Culprit {
  readonly name: string;
  readonly frame: StackFrame;
  /** The raw stack (a sample's) it was decided from. */
  readonly stack: readonly StackFrame[];
}

/**
 * The culprit of a stack (innermost first, not source-mapped): its culprit frame (`culpritFrameIndex`),
 * source-mapped — on the thread that loaded the code — and named. Undefined when the stack is empty.
 */
export function decideCulprit(rawFrames: readonly StackFrame[], cwd?: string): Culprit | undefined {
  const i = culpritFrameIndex(rawFrames);
  if (i < 0) return undefined;
  // Only the one frame is mapped (mapping a whole stack per span event would be wasted work).
  const raw = rawFrames[i];
  const frame = sourceMapFrames([raw])[0];
  // A library culprit is named by its package, read off the installed file (a map may point into its sources).
  return { name: isDependency(raw) ? culpritName(raw, cwd) : culpritName(frame, cwd), frame, stack: rawFrames };
}

/** The culprit label every consumer shows for a stall (the event's culprit, else `unknown`). */
export function culpritLabel(e: { readonly culprit?: string | undefined }): string {
  return e.culprit ?? UNKNOWN_CULPRIT;
}

/** What identifies a culprit frame across samples (frames.ts `culpritKey`: the culprit's name, column left out). */
const frameKey = culpritKey;

export interface TallyEntry<S> {
  /** The culprit frame, raw. */
  readonly frame: StackFrame;
  samples: number;
  first: S;
  last: S;
}

/**
 * Samples of one stall counted by culprit frame. The leader has the most samples; a tie goes to the culprit seen
 * first. Empty stacks are not counted. Bounded by the samples of one stall (the watchdog caps them).
 */
export class CulpritTally<S extends { readonly frames: readonly StackFrame[] }> {
  private readonly entries = new Map<string, TallyEntry<S>>();
  private count = 0;

  add(sample: S): void {
    const i = culpritFrameIndex(sample.frames);
    if (i < 0) return;
    const frame = sample.frames[i]!;
    const k = frameKey(frame);
    const e = this.entries.get(k);
    if (e) {
      e.samples++;
      e.last = sample;
    } else this.entries.set(k, { frame, samples: 1, first: sample, last: sample });
    this.count++;
  }

  /** Samples counted (those with a frame). */
  get size(): number {
    return this.count;
  }

  /** Most samples first; ties in the order first seen (a stable sort of Map order). */
  ranked(): TallyEntry<S>[] {
    return [...this.entries.values()].sort((a, b) => b.samples - a.samples);
  }

  leader(): TallyEntry<S> | undefined {
    let best: TallyEntry<S> | undefined;
    for (const e of this.entries.values()) if (!best || e.samples > best.samples) best = e;
    return best;
  }
}
