// mocha with `--require loopwatch/test/mocha` (a root hook plugin), in a child process: serial (the tests run in
// mocha's own process) and --parallel (each file in a worker process of mocha's).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { assertOnlyTheBlockingTestFailed, assertWarnedOnce, bin, fixtureDir, run } from './runners.mjs';

const dir = fixtureDir('mocha');
const suite = join(dir, 'suite.test.cjs');

async function mocha(args, env) {
  const r = await run([bin('mocha/bin/mocha.js'), '--require', 'loopwatch/test/mocha', '--reporter', 'json', ...args, 'suite.test.cjs', 'clean.test.cjs'], { cwd: dir, env });
  const report = JSON.parse(r.stdout);
  const failed = new Map(report.failures.map((f) => [f.fullTitle, f.err.message ?? '']));
  const results = report.tests.map((x) => ({ name: x.fullTitle, status: failed.has(x.fullTitle) ? 'failed' : 'passed', message: failed.get(x.fullTitle) ?? '' }));
  return { ...r, results, output: r.stdout + r.stderr };
}

test('mocha: exactly the blocking test fails, naming blockTheLoopOnPurpose; the tests after it still run', async () => {
  const r = await mocha([]);
  assert.equal(r.results.length, 5, r.output);
  assertOnlyTheBlockingTestFailed(r.results, { file: suite, output: r.output });
});

test('mocha --parallel (worker processes): exactly the blocking test fails', async () => {
  const r = await mocha(['--parallel', '--jobs', '2']);
  assert.equal(r.results.length, 5, r.output);
  assertOnlyTheBlockingTestFailed(r.results, { file: suite, output: r.output });
});

test('mocha, LOOPWATCH_TEST_MODE=warn: every test passes and the blocking one is reported on stderr once', async () => {
  const r = await mocha([], { LOOPWATCH_TEST_MODE: 'warn' });
  assert.equal(r.results.length, 5, r.output);
  assertWarnedOnce(r.results, { file: suite, stderr: r.stderr });
  assert.equal(r.code, 0, r.output);
});
