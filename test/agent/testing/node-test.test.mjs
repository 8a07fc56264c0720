// `node --test --import loopwatch/test` on a fixture suite, in a child process: node:test runs each file in a
// subprocess of its own (`--test-isolation=process`, the default), which is where the hooks go, or with
// `--test-isolation=none` in its own process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { assertOnlyTheBlockingTestFailed, assertRanIn, assertWarnedOnce, fixtureDir, run, whereDir } from './runners.mjs';

const dir = fixtureDir('node-test');
const suite = join(dir, 'suite.test.mjs');

/** node:test's TAP report: the top-level tests with their status and the failure's message. */
function tapResults(stdout) {
  const results = [];
  const lines = stdout.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = lines[i].match(/^(not ok|ok) \d+ - (.*)$/);
    if (!m) continue;
    let message = '';
    for (let j = i + 1; j < lines.length && !/^(not ok|ok) \d+ - /.test(lines[j]) && !/^# Subtest/.test(lines[j]); j++) message += lines[j] + '\n';
    results.push({ name: m[2], status: m[1] === 'ok' ? 'passed' : 'failed', message });
  }
  return results;
}

// Node 22 has the flag under its experimental name only; 23.6 and later have both.
const isolation = (mode) => (Number(process.versions.node.split('.')[0]) >= 23 ? `--test-isolation=${mode}` : `--experimental-test-isolation=${mode}`);

for (const [mode, where] of [
  ['process', { inRunner: false, mainThread: true }],
  ['none', { inRunner: true, mainThread: true }],
]) {
  test(`node --test ${isolation(mode)} --import loopwatch/test: exactly the blocking test fails, naming blockTheLoopOnPurpose`, async (t) => {
    const files = whereDir(t);
    const r = await run(['--test', isolation(mode), '--import', 'loopwatch/test', '--test-reporter=tap', suite], { cwd: dir, env: files.env });
    const results = tapResults(r.stdout);
    assert.equal(results.length, 4, r.stdout + r.stderr);
    assertRanIn(files.read(), ['suite.test.mjs'], { runnerPid: r.pid, ...where });
    assertOnlyTheBlockingTestFailed(results, { file: suite, output: r.stdout + r.stderr });
    assert.notEqual(r.code, 0);
  });
}

test('LOOPWATCH_TEST_MODE=warn: every test passes and the blocking one is reported on stderr once', async () => {
  const r = await run(['--test', '--import', 'loopwatch/test', '--test-reporter=tap', suite], { cwd: dir, env: { LOOPWATCH_TEST_MODE: 'warn' } });
  const results = tapResults(r.stdout);
  assert.equal(results.length, 4, r.stdout + r.stderr);
  // node --test relays a file's stderr as TAP comments on stdout.
  assertWarnedOnce(results, { file: suite, stderr: r.stderr + r.stdout });
  assert.equal(r.code, 0, r.stdout + r.stderr);
});

test('an invalid LOOPWATCH_TEST_BUDGET_MS: one line naming it, and the default budget (50 ms) is used', async () => {
  const r = await run(['--test', '--import', 'loopwatch/test', '--test-reporter=tap', suite], { cwd: dir, env: { LOOPWATCH_TEST_BUDGET_MS: 'fast' } });
  const lines = (r.stdout + r.stderr).split('\n').filter((l) => l.includes('LOOPWATCH_TEST_BUDGET_MS'));
  assert.equal(lines.length, 1, r.stdout + r.stderr);
  assert.match(lines[0], /\[loopwatch\] LOOPWATCH_TEST_BUDGET_MS="fast" is not valid \(accepted: a number from 1 to 600000 \(ms\)\); using the default 50\./);
  const failed = tapResults(r.stdout).filter((x) => x.status === 'failed');
  assert.deepEqual(failed.map((x) => x.name), ['blocks the loop']);
  assert.match(failed[0].message, /\(budget 50 ms\)/);
});

test('configure() below the variables\' budget, after the agent started early: a block between the two fails its test', async () => {
  const file = join(fixtureDir('configure'), 'lower.test.mjs');
  // Started (at --import) with a 1000 ms threshold; configured down to 150 ms; the block is 450 ms.
  const r = await run(['--test', '--import', 'loopwatch/test', '--test-reporter=tap', file], { cwd: fixtureDir('configure'), env: { LOOPWATCH_TEST_BUDGET_MS: '1000', FIXTURE_CONFIGURED_BUDGET_MS: '150' } });
  const results = tapResults(r.stdout);
  assert.deepEqual(results.map((x) => [x.name, x.status]), [['stays responsive', 'passed'], ['blocks the loop', 'failed']], r.stdout + r.stderr);
  assert.match(results[1].message, /test "blocks the loop" blocked the event loop for \d+ ms \(budget 150 ms\): blockTheLoopOnPurpose \(/, r.stdout);
});
