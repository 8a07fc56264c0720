/**
 * jest: `testEnvironment: 'loopwatch/test/jest'`, jest's node environment plus loopwatch. A test environment runs in
 * the worker's own realm, outside the sandbox jest gives each test file (the watchdog's stack sampling evaluates in
 * that realm, and one agent then serves every file of the worker); it hears jest-circus's test events, so a test's
 * window is its `test_start` to its `test_done` (its before- and after-each hooks count), and a blocked test fails
 * with an error added to the test itself. The test files' own `loopwatch/test/api` shares this realm's state.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { shareState, startEarly, testEnded, testStarted, warnOrFail } from './core';

interface CircusTest {
  readonly name: string;
  readonly parent?: CircusTest;
  readonly errors: unknown[];
}
interface CircusEvent {
  readonly name: string;
  readonly test?: CircusTest;
}
type Environment = new (config: unknown, context: unknown) => { global: object; handleTestEvent?(event: CircusEvent, state: unknown): unknown };

const ROOT_DESCRIBE = 'ROOT_DESCRIBE_BLOCK';

/** jest's node environment: beside loopwatch, else the project's own (a package manager that does not hoist). */
function nodeEnvironment(): Environment {
  const load = (req: NodeJS.Require): Environment => {
    const mod = req('jest-environment-node') as { default?: Environment; TestEnvironment?: Environment };
    return (mod.TestEnvironment ?? mod.default ?? mod) as Environment;
  };
  try {
    return load(require);
  } catch {
    // Not beside loopwatch: the project's own, resolved from where jest runs.
    return load(createRequire(join(process.cwd(), 'package.json')));
  }
}

/** `describe test`, as jest names a test in its reports. */
function fullName(test: CircusTest): string {
  const names: string[] = [];
  for (let t: CircusTest | undefined = test; t; t = t.parent) if (t.name && t.name !== ROOT_DESCRIBE) names.unshift(t.name);
  return names.join(' ');
}

const NodeEnvironment = nodeEnvironment();

class LoopwatchEnvironment extends NodeEnvironment {
  constructor(config: unknown, context: unknown) {
    super(config, context);
    shareState(this.global);
    startEarly();
  }

  override async handleTestEvent(event: CircusEvent, state: unknown): Promise<void> {
    await super.handleTestEvent?.(event, state);
    if (event.name === 'test_start' && event.test) await testStarted(fullName(event.test));
    else if (event.name === 'test_done' && event.test) {
      const error = warnOrFail(await testEnded());
      if (error) event.test.errors.push(error);
    }
  }
}

export = LoopwatchEnvironment;
