// The health evaluation alone, with a fake clock and ThreadStates written by hand: exact thresholds, the
// agreement of "blocked" with the watchdog's stall in progress, the delay window and the recovery hold.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { HealthEvaluator } = require('../../../agent/dist/health/evaluate.js');
const { ThreadState } = require('../../../agent/dist/channel/thread-state.js');
const { StallWatch } = require('../../../agent/dist/watchdog/stall-watch.js');

const MS = 1_000_000n;
const LIMITS = { livenessTimeoutMs: 2000, readinessStallMs: 500, readinessDelayMs: 50, delayWindowMs: 1000, readinessPoolPending: 3, recoveryMs: 1000 };

function setup(limits = LIMITS) {
  const clock = { ns: 10n ** 12n };
  const state = new ThreadState();
  // Threshold 100 ms, heartbeat interval 10 ms.
  state.init(10, 100, clock.ns);
  const threads = [{ id: 1, name: 'main', state }];
  const series = [];
  const source = { threads: () => threads, series: () => series };
  const ev = new HealthEvaluator(limits, () => clock.ns);
  const at = (ms) => {
    clock.ns += BigInt(ms) * MS;
  };
  // The loop turning: a beat every 10 ms.
  const run = (ms) => {
    for (let i = 0; i < ms; i += 10) {
      at(Math.min(10, ms - i));
      state.beat(clock.ns);
    }
  };
  return { clock, state, threads, series, source, ev, at, run, beat: () => state.beat(clock.ns) };
}

test('a block: ok under the stall threshold, blocked but ready under readinessStallMs, not ready from it, not live from the liveness timeout', () => {
  const h = setup();
  assert.deepEqual(h.ev.evaluate(h.source), { live: true, ready: true, state: 'ok', blockedForMs: 0 });
  h.at(100); // heartbeat age 100, minus the 10 ms interval: 90 < 100, not a stall
  assert.equal(h.ev.evaluate(h.source).state, 'ok');
  h.at(20); // age 120: blocked 110 ms
  assert.deepEqual(h.ev.evaluate(h.source), { live: true, ready: true, state: 'blocked', thread: 'main', blockedForMs: 110 });
  h.at(399); // blocked 509 ms
  assert.deepEqual(h.ev.evaluate(h.source), { live: true, ready: false, state: 'blocked', thread: 'main', blockedForMs: 509, reason: 'stall' });
  h.at(1490); // blocked 1999 ms
  assert.equal(h.ev.evaluate(h.source).live, true);
  h.at(1); // blocked 2000 ms
  assert.deepEqual(h.ev.evaluate(h.source), { live: false, ready: false, state: 'blocked', thread: 'main', blockedForMs: 2000, reason: 'stall' });
});

test('"blocked" is the stall the watchdog reports: the same thread and time as StallWatch in progress', () => {
  const h = setup();
  const lines = [];
  const byId = new Map(h.threads.map((t) => [t.id, t]));
  const watch = new StallWatch({ threads: () => h.threads, get: (id) => byId.get(id) }, true, (l) => lines.push(l));
  h.at(1010); // blocked 1000 ms
  watch.poll(h.clock.ns);
  assert.deepEqual(lines, ['thread "main" has been blocked for 1.0 s (stall in progress)']);
  const snap = h.ev.evaluate(h.source);
  assert.deepEqual({ thread: snap.thread, blockedForMs: snap.blockedForMs, state: snap.state }, { thread: 'main', blockedForMs: 1000, state: 'blocked' });
});

test('recovery hold: readiness returns recoveryMs after the last bad evaluation, not before', () => {
  const h = setup();
  h.ev.evaluate(h.source);
  h.at(600); // blocked 590 ms
  assert.equal(h.ev.evaluate(h.source).ready, false);
  h.beat(); // the block ends
  h.run(999);
  assert.deepEqual(h.ev.evaluate(h.source), { live: true, ready: false, state: 'ok', blockedForMs: 0, reason: 'recovering' });
  h.run(1);
  assert.deepEqual(h.ev.evaluate(h.source), { live: true, ready: true, state: 'ok', blockedForMs: 0 });
});

test('a stall that began and ended between two evaluations fails readiness at the next one', () => {
  const h = setup();
  h.ev.evaluate(h.source);
  h.state.recordStall(0.499);
  assert.equal(h.ev.evaluate(h.source).ready, true, 'shorter than readinessStallMs');
  h.state.recordStall(0.5);
  assert.deepEqual(h.ev.evaluate(h.source), { live: true, ready: false, state: 'ok', blockedForMs: 0, reason: 'stall' });
});

test('delay: p99 over the recent window against readinessDelayMs', () => {
  const h = setup();
  h.ev.evaluate(h.source); // the window starts here
  for (let i = 0; i < 99; i++) h.state.recordDelay(0.001);
  h.state.recordDelay(0.2);
  h.at(100);
  h.beat();
  // 1 sample in 100 at 200 ms: the p99 rank is the 99th sample (1 ms).
  let snap = h.ev.evaluate(h.source);
  assert.equal(snap.ready, true);
  assert.ok(snap.delayP99Ms > 0.9 && snap.delayP99Ms < 1.1, String(snap.delayP99Ms));
  for (let i = 0; i < 5; i++) h.state.recordDelay(0.08);
  snap = h.ev.evaluate(h.source);
  assert.equal(snap.state, 'saturated');
  assert.equal(snap.reason, 'delay');
  assert.equal(snap.thread, 'main');
  assert.ok(snap.delayP99Ms > 76 && snap.delayP99Ms < 84, String(snap.delayP99Ms));
  // Two windows later with only small delays since, the old samples are out of the window.
  for (let step = 0; step < 3; step++) {
    h.at(1000);
    h.beat();
    for (let i = 0; i < 100; i++) h.state.recordDelay(0.001);
    snap = h.ev.evaluate(h.source);
  }
  assert.ok(snap.delayP99Ms < 1.1, String(snap.delayP99Ms));
  assert.equal(snap.state, 'ok');
});

test('pool waiters over the limit: saturated, naming the pool; at the limit: ready', () => {
  const h = setup();
  const pending = { def: { name: 'loopwatch.pool.pending' }, attributes: { 'pool.name': 'pg' }, data: new Float64Array([3]) };
  h.series.push({ def: { name: 'loopwatch.pool.max' }, attributes: { 'pool.name': 'other' }, data: new Float64Array([100]) }, pending);
  assert.equal(h.ev.evaluate(h.source).ready, true);
  pending.data[0] = 4;
  assert.deepEqual(h.ev.evaluate(h.source), { live: true, ready: false, state: 'saturated', blockedForMs: 0, pool: 'pg', reason: 'pool' });
});

test('a stopped thread is not blocked, and pools are not checked without a limit', () => {
  const h = setup({ ...LIMITS, readinessPoolPending: undefined });
  h.series.push({ def: { name: 'loopwatch.pool.pending' }, attributes: { 'pool.name': 'pg' }, data: new Float64Array([1000]) });
  h.state.markStopped();
  h.at(60_000);
  assert.deepEqual(h.ev.evaluate(h.source), { live: true, ready: true, state: 'ok', blockedForMs: 0 });
});
