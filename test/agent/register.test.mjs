// The one-line setup: preload with --require (CommonJS) or --import (ESM), configured by environment.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fixture, parseMetrics, runChild, sample } from './helpers/child.mjs';

for (const [flag, file] of [['--require', 'preload-app.cjs'], ['--import', 'preload-app.mjs']]) {
  test(`node ${flag} loopwatch/register measures the app and its worker threads`, async (t) => {
    const app = runChild(fixture(file), {
      execArgv: [flag, 'loopwatch/register'],
      env: { LOOPWATCH_STALL_THRESHOLD_MS: '150', LOOPWATCH_PROMETHEUS_HOST: '127.0.0.1' },
    });
    t.after(() => app.kill());
    const { prometheusUrl, threshold } = await app.message('ready');
    assert.match(prometheusUrl, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    assert.equal(threshold, 150);
    // The worker inherited the preload: its 200 ms block shows up under its name.
    await app.waitFor(() => app.messages.find((m) => m.type === 'stall' && m.thread === 'preloaded-worker'), { what: 'worker stall' });
    const metrics = parseMetrics(await (await fetch(prometheusUrl)).text());
    // Its block (a loaded machine can add a stall of its start-up, as the preload loads loopwatch there too).
    assert.ok(sample(metrics, 'loopwatch_eventloop_stall_duration_seconds_count', { thread_name: 'preloaded-worker' })?.value >= 1);
    // A 120 ms block of the main thread is under the 150 ms threshold from LOOPWATCH_STALL_THRESHOLD_MS.
    assert.ok(!app.messages.some((m) => m.type === 'stall' && m.thread === 'main' && m.durationMs < 150));
  });
}

test('start(options) after loopwatch/register: the preloaded agent, and one line naming the options not applied', async (t) => {
  const app = runChild(fixture('second-start.cjs'), { execArgv: ['--require', 'loopwatch/register'] });
  t.after(() => app.kill());
  const r = await app.message('result');
  assert.deepEqual(r, { type: 'result', same: true, enabled: true });
  assert.equal((await app.exited).code, 0);
  const lines = app.stderr.split('\n').filter((l) => l.startsWith('[loopwatch]'));
  assert.equal(lines.length, 1, app.stderr);
  // The preload serves /metrics (LOOPWATCH_PROMETHEUS_PORT), the app asked for prometheus: false.
  assert.match(lines[0], /^\[loopwatch\] start\(\) was called again, with options that differ from the running agent's \(stallThresholdMs, prometheus, log\); the running agent keeps its own/);
});

test('a bad variable under loopwatch/register: one line for the process, not one per worker thread; the agent runs', async (t) => {
  const app = runChild(fixture('preload-app.cjs'), {
    execArgv: ['--require', 'loopwatch/register'],
    env: { LOOPWATCH_STALL_THRESHOLD_MS: '150', LOOPWATCH_LOG: 'sterr' },
  });
  t.after(() => app.kill());
  await app.message('ready');
  // The worker started loopwatch too (it read the same variable): its stall is proof.
  await app.waitFor(() => app.messages.find((m) => m.type === 'stall' && m.thread === 'preloaded-worker'), { what: 'worker stall' });
  const lines = app.stderr.split('\n').filter((l) => l.startsWith('[loopwatch]'));
  assert.deepEqual(lines, ['[loopwatch] LOOPWATCH_LOG="sterr" is not valid (accepted: stderr, off); using the default "off".']);
});
