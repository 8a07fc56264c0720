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

// --- adaptive heartbeat: resolution 10 ms, threshold 100 ms, up to 50 ms between beats ---

test('a quiet loop stretches the heartbeat to the maximum; samples keep their 10 ms weight', () => {
  const { clock, advance } = fakeClock();
  const state = new ThreadState();
  const s = new LoopSampler(state, 10, 100, clock, () => {}, 50);
  assert.equal(s.initialIntervalMs, 10);
  advance(0, 10.2);
  let next = s.beat();
  assert.equal(next, 50, 'idle window: longest interval');
  assert.equal(state.intervalMs, 50, 'the watchdog sees the interval the next beat is due with');
  // One second of idle beats at 50 ms: 20 beats standing for 100 samples at 10 ms.
  const before = count(state.delayBuckets());
  for (let i = 0; i < 20; i++) {
    advance(0.1, 50.1);
    next = s.beat();
  }
  assert.equal(next, 50);
  assert.equal(count(state.delayBuckets()) - before, 100);
  assert.equal(state.resolutionMs, 10);
});

test('the interval follows utilization so other callbacks add at most ~10 % of the threshold to a stall', () => {
  const { clock, advance } = fakeClock();
  const state = new ThreadState();
  const s = new LoopSampler(state, 10, 100, clock, () => {}, 50);
  advance(1.5, 8.5); // 15 % busy → 10 ms / 0.15 = 66 ms → the 50 ms maximum
  assert.equal(s.beat(), 50);
  advance(12.5, 37.6); // 25 % busy → 40
  assert.equal(s.beat(), 40);
  advance(20, 20.1); // 50 % busy → 20
  assert.equal(s.beat(), 20);
  advance(16, 4.1); // 80 % busy → 12.5 → 10 (the resolution)
  assert.equal(s.beat(), 10);
  advance(0, 10.1);
  assert.equal(s.beat(), 50);
});

test('a fixed heartbeat (max = resolution) never changes interval', () => {
  const { clock, advance } = fakeClock();
  const state = new ThreadState();
  const s = new LoopSampler(state, 10, 100, clock, () => {});
  advance(0, 10);
  assert.equal(s.beat(), 10);
  advance(300);
  assert.equal(s.beat(), 10);
});

test('at a 50 ms interval a 2 s block is still one 2 s stall worth ~200 samples, and a 100 ms one is caught', () => {
  const { clock, advance } = fakeClock();
  const state = new ThreadState();
  const stalls = [];
  const s = new LoopSampler(state, 10, 100, clock, (x) => stalls.push(x), 50);
  advance(0, 10);
  assert.equal(s.beat(), 50);
  const before = count(state.delayBuckets());
  advance(0, 1); // the block starts 1 ms after the beat
  advance(2000);
  assert.equal(s.beat(), 10, 'right after a fully busy window the interval is the resolution');
  assert.equal(stalls.length, 1);
  assert.equal(stalls[0].durationMs, 2000);
  const n = count(state.delayBuckets()) - before;
  // 5 for the beat itself (it stood for 5 slots) + 194 back-filled (1951 ms late, 10 ms apart).
  assert.ok(n >= 195 && n <= 205, `samples ${n}`);
  // Quiet again, then the shortest stall there is, starting right after a beat: still a stall.
  advance(0, 10);
  assert.equal(s.beat(), 50);
  advance(100);
  s.beat();
  assert.equal(stalls.length, 2);
  assert.equal(stalls[1].durationMs, 100);
});

test('at a 50 ms interval, short callbacks filling the loop are never a stall', () => {
  const { clock, advance } = fakeClock();
  const state = new ThreadState();
  const stalls = [];
  const s = new LoopSampler(state, 10, 100, clock, (x) => stalls.push(x), 50);
  advance(0, 10);
  assert.equal(s.beat(), 50);
  // A burst: 95 % busy with 5 ms callbacks; the beat runs at most one callback late.
  for (let i = 0; i < 200; i++) {
    advance(47.5, 2.5);
    advance(4.9, 0.1);
    s.beat();
  }
  assert.equal(stalls.length, 0);
});
