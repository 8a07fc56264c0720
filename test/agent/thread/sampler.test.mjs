// The stall/delay logic with an injected clock: no real time passes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { LoopSampler } = require('../../../agent/dist/thread/sampler.js');
const { ThreadState } = require('../../../agent/dist/thread/state.js');

function fakeClock() {
  const c = { ns: 0n, active: 0, idle: 0, wall: 1_700_000_000_000 };
  return {
    c,
    clock: { nowNs: () => c.ns, loopTime: () => ({ active: c.active, idle: c.idle }), wallMs: () => c.wall },
    /** `busyMs` of callbacks, then `idleMs` waiting, then the beat runs. */
    advance(busyMs, idleMs = 0) {
      c.ns += BigInt(Math.round((busyMs + idleMs) * 1e6));
      c.active += busyMs;
      c.idle += idleMs;
      c.wall += busyMs + idleMs;
    },
  };
}
const count = (arr) => arr.reduce((a, b) => a + b, 0);

test('on-time beats record ~zero delay and no stall', () => {
  const { clock, advance } = fakeClock();
  const state = new ThreadState();
  const stalls = [];
  const s = new LoopSampler(state, 10, 100, clock, (x) => stalls.push(x));
  for (let i = 0; i < 100; i++) {
    advance(1, 9.2); // 10.2 ms gap: 0.2 ms late
    s.beat();
  }
  assert.equal(stalls.length, 0);
  assert.equal(count(state.delayBuckets()), 100);
  assert.ok(Math.abs(state.delaySum - 100 * 0.0002) < 1e-9);
});

test('a 2 s block is one stall of 2 s and weighs as ~200 delay samples (coordinated omission)', () => {
  const { clock, advance } = fakeClock();
  const state = new ThreadState();
  const stalls = [];
  const s = new LoopSampler(state, 10, 100, clock, (x) => stalls.push(x));
  advance(0, 3); // the block starts 3 ms after the previous beat
  advance(2000);
  s.beat();
  assert.equal(stalls.length, 1);
  assert.equal(stalls[0].durationMs, 2000);
  assert.equal(stalls[0].startTime, 1_700_000_000_000 + 3);
  const n = count(state.delayBuckets());
  assert.ok(n >= 199 && n <= 200, `samples ${n}`);
  // The largest sample is the first beat's lateness; the back-filled ones shrink by one interval each.
  assert.ok(Math.abs(state.delaySum - (1.993 * n - 0.01 * (n * (n - 1)) / 2)) < 0.05);
  assert.equal(count(state.stallBuckets()), 1);
  assert.ok(Math.abs(state.stallSum - 2) < 1e-9);
});

test('a busy loop of short callbacks (70 % utilization) is never a stall', () => {
  const { clock, advance } = fakeClock();
  const state = new ThreadState();
  const stalls = [];
  const s = new LoopSampler(state, 10, 100, clock, (x) => stalls.push(x));
  for (let i = 0; i < 1000; i++) {
    advance(7, 3.5);
    s.beat();
  }
  assert.equal(stalls.length, 0);
});

test('two back-to-back callbacks without yielding count as one continuous block', () => {
  const { clock, advance } = fakeClock();
  const state = new ThreadState();
  const stalls = [];
  const s = new LoopSampler(state, 10, 100, clock, (x) => stalls.push(x));
  advance(60);
  advance(60);
  s.beat();
  assert.equal(stalls.length, 1);
  assert.equal(stalls[0].durationMs, 120);
});

test('the watchdog view: blocked-for grows with heartbeat age and is 0 below the threshold or when stopped', () => {
  const { clock, c } = fakeClock();
  const state = new ThreadState();
  new LoopSampler(state, 10, 100, clock, () => {});
  const at = (ms) => c.ns + BigInt(ms * 1e6);
  assert.equal(state.blockedForMs(at(50)), 0);
  assert.equal(state.blockedForMs(at(500)), 490);
  assert.equal(state.blockedForMs(at(1500)), 1490);
  state.markStopped();
  assert.equal(state.blockedForMs(at(1500)), 0);
});
