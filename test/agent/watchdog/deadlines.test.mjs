// The watchdog's native deadlines: which threads it watches (pure, with a fake addon), and what that buys (a real
// child process, its watchdog thread's wake-ups read from /proc by this process).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fixture, runChild } from '../helpers/child.mjs';

const require = createRequire(import.meta.url);
const { DeadlineWatches } = require('../../../agent/dist/watchdog/deadlines.js');
const { StallWatch } = require('../../../agent/dist/watchdog/stall-watch.js');
const { ThreadState } = require('../../../agent/dist/channel/thread-state.js');

function fakeNative({ refuse = new Set() } = {}) {
  const log = [];
  const native = {
    createDeadline() {
      throw new Error('not used');
    },
    watch(id, onFire) {
      if (refuse.has(id)) throw Object.assign(new Error(`deadline ${id} refused`), { code: refuse.get?.(id) });
      log.push(['watch', id]);
      return { close: () => log.push(['close', id]), fire: onFire };
    },
  };
  return { log, load: () => ({ native }) };
}

const thread = (id, deadlineId, running = true) => ({ id, state: { running, deadlineId } });

test('watches each running thread that has a deadline; releases it when the thread stops, goes or gets another deadline', () => {
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

test('a deadline that cannot be watched leaves its thread on the timer, said once, not retried', () => {
  const { log, load } = fakeNative({ refuse: new Set([30]) });
  const errors = [];
  const w = new DeadlineWatches((m, err) => errors.push(`${m}: ${err?.message}`), () => {}, load);
  w.sync([thread(1, 30)]);
  w.sync([thread(1, 30)]);
  assert.equal(w.covers(1), false);
  assert.deepEqual(log, []);
  assert.equal(errors.length, 1);
  assert.match(errors[0], /polling it on a timer instead: deadline 30 refused/);
  w.sync([thread(1, 31)]);
  assert.equal(w.covers(1), true, 'a new deadline is tried');
});

test('a deadline closed before it could be watched (its thread is stopping) is not an error', () => {
  const { load } = fakeNative({ refuse: new Map([[40, 'LOOPWATCH_DEADLINE_GONE']]) });
  const errors = [];
  const w = new DeadlineWatches((m) => errors.push(m), () => {}, load);
  w.sync([thread(1, 40)]);
  assert.equal(w.covers(1), false);
  assert.deepEqual(errors, []);
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

test('StallWatch sets no timer for a covered thread: with every thread covered it sleeps 1 s; a stall still polls at 50 ms', () => {
  const state = new ThreadState();
  state.init(10, 100, 10n ** 12n);
  const threads = new Map([[1, { id: 1, name: 'main', state }]]);
  const watch = new StallWatch({ threads: () => threads.values(), get: (id) => threads.get(id) }, false, () => {});
  const now = 10n ** 12n + 20_000_000n; // 20 ms after the beat
  assert.equal(watch.poll(now), 80, 'uncovered: wakes when the heartbeat is a threshold old');
  assert.equal(watch.poll(now, () => true), 1000, 'covered: its deadline wakes the watchdog instead');
  assert.equal(watch.poll(10n ** 12n + 150_000_000n, () => true), 50, 'covered and overdue: polled while the stall lasts');
});

/** Voluntary context switches (wake-ups after sleeping) of thread `tid` of process `pid`. */
const wakeups = (pid, tid) => Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'))[1]);

/** The wake-ups of the watchdog thread of an idle agent in 3 s. */
async function idleWatchdogWakeups(env) {
  const c = runChild(fixture('idle-agent.cjs'), { env: { LOOPWATCH_PROMETHEUS_PORT: 'off', ...env } });
  try {
    await c.waitFor(() => c.messages.some((m) => m.type === 'ready'), { what: 'agent ready' });
    const { threads } = c.messages.find((m) => m.type === 'ready');
    assert.equal(threads.length, 1, `starting the agent created one thread, the watchdog's: ${threads}`);
    if (Number(process.versions.node.split('.')[0]) >= 24) {
      assert.equal(readFileSync(`/proc/${c.child.pid}/task/${threads[0]}/comm`, 'utf8').trim(), 'loopwatch-watch');
    }
    await new Promise((r) => setTimeout(r, 1500)); // past start-up
    const before = wakeups(c.child.pid, threads[0]);
    await new Promise((r) => setTimeout(r, 3000));
    return wakeups(c.child.pid, threads[0]) - before;
  } finally {
    c.child.kill();
    await c.exited;
  }
}

test('with the addon the idle watchdog thread sleeps: ≤ 5 wake-ups in 3 s, against ≥ 20 on its timer', { skip: process.platform !== 'linux' && 'Linux only (/proc)' }, async (t) => {
  const native = await idleWatchdogWakeups({});
  const timer = await idleWatchdogWakeups({ LOOPWATCH_NATIVE: 'off' });
  t.diagnostic(`watchdog wake-ups in 3 s: ${native} with native deadlines, ${timer} on its timer`);
  assert.ok(timer >= 20, `on its timer the watchdog wakes about 10 times a second: ${timer} in 3 s`);
  assert.ok(native <= 5, `with native deadlines it wakes about once a second (its bookkeeping): ${native} in 3 s`);
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
