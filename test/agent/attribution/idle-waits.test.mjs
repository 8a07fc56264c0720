// Idle waits are not stalls (docs/attribution.md, "Idle waits"): a worker parked in Atomics.wait waiting for work is
// idle; the stall after the wait is timed from the wait's end; the main thread in Atomics.wait is a stall.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { runStallFixture } from '../helpers/stall-child.mjs';

const fixture = (name) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const freePort = () =>
  new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
const culpritFn = (c) => c?.split(' (')[0];

test('a default piscina pool: idle workers are not stalled; the task after the wait is one stall of its own length', async () => {
  const port = await freePort();
  const { code, stalls, blocks, out, err } = await runStallFixture(fixture('piscina-idle.cjs'), {
    execArgv: ['--require', 'loopwatch/register'],
    env: { LOOPWATCH_LOG: 'stderr', LOOPWATCH_PROMETHEUS_PORT: String(port) },
  });
  assert.equal(code, 0, err);
  // Idle for 5 s: the in-progress gauge of each worker is 0, and stderr has no progress line.
  const gauge = JSON.parse(out.split('\n').find((l) => l.startsWith('METRICS ')).slice('METRICS '.length));
  const workers = gauge.filter((l) => l.includes('thread_name="worker-'));
  assert.equal(workers.length, 2, gauge.join('\n'));
  for (const line of workers) assert.match(line, /^loopwatch_eventloop_stall_in_progress_seconds\{thread_name="worker-\d+"\} 0$/);
  assert.doesNotMatch(err, /has been blocked/);
  // Then one ~600 ms task: exactly one stall on a worker, of the task's length (not wait + task), naming it.
  const [block] = blocks;
  assert.equal(block.fn, 'renderInvoice');
  const onWorkers = stalls.filter((s) => s.thread !== 'main');
  assert.equal(onWorkers.length, 1, JSON.stringify(onWorkers));
  const [s] = onWorkers;
  assert.match(s.thread, /^worker-\d+$/);
  assert.ok(s.durationMs >= 500 && s.durationMs <= 900, `duration ${s.durationMs} ms (task ${block.ms} ms)`);
  assert.equal(culpritFn(s.culprit), 'renderInvoice');
});

test('the main thread in Atomics.wait for 300 ms is one stall, naming the function that waits', async () => {
  const { code, stalls, blocks, err } = await runStallFixture(fixture('main-atomics-wait.cjs'), {
    execArgv: ['--require', 'loopwatch/register'],
    env: { LOOPWATCH_PROMETHEUS_PORT: 'off' },
  });
  assert.equal(code, 0, err);
  const [block] = blocks;
  assert.equal(block.result, 'timed-out');
  const during = stalls.filter((s) => s.startTime + s.durationMs >= block.start);
  assert.equal(during.length, 1, JSON.stringify(stalls));
  const [s] = during;
  assert.equal(s.thread, 'main');
  assert.ok(s.durationMs >= 280 && s.durationMs <= 600, `duration ${s.durationMs} ms`);
  assert.equal(culpritFn(s.culprit), 'waitForWorkerReply');
});

test('Atomics.wait on a worker thread with the agent: same name, length, results and exceptions; restored at stop', async () => {
  const { code, out, err } = await runStallFixture(fixture('worker-wait-contract.cjs'), { env: { LOOPWATCH_PROMETHEUS_PORT: 'off' } });
  assert.equal(code, 0, err);
  const r = JSON.parse(out.split('\n').find((l) => l.startsWith('RESULT ')).slice('RESULT '.length));
  assert.equal(r.wrapped, true);
  assert.deepEqual(r.after, r.before);
  assert.deepEqual(r.before.slice(0, 2), [{ value: 'timed-out' }, { value: 'not-equal' }]);
  assert.equal(r.before[5].error.startsWith('TypeError'), true);
  assert.deepEqual(r.shapes[1], r.shapes[0]);
  assert.deepEqual(r.shapes[0], { name: 'wait', length: 4, prototype: false, enumerable: false });
  assert.equal(r.restored, true);
});
