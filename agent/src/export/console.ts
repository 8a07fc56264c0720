import { culpritLabel } from '../attribution/culprit';
import type { HeldBackReports, StallEvent } from '../types';

const MAX_FRAMES = 5;

/** Why a block in a request's connection names no route (StallEvent.unknownRequest), in a few words. */
const UNKNOWN_REQUEST: Record<NonNullable<StallEvent['unknownRequest']>, string> = {
  'keep-alive': 'route unknown (keep-alive connection: this request or work an earlier one left)',
  pipelined: 'route unknown (pipelined requests)',
  finished: 'route unknown (work left after its request finished)',
};

/** One readable block per stall for `LOOPWATCH_LOG=stderr`. */
export function formatStall(e: StallEvent): string {
  const head = [`stall ${Math.round(e.durationMs)} ms on ${e.thread}`];
  if (e.route) head.push(`route ${e.route}`);
  else if (e.unknownRequest) head.push(UNKNOWN_REQUEST[e.unknownRequest]);
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

/**
 * One line for stall reports the per-culprit cap held back that no later report of their culprit said (their window
 * closed, or the agent is stopping): the culprit (or the route the reports were grouped by) and how many.
 */
export function formatHeldBack(r: HeldBackReports): string {
  const group = r.culprit !== undefined ? `culprit ${r.culprit}` : r.route !== undefined ? `route ${r.route} (culprit unknown)` : 'culprit unknown';
  const seconds = Math.max(0, r.untilMs - r.sinceMs) / 1000;
  return `${r.suppressed} more stall${r.suppressed === 1 ? '' : 's'} of ${group} on ${r.thread} not reported in the last ${seconds.toFixed(1)} s (per-culprit rate cap)`;
}
