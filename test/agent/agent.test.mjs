// End-to-end behaviour of the agent in a real process, observed from this (other) process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fixture, parseMetrics, runChild, sample } from './helpers/child.mjs';
import { createServer } from 'node:net';

const STALL = 'loopwatch_eventloop_stall_duration_seconds_count';

test('a 300 ms block is reported once, with its duration within ±20 %', async (t) => {
  const app = runChild(fixture('block.cjs'), { args: ['300', '200'], env: { LOOPWATCH_LOG: 'stderr' } });
  t.after(() => app.kill());
  const ready = await app.message('ready');
  await app.message('unblocked');
  const stall = await app.waitFor(() => app.messages.find((m) => m.type === 'stall' && m.durationMs > 200), { what: 'the 300 ms stall' });
  assert.equal(stall.thread, 'main');
  assert.ok(Math.abs(stall.durationMs - 300) <= 60, `duration ${stall.durationMs} ms`);
  assert.ok(Array.isArray(stall.stack));
  // LOOPWATCH_LOG=stderr: the dev reporter prints the stall readably.
  await app.waitFor(() => /\[loopwatch\] stall \d+ ms on main/.test(app.stderr), { what: 'the stderr report' });
  assert.ok(Math.abs(stall.startTime - (Date.now() - 300)) < 10_000);
  // Exactly one stall for the block (a loaded machine may add unrelated short ones before it).
  const blocking = app.messages.find((m) => m.type === 'blocking').at;
  const ours = app.messages.filter((m) => m.type === 'stall' && m.startTime >= blocking - 50);
  assert.equal(ours.length, 1, JSON.stringify(ours));
  const metrics = parseMetrics(await (await fetch(ready.prometheusUrl)).text());
  const all = app.messages.filter((m) => m.type === 'stall');
  assert.equal(sample(metrics, STALL, { thread_name: 'main' }).value, all.length);
  const total = sample(metrics, 'loopwatch_eventloop_stall_seconds_total', { thread_name: 'main' }).value;
  const expected = all.reduce((s, e) => s + e.durationMs / 1000, 0);
  assert.ok(Math.abs(total - expected) < 1e-6, `stalled seconds ${total} vs events ${expected}`);
});

