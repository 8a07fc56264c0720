// The watchdog's view of heartbeats, with a fake clock: when attribution starts, when it ends, when to wake.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { StallWatch } = require('../../../agent/dist/watchdog/stall-watch.js');
const { LoopSampler } = require('../../../agent/dist/heartbeat/sampler.js');
const { ThreadState } = require('../../../agent/dist/channel/thread-state.js');

function setup() {
  const c = { ns: 10n ** 12n, active: 0, idle: 0 };
  const clock = { nowNs: () => c.ns, loopTime: () => ({ active: c.active, idle: c.idle }), wallMs: () => 0 };
  const state = new ThreadState();
  const sampler = new LoopSampler(state, 10, 100, clock, () => {}, 50);
  const events = [];
  const lines = [];
  const threads = new Map([[1, { id: 1, name: 'main', state }]]);
  const watch = new StallWatch(
    { threads: () => threads.values(), get: (id) => threads.get(id) },
    true,
    (l) => lines.push(l),
    { onStallStart: (id) => events.push(['start', id]), onStallEnd: (id) => events.push(['end', id]) },
  );
  const ms = (x) => BigInt(Math.round(x * 1e6));
  return {
    state, events, lines, watch, threads,
    /** Loop time passes: `busy` ms of running code, `idle` ms waiting. */
    pass(busy, idle = 0) { c.ns += ms(busy + idle); c.active += busy; c.idle += idle; },
    beat: () => sampler.beat(),
    poll: () => watch.poll(c.ns),
  };
}

test('a healthy thread: the watchdog sleeps until the heartbeat is a threshold old', () => {
  const w = setup();
  w.pass(0, 10);
  assert.equal(w.beat(), 50); // quiet: next beat in 50 ms
  w.pass(0, 20);
  assert.equal(w.poll(), 80); // 100 ms after the last beat
  assert.deepEqual(w.events, []);
});

test('attribution starts as soon as a stall is possible, even before the blocked time reaches the threshold', () => {
  const w = setup();
  w.pass(0, 10);
  w.beat(); // next beat due in 50 ms
  w.pass(0, 2);
  w.pass(99); // blocked since 2 ms after the beat: heartbeat 101 ms old, "blocked for" only 51 ms
  assert.equal(w.poll(), 50, 'while a stall is possible the watchdog polls often');
  assert.deepEqual(w.events, [['start', 1]]);
  w.pass(1000);
  w.poll();
  assert.equal(w.lines.length, 1, 'progress is reported from 1 s blocked');
  assert.match(w.lines[0], /blocked for 1\.\d s/);
  w.beat();
  w.poll();
  assert.deepEqual(w.events, [['start', 1], ['end', 1]]);
});

test('a block shorter than the threshold never starts attribution', () => {
  const w = setup();
  w.pass(0, 10);
  w.beat();
  w.pass(95); // 95 ms block right after the beat: the heartbeat is 95 ms old
  w.poll();
  w.beat();
  w.poll();
  assert.deepEqual(w.events, []);
});

test('a thread that goes away in the middle of a stall ends it (its attribution session is closed)', () => {
  const w = setup();
  w.pass(0, 10);
  w.beat();
  w.pass(150);
  w.poll();
  assert.deepEqual(w.events, [['start', 1]]);
  // worker.terminate() on the blocked worker: its heartbeat never comes back, the directory drops it.
  w.threads.delete(1);
  w.poll();
  assert.deepEqual(w.events, [['start', 1], ['end', 1]]);
  w.poll();
  assert.deepEqual(w.events, [['start', 1], ['end', 1]], 'ended once');
});
