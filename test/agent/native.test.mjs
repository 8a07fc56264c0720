// The native deadline addon (agent/native/deadline.c): a timerfd one thread re-arms and another thread polls.
// Timing is observed from another thread with wide margins; the properties tested are "does not fire while it is
// pushed back" and "fires once after it stops being pushed back".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { spawnSync } from 'node:child_process';

const require = createRequire(import.meta.url);
const { loadNative, NATIVE_PATH } = require('../../agent/dist/native.js');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A worker that watches a descriptor and reports each firing with the time it saw it.
const WATCHER = `
const { parentPort, workerData } = require('node:worker_threads');
const { loadNative } = require(${JSON.stringify(require.resolve('../../agent/dist/native.js'))});
const w = loadNative().native.watch(workerData.fd, () => parentPort.postMessage({ fired: performance.timeOrigin + performance.now() }));
parentPort.on('message', (m) => { if (m === 'unwatch') { w.close(); w.close(); parentPort.postMessage('unwatched'); } });
parentPort.postMessage('watching');
`;

function native() {
  const loaded = loadNative();
  assert.ok('native' in loaded, `the build compiles the addon on Linux (${NATIVE_PATH}): ${loaded.error}`);
  return loaded.native;
}

test('the addon loads on Linux, where the build compiles it', { skip: process.platform !== 'linux' && 'Linux only' }, () => {
  const n = native();
  assert.equal(typeof n.createDeadline, 'function');
  assert.equal(typeof n.watch, 'function');
});

test('a deadline watched from another thread: silent while it is pushed back, fires once after the last push', { skip: process.platform !== 'linux' && 'Linux only' }, async (t) => {
  const d = native().createDeadline();
  t.after(() => d.close());
  const fires = [];
  const worker = new Worker(WATCHER, { eval: true, workerData: { fd: d.fd } });
  t.after(() => worker.terminate());
  worker.on('message', (m) => m.fired && fires.push(m.fired));
  await once(worker, 'message');

  // Pushed 300 ms ahead every 50 ms for 1.5 s: it never gets near firing.
  let lastArm = 0;
  for (let i = 0; i < 30; i++) {
    assert.equal(d.arm(300), true);
    lastArm = performance.timeOrigin + performance.now();
    await sleep(50);
  }
  assert.deepEqual(fires, [], 'no firing while the deadline is pushed back');

  const deadline = Date.now() + 5000;
  while (fires.length === 0 && Date.now() < deadline) await sleep(20);
  assert.equal(fires.length, 1, 'fires once the pushes stop');
  const after = fires[0] - lastArm;
  assert.ok(after >= 290 && after < 2000, `fired ${after.toFixed(0)} ms after the last push (armed for 300 ms)`);
  await sleep(700);
  assert.equal(fires.length, 1, 'one-shot: no second firing');

  // Disarmed (0) it does not fire; re-armed it does again.
  d.arm(200);
  d.arm(0);
  await sleep(500);
  assert.equal(fires.length, 1, 'disarmed');
  d.arm(50);
  const until = Date.now() + 5000;
  while (fires.length === 1 && Date.now() < until) await sleep(20);
  assert.equal(fires.length, 2);

  worker.postMessage('unwatch');
  await once(worker, 'message');
  d.arm(30);
  await sleep(300);
  assert.equal(fires.length, 2, 'nothing after unwatch');
});

test('watch refuses a descriptor that is not a timerfd, and reads nothing from it', { skip: process.platform !== 'linux' && 'Linux only' }, (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'loopwatch-native-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'app-data');
  writeFileSync(file, 'application bytes');
  const fd = openSync(file, 'r');
  t.after(() => closeSync(fd));
  assert.throws(() => native().watch(fd, () => {}), /timerfd_gettime failed: Invalid argument/);
  const buf = Buffer.alloc(64);
  const n = readSync(fd, buf, 0, buf.length, null);
  assert.equal(buf.subarray(0, n).toString(), 'application bytes', 'the file position was not moved');
  assert.throws(() => native().watch(-1, () => {}), /fd must be a descriptor number/);
  assert.throws(() => native().watch(fd, 'not a function'), /callback must be a function/);
});

test('close is idempotent; a closed deadline cannot be armed or watched', { skip: process.platform !== 'linux' && 'Linux only' }, () => {
  const d = native().createDeadline();
  const fd = d.fd;
  assert.ok(fd >= 0);
  d.close();
  d.close();
  assert.equal(d.fd, -1);
  assert.equal(d.arm(100), false);
  // The number is free (or reused by something else that is not a timerfd of ours): refused either way.
  assert.throws(() => native().watch(fd, () => {}));
  const binding = require(NATIVE_PATH);
  assert.throws(() => binding.arm({}, 10), /not a deadline/);
  assert.throws(() => binding.arm(binding.create(), -1), /ms must be 0/);
  assert.throws(() => binding.unwatch({}), /not a watch/);
});

// These run in a child process: what is checked is how the process ends.
const CHILD_CASES = {
  'a callback that throws leaves no exception behind (no uncaughtException, the next callbacks run)': `
    const binding = require(${JSON.stringify(NATIVE_PATH)});
    const d = binding.create();
    let calls = 0;
    process.on('uncaughtException', (e) => { console.log('uncaught', e.message); process.exit(3); });
    const w = binding.watch(binding.fd(d), () => { calls++; throw new Error('from the callback'); });
    binding.arm(d, 20);
    setTimeout(() => binding.arm(d, 20), 200);
    setTimeout(() => { binding.unwatch(w); console.log('calls', calls); }, 500);
  `,
  'a worker terminated while it watches is torn down cleanly': `
    const { Worker } = require('node:worker_threads');
    const binding = require(${JSON.stringify(NATIVE_PATH)});
    const d = binding.create();
    const w = new Worker(${JSON.stringify(`const b = require(${JSON.stringify(NATIVE_PATH)}); const { workerData, parentPort } = require('node:worker_threads'); b.watch(workerData.fd, () => {}); parentPort.postMessage('watching');`)}, { eval: true, workerData: { fd: binding.fd(d) } });
    w.once('message', async () => { binding.arm(d, 10000); await w.terminate(); binding.close(d); console.log('calls', 0); });
  `,
  'the process exits while a worker watches': `
    const { Worker } = require('node:worker_threads');
    const binding = require(${JSON.stringify(NATIVE_PATH)});
    const d = binding.create();
    const w = new Worker(${JSON.stringify(`const b = require(${JSON.stringify(NATIVE_PATH)}); const { workerData, parentPort } = require('node:worker_threads'); b.watch(workerData.fd, () => {}); parentPort.postMessage('watching');`)}, { eval: true, workerData: { fd: binding.fd(d) } });
    w.once('message', () => { binding.arm(d, 10000); console.log('calls', 0); process.exit(0); });
  `,
};
for (const [name, code] of Object.entries(CHILD_CASES)) {
  test(name, { skip: process.platform !== 'linux' && 'Linux only' }, () => {
    const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.signal, null, `no crash: ${r.stderr}`);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /calls (\d+)/);
    if (name.startsWith('a callback that throws')) assert.equal(r.stdout.trim(), 'calls 2', 'both firings reached the callback');
  });
}
