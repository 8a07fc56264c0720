/**
 * vitest: `setupFiles: ['loopwatch/test/vitest']`. The ESM entry (agent/esm/test/vitest.mjs) passes vitest's own
 * hooks in, so they are the ones of the vitest that runs the file.
 */
import { checkTest, startEarly, testStarted } from './core';
import { linesOfTransformedModules } from './report';

export * from './index';

interface Task {
  readonly name: string;
  readonly suite?: Task;
}
type Hook = (fn: (ctx: { task: Task }) => unknown) => void;

/** `suite > test`, as vitest names a test in its reports. */
function fullName(task: Task): string {
  const names: string[] = [];
  for (let t: Task | undefined = task; t; t = t.suite) if (t.name) names.unshift(t.name);
  return names.join(' > ');
}

export function installVitest(beforeEach: Hook, afterEach: Hook): void {
  linesOfTransformedModules();
  // Registered first, so vitest (stack order) runs this after-hook last: the file's own after-hooks count too.
  beforeEach((ctx) => testStarted(fullName(ctx.task)));
  afterEach(() => checkTest());
  startEarly();
}
