import { culpritLabel } from '../attribution/culprit';
import type { StallEvent } from '../types';

const MAX_FRAMES = 5;

/** One readable block per stall for `LOOPWATCH_LOG=stderr`. */
export function formatStall(e: StallEvent): string {
  const head = [`stall ${Math.round(e.durationMs)} ms on ${e.thread}`];
  if (e.route) head.push(`route ${e.route}`);
  // The same label as the culprit counter and the span events (`unknown` when no sample named the code).
  head.push(`culprit ${culpritLabel(e)}`);
  if (e.resourceType) head.push(`in ${e.resourceType}`);
  if (e.victims) head.push(`${e.victims} other request${e.victims === 1 ? '' : 's'} delayed`);
  if (e.traceId) head.push(`trace ${e.traceId}`);
  if (e.stallId) head.push(`stall id ${e.stallId}`);
  // The per-culprit cap says what it held back, once, on the next line it lets through.
  if (e.suppressed) head.push(`${e.suppressed} more stall${e.suppressed === 1 ? '' : 's'} of this culprit not reported since the last one`);
  const lines = [head.join(' | ')];
  for (const f of e.stack.slice(0, MAX_FRAMES)) {
    lines.push(`    at ${f.functionName || '<anonymous>'} (${f.fileName}:${f.lineNumber}:${f.columnNumber})`);
  }
  if (e.stack.length > MAX_FRAMES) lines.push(`    … ${e.stack.length - MAX_FRAMES} more frames`);
  return lines.join('\n');
}
