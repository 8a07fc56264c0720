/** The message a blocked test fails (or warns) with: the test, how long, the culprit function and a short stack. */
import { dirname } from 'node:path';
import type { StackFrame, StallEvent } from '../types';

const STACK_FRAMES = 8;

/** Frames of the runners themselves and of Node's test runner: a block made only of these is the runner's own. */
const RUNNER_FRAME = /[\\/]node_modules[\\/](?:vitest|@vitest|vite|vite-node|tinypool|tinyspy|jest-[^\\/]+|@jest|babel-jest|@babel|mocha|ts-jest)[\\/]|^node:internal[\\/]test_runner[\\/]/;

/** loopwatch's own build (dist/): its frames are on the stack of a block in the runner's hooks, not the test's code. */
const OWN_DIR = dirname(__dirname);

/** A frame of the test runners, of Node itself or of loopwatch: not the code under test. */
function runnerFrame(f: StackFrame): boolean {
  return RUNNER_FRAME.test(f.fileName) || f.fileName.startsWith('node:') || f.fileName.startsWith(OWN_DIR);
}

/**
 * A block sampled only in the test runner's own code (loading, transpiling, reporting, its event dispatch): never
 * the test's. The code under test, when it blocks, is on the stack, at least as the caller.
 */
export function runnerOwn(event: StallEvent): boolean {
  return event.stack.length > 0 && event.stack.some((f) => RUNNER_FRAME.test(f.fileName)) && event.stack.every(runnerFrame);
}

/**
 * Set under vitest: it runs the test's modules as vite transformed them, and Node cannot read their source maps, so a
 * line of such a module (anything outside node_modules, which vitest runs untransformed) is the transformed one —
 * a wrong line. Such lines are left out rather than shown wrong.
 */
let transformedLines = false;
export function linesOfTransformedModules(): void {
  transformedLines = true;
}
const untransformed = (file: string): boolean => !transformedLines || /[\\/]node_modules[\\/]|^node:/.test(file);

function frameLine(f: StackFrame): string {
  const where = untransformed(f.fileName) ? `${f.fileName}:${f.lineNumber}:${f.columnNumber}` : f.fileName;
  return `    at ${f.functionName || '<anonymous>'} (${where})`;
}

/** `fn (file:line)`, without the line when it is a transformed module's. */
function culpritText(culprit: string): string {
  const m = /^(.*) \((.*):(\d+)\)$/.exec(culprit);
  return m && !untransformed(m[2]) ? `${m[1]} (${m[2]})` : culprit;
}

export function blockedMessage(test: string, budgetMs: number, stalls: readonly StallEvent[]): string {
  const longest = stalls.reduce((a, b) => (b.durationMs > a.durationMs ? b : a));
  const more = stalls.length > 1 ? ` (and ${stalls.length - 1} shorter block${stalls.length > 2 ? 's' : ''})` : '';
  const culprit = longest.culprit === undefined ? 'unknown code (no stack was sampled)' : culpritText(longest.culprit);
  const lines = [
    `[loopwatch] test "${test}" blocked the event loop for ${Math.round(longest.durationMs)} ms (budget ${budgetMs} ms)${more}: ${culprit}`,
    ...longest.stack.slice(0, STACK_FRAMES).map(frameLine),
  ];
  return lines.join('\n');
}

/** The error a failing test is given: named, and with the blocking stack as its own (not the after-hook's). */
export class BlockingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BlockingError';
    this.stack = `${this.name}: ${message}`;
  }
}