test('a scrape during a 5 s block answers fast and shows the block growing', async (t) => {
  const app = runChild(fixture('block.cjs'), { args: ['5000', '200'] });
  t.after(() => app.kill());
  const { prometheusUrl } = await app.message('ready');
  // The child prints 'blocking' just before it freezes; poll the endpoint while it is frozen.
  await app.message('blocking');
  const readings = [];
  const timings = [];
  const until = Date.now() + 3500;
  while (Date.now() < until) {
    const t0 = performance.now();
    const body = await (await fetch(prometheusUrl)).text();
    timings.push(performance.now() - t0);
    const s = sample(parseMetrics(body), 'loopwatch_eventloop_stall_in_progress_seconds', { thread_name: 'main' });
    if (!app.messages.some((m) => m.type === 'unblocked')) readings.push(s.value);
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.ok(!app.messages.some((m) => m.type === 'unblocked'), 'the child must still be blocked while we scrape');
  const positive = readings.filter((v) => v > 0);
  assert.ok(positive.length >= 5, `in-progress readings: ${readings}`);
  for (let i = 1; i < positive.length; i++) assert.ok(positive[i] > positive[i - 1], `not growing: ${positive}`);
  assert.ok(positive.at(-1) >= 2.5, `last reading ${positive.at(-1)}`);
  timings.sort((a, b) => a - b);
  const median = timings[Math.floor(timings.length / 2)];
  assert.ok(median < 100, `median scrape ${median.toFixed(1)} ms (all: ${timings.map((x) => x.toFixed(0))})`);
  assert.ok(timings.at(-1) < 1000, `slowest scrape ${timings.at(-1)} ms`);
  // After the block, the gauge is back to 0 and the stall is counted with its full length.
  await app.message('unblocked');
  const stall = await app.waitFor(() => app.messages.find((m) => m.type === 'stall' && m.durationMs > 4000), { what: 'the 5 s stall' });
  assert.ok(Math.abs(stall.durationMs - 5000) <= 500, `duration ${stall.durationMs}`);
  const after = parseMetrics(await (await fetch(prometheusUrl)).text());
  assert.equal(sample(after, 'loopwatch_eventloop_stall_in_progress_seconds', { thread_name: 'main' }).value, 0);
});

test('the process exits on its own with the agent running', async (t) => {
  const app = runChild(fixture('exits.cjs'));
  t.after(() => app.kill());
  const deadline = new Promise((_, reject) => setTimeout(() => reject(new Error(`did not exit; stderr: ${app.stderr}`)), 15_000).unref());
  const { code } = await Promise.race([app.exited, deadline]);
  assert.equal(code, 0);
  assert.ok(app.messages.some((m) => m.type === 'started' && m.enabled === true));
  assert.ok(app.messages.some((m) => m.type === 'done'));
});

test('a worker thread that loads the agent reports its stalls with its thread name, on the main agent too', async (t) => {
  const app = runChild(fixture('worker-stall.cjs'));
  t.after(() => app.kill());
  const { prometheusUrl } = await app.message('ready');
  // The 400 ms block (a loaded machine can add shorter stalls of its own, the worker's start-up among them).
  const fromMain = await app.waitFor(() => app.messages.find((m) => m.type === 'stall' && m.observer === 'main' && m.thread === 'image-resizer' && m.durationMs > 300), { what: 'worker stall on the main agent' });
  assert.ok(Math.abs(fromMain.durationMs - 400) <= 80, `duration ${fromMain.durationMs}`);
  assert.ok(app.messages.find((m) => m.type === 'stall' && m.observer === 'worker' && m.thread === 'image-resizer' && m.durationMs > 300));
  // The worker's block is not the main thread's (load can give main short stalls of its own).
  assert.ok(!app.messages.some((m) => m.type === 'stall' && m.thread === 'main' && m.durationMs > 300), 'the main thread did not stall');
  const metrics = parseMetrics(await (await fetch(prometheusUrl)).text());
  // The block, and any start-up stall of the worker a loaded machine adds.
  assert.ok(sample(metrics, STALL, { thread_name: 'image-resizer' })?.value >= 1);
  assert.ok(sample(metrics, 'loopwatch_eventloop_delay_seconds_count', { thread_name: 'image-resizer' })?.value > 0);
  assert.ok(sample(metrics, 'nodejs_eventloop_utilization_ratio', { thread_name: 'image-resizer' }));
});

test('worker threads: unnamed and same-named workers get series of their own; terminated ones go, even mid-stall', async (t) => {
  const app = runChild(fixture('worker-lifecycle.cjs'), { env: { LOOPWATCH_LOG: 'stderr' } });
  t.after(() => app.kill());
  const before = await app.message('before');
  const [a, b, c, d] = before.ids;
  // Node 24 names every unnamed worker "WorkerThread": they used to share one set of series. Of two workers given
  // one name, whichever announced itself second is told apart by its thread id.
  const second = before.names.includes(`resizer#${c}`) ? c : d;
  assert.deepEqual(before.names, ['main', 'resizer', `resizer#${second}`, `worker-${a}`, `worker-${b}`].sort());
  // Each thread's series carry its label: one stall histogram per thread.
  const errorSeries = parseMetrics(before.text).filter((s) => s.name === 'loopwatch_eventloop_stall_duration_seconds_count');
  assert.equal(new Set(errorSeries.map((s) => s.labels.thread_name)).size, errorSeries.length, 'no duplicate series');
  const after = await app.message('after');
  assert.deepEqual(after.names, ['main', second === c ? `resizer#${c}` : 'resizer', `worker-${b}`].sort());
  await app.message('done');
  assert.doesNotMatch(app.stderr, /thread "worker-\d+" has been blocked/, 'a terminated idle worker is not reported as blocked');
  // The worker terminated mid-block left no inspector session behind: the process exits without waiting for one.
  assert.equal((await app.exited).code, 0);
  assert.doesNotMatch(app.stderr, /Waiting for the debugger to disconnect/);
});

test('a start() that fails part-way leaves nothing running, and a later start() works', async (t) => {
  const port = await new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
  const app = runChild(fixture('failed-start.cjs'), { args: [String(port)] });
  t.after(() => app.kill());
  const r = await app.message('result');
  assert.deepEqual(r, { type: 'result', failedEnabled: false, leftListening: false, restarted: true, ok: true });
  assert.match(app.stderr, /could not start; loopwatch is off/);
  assert.doesNotMatch(app.stderr, /already in use|already running/);
  // Nothing of either start keeps the process alive.
  assert.equal((await app.exited).code, 0);
});

test('process.exit() right after a block: the exit code is kept and no "Waiting for the debugger" is printed', async (t) => {
  const app = runChild(fixture('exit-after-block.cjs'));
  t.after(() => app.kill());
  const { code } = await app.exited;
  assert.equal(code, 3);
  assert.doesNotMatch(app.stderr, /Waiting for the debugger/);
});

test('stalls are not lost at the end: one pending at stop(), one in the last callback before exit; a throwing listener does not silence the others', async (t) => {
  for (const phase of ['stop', 'exit']) {
    const app = runChild(fixture('stall-at-the-end.cjs'), { args: [phase] });
    t.after(() => app.kill());
    const { code } = await app.exited;
    assert.equal(code, 0, app.stderr);
    const stalls = app.messages.filter((m) => m.type === 'stall');
    assert.equal(stalls.length, 1, `${phase}: ${JSON.stringify(app.messages)}\n${app.stderr}`);
    assert.ok(Math.abs(stalls[0].durationMs - 300) <= 60, `${phase}: duration ${stalls[0].durationMs}`);
    assert.equal(app.messages.filter((m) => m.type === 'once').length, 1, 'a once listener hears it once');
    assert.match(app.stderr, /a 'stall' listener threw: .*a broken listener/);
  }
});

test('a second start() with other options returns the running agent and says once which options it did not apply', async (t) => {
  const app = runChild(fixture('second-start.cjs'));
  t.after(() => app.kill());
  const r = await app.message('result');
  assert.deepEqual(r, { type: 'result', same: true, enabled: true });
  assert.equal((await app.exited).code, 0);
  const lines = app.stderr.split('\n').filter((l) => l.startsWith('[loopwatch]'));
  assert.deepEqual(lines, [
    "[loopwatch] start() was called again, with options that differ from the running agent's (stallThresholdMs, log); " +
      'the running agent keeps its own and is returned: stop() it first to start with other options.',
  ]);
});
