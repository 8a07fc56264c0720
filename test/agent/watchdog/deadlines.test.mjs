// The watchdog's native deadlines: which threads it watches (pure, with a fake addon), and what that buys (a real
// child process, its watchdog thread's wake-ups read from /proc by this process).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fixture, runChild } from '../helpers/child.mjs';

const require = createRequire(import.meta.url);
const { DeadlineWatches } = require('../../../agent/dist/watchdog/deadlines.js');
const { StallWatch } = require('../../../agent/dist/watchdog/stall-watch.js');
const { ThreadState } = require('../../../agent/dist/thread/state.js');

function fakeNative({ refuse = new Set() } = {}) {
  const log = [];
  const native = {
    createDeadline() {
      throw new Error('not used');
    },
    watch(fd, onFire) {
      if (refuse.has(fd)) throw new Error(`fd ${fd} refused`);
      log.push(['watch', fd]);
      return { close: () => log.push(['close', fd]), fire: onFire };
    },
  };
  return { log, load: () => ({ native }) };
}

const thread = (id, fd, running = true) => ({ id, state: { running, deadlineFd: fd } });

test('watches each running thread that has a deadline; releases it when the thread stops, goes or changes descriptor', () => {
  const { log, load } = fakeNative();
  const errors = [];
  const w = new DeadlineWatches((m) => errors.push(m), () => {}, load);
  w.sync([thread(1, 20), thread(2, undefined)]);
  assert.deepEqual(log, [['watch', 20]]);
  assert.equal(w.covers(1), true);
  assert.equal(w.covers(2), false, 'no deadline: polled on a timer');
  w.sync([thread(1, 20), thread(2, undefined)]);
  assert.equal(log.length, 1, 'nothing new: nothing done');
  w.sync([thread(1, 20), thread(2, 21)]);
  assert.deepEqual(log.at(-1), ['watch', 21]);
  w.sync([thread(1, 20, false), thread(2, 22)]);
  assert.deepEqual(log.slice(-3), [['close', 20], ['close', 21], ['watch', 22]]);
  assert.equal(w.covers(1), false, 'a stopped thread');
  w.sync([]);
  assert.deepEqual(log.at(-1), ['close', 22], 'a thread gone from the directory');
  assert.equal(w.covers(2), false);
  assert.deepEqual(errors, []);
});

test('a descriptor that cannot be watched leaves its thread on the timer, said once, not retried', () => {
  const { log, load } = fakeNative({ refuse: new Set([30]) });
  const errors = [];
  const w = new DeadlineWatches((m, err) => errors.push(`${m}: ${err?.message}`), () => {}, load);
  w.sync([thread(1, 30)]);
  w.sync([thread(1, 30)]);
  assert.equal(w.covers(1), false);
  assert.deepEqual(log, []);
  assert.equal(errors.length, 1);
  assert.match(errors[0], /polling it on a timer instead: fd 30 refused/);
  w.sync([thread(1, 31)]);
  assert.equal(w.covers(1), true, 'a new descriptor is tried');
});

test('no addon in the watchdog: every thread stays on the timer', () => {
  const errors = [];
  const w = new DeadlineWatches((m) => errors.push(m), () => {}, () => ({ error: 'native addon not loaded (test)' }));
  w.sync([thread(1, 20)]);
  assert.equal(w.covers(1), false);
  assert.deepEqual(errors, ['native addon not loaded (test)']);
});

test('a firing runs the watchdog; an error there goes to the diagnostics, not up into the event loop', () => {
  const { load } = fakeNative();
  const errors = [];
  let runs = 0;
  let handle;
  const native = load().native;
  const w = new DeadlineWatches((m, err) => errors.push(`${m}: ${err.message}`), () => {
    runs++;
    throw new Error('poll broke');
  }, () => ({ native: { ...native, watch: (fd, onFire) => (handle = native.watch(fd, onFire)) } }));
  w.sync([thread(1, 20)]);
  handle.fire();
  assert.equal(runs, 1);
  assert.deepEqual(errors, ['deadline callback failed: poll broke']);
});

