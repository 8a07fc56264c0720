/** The message a blocked test fails (or warns) with: the test, how long, the culprit function and a short stack. */
import type { StackFrame, StallEvent } from '../types';

const STACK_FRAMES = 8;

/** Frames of the runners themselves and of Node's test runner: a block made only of these is the runner's own. */
const RUNNER_FRAME = /[\\/]node_modules[\\/](?:vitest|@vitest|vite|vite-node|tinypool|tinyspy|jest-[^\\/]+|@jest|babel-jest|@babel|mocha|ts-jest)[\\/]|^node:internal[\\/]test_runner[\\/]/;

/** A block whose every sampled frame is the test runner's own (loading, transpiling, reporting): never the test's. */
export function runnerOwn(event: StallEvent): boolean {
  return event.stack.length > 0 && event.stack.every((f) => RUNNER_FRAME.test(f.fileName));
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
