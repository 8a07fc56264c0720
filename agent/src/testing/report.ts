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

function frameLine(f: StackFrame): string {
  return `    at ${f.functionName || '<anonymous>'} (${f.fileName}:${f.lineNumber}:${f.columnNumber})`;
}

export function blockedMessage(test: string, budgetMs: number, stalls: readonly StallEvent[]): string {
  const longest = stalls.reduce((a, b) => (b.durationMs > a.durationMs ? b : a));
  const more = stalls.length > 1 ? ` (and ${stalls.length - 1} shorter block${stalls.length > 2 ? 's' : ''})` : '';
  const culprit = longest.culprit ?? 'unknown code (no stack was sampled)';
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