test('StallWatch sets no timer for a covered thread: with every thread covered it sleeps 5 s; a stall still polls at 50 ms', () => {
  const state = new ThreadState();
  state.init(10, 100, 10n ** 12n);
  const threads = new Map([[1, { id: 1, name: 'main', state }]]);
  const watch = new StallWatch({ threads: () => threads.values(), get: (id) => threads.get(id) }, false, () => {});
  const now = 10n ** 12n + 20_000_000n; // 20 ms after the beat
  assert.equal(watch.poll(now), 80, 'uncovered: wakes when the heartbeat is a threshold old');
  assert.equal(watch.poll(now, () => true), 5000, 'covered: its deadline wakes the watchdog instead');
  assert.equal(watch.poll(10n ** 12n + 150_000_000n, () => true), 50, 'covered and overdue: polled while the stall lasts');
});

/**
 * Voluntary context switches (wake-ups after sleeping) of each thread of process `pid` but its main thread and
 * libuv's pool (whose threadpool probe wakes one of them every second), by thread id. Node 24 names the watchdog's
 * thread "loopwatch-watch"; Node 22 names every thread "node", so the watchdog is found by what it does.
 */
function wakeups(pid) {
  const out = new Map();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    if (Number(tid) === pid) continue;
    try {
      if (readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim() === 'libuv-worker') continue;
      out.set(tid, Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'))[1]));
    } catch (err) {
      if (err.code !== 'ENOENT') throw err; // a thread that ended in between
    }
  }
  return out;
}

/** The most wake-ups any thread other than the main thread and libuv's pool had in 3 s of an idle agent. */
async function busiestHelperThread(env) {
  const c = runChild(fixture('block.cjs'), { args: ['300', '600000'], env: { LOOPWATCH_PROMETHEUS_PORT: 'off', ...env } });
  try {
    await c.waitFor(() => c.messages.some((m) => m.type === 'ready'), { what: 'agent ready' });
    await new Promise((r) => setTimeout(r, 1500)); // past start-up
    const before = wakeups(c.child.pid);
    await new Promise((r) => setTimeout(r, 3000));
    const after = wakeups(c.child.pid);
    return Math.max(...[...after].map(([tid, n]) => n - (before.get(tid) ?? 0)));
  } finally {
    c.child.kill();
    await c.exited;
  }
}

test('with the addon the idle watchdog thread sleeps: ≤ 3 wake-ups in 3 s, against ≥ 15 on its timer', { skip: process.platform !== 'linux' && 'Linux only (/proc)' }, async () => {
  const native = await busiestHelperThread({});
  const timer = await busiestHelperThread({ LOOPWATCH_NATIVE: 'off' });
  assert.ok(timer >= 15, `on its timer the watchdog wakes about 10 times a second: ${timer} in 3 s`);
  assert.ok(native <= 3, `with native deadlines no helper thread wakes while heartbeats are on time: ${native} in 3 s`);
});

for (const mode of ['on', 'off']) {
  test(`LOOPWATCH_NATIVE=${mode}: a 300 ms block is reported once, with its duration and its code`, async () => {
    const c = runChild(fixture('block.cjs'), { args: ['300', '500'], env: { LOOPWATCH_NATIVE: mode } });
    try {
      await c.waitFor(() => c.messages.some((m) => m.type === 'stall'), { what: 'stall event' });
      await new Promise((r) => setTimeout(r, 300));
      const stalls = c.messages.filter((m) => m.type === 'stall');
      assert.equal(stalls.length, 1);
      assert.ok(stalls[0].durationMs >= 240 && stalls[0].durationMs <= 360, `duration ${stalls[0].durationMs}`);
      assert.ok(stalls[0].stack.some((f) => /block\.cjs$/.test(f.fileName)), `frames from the blocking code: ${JSON.stringify(stalls[0].stack)}`);
    } finally {
      c.child.kill();
      await c.exited;
    }
  });
}
