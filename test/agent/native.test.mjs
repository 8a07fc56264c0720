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
const { loadNative, NATIVE_PATH } = require('../../agent/dist/runtime/native.js');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A worker that watches a descriptor and reports each firing with the time it saw it.
const WATCHER = `
const { parentPort, workerData } = require('node:worker_threads');
const { loadNative } = require(${JSON.stringify(require.resolve('../../agent/dist/runtime/native.js'))});
const w = loadNative().native.watch(workerData.id, () => parentPort.postMessage({ fired: performance.timeOrigin + performance.now() }));
parentPort.on('message', (m) => { if (m === 'unwatch') { w.close(); w.close(); parentPort.postMessage('unwatched'); } });
setInterval(() => {}, 1000); // a watch does not keep the thread alive by itself
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
  const worker = new Worker(WATCHER, { eval: true, workerData: { id: d.id } });
  t.after(() => worker.terminate());
  worker.on('message', (m) => m.fired && fires.push(m.fired));
  await once(worker, 'message');

  // Pushed 500 ms ahead every 50 ms for 1.5 s: it never gets near firing.
  let lastArm = 0;
  for (let i = 0; i < 30; i++) {
    assert.equal(d.arm(500), true);
    lastArm = performance.timeOrigin + performance.now();
    await sleep(50);
  }
  assert.deepEqual(fires, [], 'no firing while the deadline is pushed back');

  const deadline = Date.now() + 10_000;
  while (fires.length === 0 && Date.now() < deadline) await sleep(20);
  assert.equal(fires.length, 1, 'fires once the pushes stop');
  const after = fires[0] - lastArm;
  assert.ok(after >= 490 && after < 5000, `fired ${after.toFixed(0)} ms after the last push (armed for 500 ms)`);
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

test('watch takes ids, not descriptor numbers: a closed deadline is refused, its number never touched', { skip: process.platform !== 'linux' && 'Linux only' }, (t) => {
  const n = native();
  const d = n.createDeadline();
  const id = d.id;
  d.close();
  // The number the closed deadline had is taken by an application file now (the lowest free number is reused).
  const dir = mkdtempSync(join(tmpdir(), 'loopwatch-native-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'app-data');
  writeFileSync(file, 'application bytes');
  const fd = openSync(file, 'r');
  t.after(() => closeSync(fd));
  assert.throws(() => n.watch(id, () => {}), (err) => err.code === 'LOOPWATCH_DEADLINE_GONE');
  // A new deadline may get the same table slot: the old id still names the closed one.
  const d2 = n.createDeadline();
  t.after(() => d2.close());
  assert.notEqual(d2.id, id);
  assert.throws(() => n.watch(id, () => {}), (err) => err.code === 'LOOPWATCH_DEADLINE_GONE');
  const buf = Buffer.alloc(64);
  const got = readSync(fd, buf, 0, buf.length, null);
  assert.equal(buf.subarray(0, got).toString(), 'application bytes', 'the application file was not read from');
  assert.throws(() => n.watch(-1, () => {}), /id must be a deadline id/);
  assert.throws(() => n.watch(1.5, () => {}), /id must be a deadline id/);
  assert.throws(() => n.watch(d2.id, 'not a function'), /callback must be a function/);
  n.watch(d2.id, () => {}).close();
});

test('close is idempotent; a closed deadline cannot be armed', { skip: process.platform !== 'linux' && 'Linux only' }, () => {
  const d = native().createDeadline();
  assert.ok(d.id >= 0);
  d.close();
  d.close();
  assert.equal(d.id, -1);
  assert.equal(d.arm(100), false);
  const binding = require(NATIVE_PATH);
  assert.throws(() => binding.arm({}, 10), /not a deadline/);
  assert.throws(() => binding.arm(binding.create(), -1), /ms must be 0/);
  assert.throws(() => binding.unwatch({}), /not a watch/);
  // Another kind of native handle is not taken for one of ours.
  const watch = binding.watch(binding.id(binding.create()), () => {});
  assert.throws(() => binding.arm(watch, 10), /not a deadline/);
  binding.unwatch(watch);
});

const WATCHING_WORKER = `const b = require(${JSON.stringify(NATIVE_PATH)}); const { workerData, parentPort } = require('node:worker_threads');
const w = b.watch(workerData.id, () => parentPort.postMessage('fired'));
parentPort.on('message', (m) => { if (m === 'unwatch') b.unwatch(w); });
parentPort.postMessage('watching');`;

// These run in a child process: what is checked is how the process ends, and what it printed.
const CHILD_CASES = [
  [
    'a callback that throws leaves no exception behind (no uncaughtException, the next firing runs too)',
    `const binding = require(${JSON.stringify(NATIVE_PATH)});
    const d = binding.create();
    let calls = 0;
    process.on('uncaughtException', (e) => { console.log('uncaught', e.message); process.exit(3); });
    const w = binding.watch(binding.id(d), () => { calls++; throw new Error('from the callback'); });
    binding.arm(d, 20);
    setTimeout(() => binding.arm(d, 20), 300);
    setTimeout(() => { binding.unwatch(w); console.log('calls', calls); }, 1500);`,
    'calls 2',
  ],
  [
    'a worker terminated while it watches is torn down cleanly, also with a firing pending',
    `const { Worker } = require('node:worker_threads');
    const binding = require(${JSON.stringify(NATIVE_PATH)});
    const d = binding.create();
    const w = new Worker(${JSON.stringify(WATCHING_WORKER)}, { eval: true, workerData: { id: binding.id(d) } });
    w.once('message', async () => {
      binding.arm(d, 1);
      const end = Date.now() + 50; while (Date.now() < end); // the firing is pending in the worker's loop
      await w.terminate();
      binding.close(d);
      console.log('terminated');
    });`,
    'terminated',
  ],
  [
    'unwatch right before terminate',
    `const { Worker } = require('node:worker_threads');
    const binding = require(${JSON.stringify(NATIVE_PATH)});
    const d = binding.create();
    const w = new Worker(${JSON.stringify(WATCHING_WORKER)}, { eval: true, workerData: { id: binding.id(d) } });
    w.once('message', async () => { w.postMessage('unwatch'); await w.terminate(); console.log('terminated'); });`,
    'terminated',
  ],
  [
    'the process exits while a worker watches',
    `const { Worker } = require('node:worker_threads');
    const binding = require(${JSON.stringify(NATIVE_PATH)});
    const d = binding.create();
    const w = new Worker(${JSON.stringify(WATCHING_WORKER)}, { eval: true, workerData: { id: binding.id(d) } });
    w.once('message', () => { binding.arm(d, 10000); console.log('exiting'); process.exit(0); });`,
    'exiting',
  ],
  [
    'handles collected before they are released: nothing fires into freed memory, unwatch stays safe',
    `const binding = require(${JSON.stringify(NATIVE_PATH)});
    let fired = 0;
    // Armed past the first loop iteration: Node 22 runs N-API finalizers from a setImmediate after the GC, and a loaded
    // machine can start the loop later than a 30 ms timer, whose firing is polled before the finalizer's turn.
    (() => { const d = binding.create(); binding.watch(binding.id(d), () => fired++); binding.arm(d, 300); })();
    const kept = binding.create();
    const w = binding.watch(binding.id(kept), () => fired++);
    globalThis.gc(); globalThis.gc();
    binding.arm(kept, 30);
    setTimeout(() => { globalThis.gc(); binding.unwatch(w); binding.unwatch(w); console.log('fired', fired); process.exit(0); }, 1500);`,
    // The collected deadline was closed (disarmed) by its finalizer, so only the kept one fires.
    'fired 1',
    ['--expose-gc'],
  ],
];
for (const [name, code, expected, execArgv = []] of CHILD_CASES) {
  test(name, { skip: process.platform !== 'linux' && 'Linux only' }, () => {
    const r = spawnSync(process.execPath, [...execArgv, '-e', code], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.signal, null, `no crash: ${r.stderr}`);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(r.stdout.trim(), expected);
  });
}
