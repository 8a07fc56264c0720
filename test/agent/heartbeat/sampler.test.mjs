// The stall/delay logic with an injected clock: no real time passes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { LoopSampler } = require('../../../agent/dist/heartbeat/sampler.js');
const { ThreadState } = require('../../../agent/dist/channel/thread-state.js');

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

/**
 * A loop with the native meter (agent/native/meter.c), simulated on the fake clock: `poll(idleMs)` waits for I/O,
 * `run(busyMs)` runs callbacks, `prepare()` is the meter's prepare-phase update, exactly as meter.c computes it.
 */
function meteredLoop() {
  const f = fakeClock();
  const cells = new Float64Array(7);
  const nowMs = () => Number(f.c.ns) / 1e6;
  cells[0] = nowMs();
  cells[1] = f.c.idle;
  cells[4] = 1e300;
  cells[6] = -1;
  return {
    ...f,
    cells,
    poll: (idleMs) => f.advance(0, idleMs),
    run: (busyMs) => f.advance(busyMs),
    prepare() {
      const now = nowMs();
      let busy = now - cells[0] - (f.c.idle - cells[1]);
      if (cells[0] === cells[6]) busy -= cells[5];
      if (busy >= cells[4]) {
        if (cells[2] === 0) cells[3] = now - busy;
        cells[2] += busy;
      }
      cells[0] = now;
      cells[1] = f.c.idle;
    },
  };
}

test('with the loop meter: a block is one stall of exactly its iteration, whether the beat sees it in progress or completed, and never twice', () => {
  const loop = meteredLoop();
  const state = new ThreadState();
  const stalls = [];
  const s = new LoopSampler(state, 10, 100, loop.clock, (x) => stalls.push(x), 50, () => {}, loop.cells);
  assert.equal(s.initialIntervalMs, 50, 'the heartbeat starts at the quiet interval');
  // Iteration: poll 5 ms, a 300 ms block among the I/O callbacks; the next iteration's timers phase runs the beat
  // before its prepare phase: the span is still in progress.
  loop.prepare();
  loop.poll(5);
  const blockStart = loop.c.wall;
  loop.run(300);
  assert.equal(s.beat(), 50);
  assert.equal(stalls.length, 1);
  assert.equal(stalls[0].durationMs, 300);
  assert.equal(stalls[0].startTime, blockStart);
  // The same iteration completes (prepare), more short iterations follow: not reported again.
  loop.run(1);
  loop.prepare();
  for (let i = 0; i < 10; i++) {
    loop.poll(3);
    loop.run(2);
    loop.prepare();
  }
  s.beat();
  assert.equal(stalls.length, 1, 'the completed span that was reported in progress is not reported again');
  // A 150 ms block in an iteration that completed before the beat: reported from the meter, with when it was.
  loop.poll(1);
  const secondStart = loop.c.wall;
  loop.run(150);
  loop.prepare();
  loop.poll(20);
  loop.run(1);
  s.beat();
  assert.equal(stalls.length, 2);
  assert.equal(stalls[1].durationMs, 150);
  assert.equal(stalls[1].startTime, secondStart);
  assert.equal(count(state.stallBuckets()), 2);
  assert.ok(Math.abs(state.stallSum - 0.45) < 1e-9);
});

test('with the loop meter: a saturated loop keeps the quiet interval, and busy windows of short iterations are no stall even when a 60 ms block is in one', () => {
  const loop = meteredLoop();
  const state = new ThreadState();
  const stalls = [];
  const s = new LoopSampler(state, 10, 100, loop.clock, (x) => stalls.push(x), 50, () => {}, loop.cells);
  for (let beat = 0; beat < 200; beat++) {
    // 100 % busy: iterations of 2 ms callbacks, no idle time at all; every 10th window holds one 60 ms block,
    // which with the other callbacks around it keeps the loop busy for well over the 100 ms threshold between
    // two beats (the slow heartbeat's busy time would call that a stall; the meter sees a 60 ms iteration).
    for (let t = 0; t < 50; t += 2) {
      loop.run(beat % 10 === 0 && t === 0 ? 60 : 2);
      loop.prepare();
    }
    assert.equal(s.beat(), 50, 'busy, the interval stays at 50 ms');
  }
  assert.equal(stalls.length, 0);
  // A 120 ms block amid that: its own duration, not the window's.
  loop.run(120);
  loop.prepare();
  loop.run(2);
  loop.prepare();
  s.beat();
  assert.equal(stalls.length, 1);
  assert.equal(stalls[0].durationMs, 120);
});

test('with the loop meter: two blocks in one iteration on either side of a beat are two stalls (back-to-back requests)', () => {
  const loop = meteredLoop();
  const state = new ThreadState();
  const stalls = [];
  const s = new LoopSampler(state, 10, 100, loop.clock, (x) => stalls.push(x), 50, () => {}, loop.cells);
  loop.prepare();
  loop.poll(5);
  loop.run(250); // request A's handler, among the I/O callbacks
  s.beat(); // next timers phase: the beat, then request B's timer continuation in the same phase
  const bStart = loop.c.wall;
  loop.run(250);
  loop.prepare();
  loop.poll(10);
  s.beat();
  assert.deepEqual(
    stalls.map((x) => x.durationMs),
    [250, 250],
  );
  assert.equal(stalls[1].startTime, bStart);
  // The pair of beats around B: its window starts at the beat that ran between the two blocks.
  assert.ok(stalls[1].sinceNs > stalls[0].sinceNs);
});

test("with the loop meter: the script's own run before the event loop started is not an iteration (agent started at the top of the app)", () => {
  const loop = meteredLoop();
  const state = new ThreadState();
  const stalls = [];
  const s = new LoopSampler(state, 10, 100, loop.clock, (x) => stalls.push(x), 50, () => {}, loop.cells);
  // 400 ms of synchronous start-up after start(): wall time passes, event-loop utilization does not (no loop yet).
  loop.c.ns += 400_000_000n;
  loop.c.wall += 400;
  // The loop starts; its first timers phase runs a 150 ms callback and the first beat.
  loop.run(150);
  s.beat();
  assert.deepEqual(
    stalls.map((x) => Math.round(x.durationMs)),
    [150],
    'the first iteration is measured from the loop start, the script before it is not',
  );
});

test('with the loop meter: an iteration that ends a block already counted does not hide a shorter block after it', () => {
  const loop = meteredLoop();
  const state = new ThreadState();
  const stalls = [];
  const s = new LoopSampler(state, 10, 100, loop.clock, (x) => stalls.push(x), 50, () => {}, loop.cells);
  loop.prepare();
  loop.poll(5);
  loop.run(308); // request A, counted by the beat that follows in the same iteration
  s.beat();
  loop.run(1);
  loop.prepare(); // A's iteration completes: 309 ms in all, 308 of them already counted
  loop.poll(2);
  loop.run(1);
  loop.prepare();
  loop.poll(2);
  loop.run(300); // request B's continuation, in the next timers phase; the beat is not due at that phase's start
  loop.prepare();
  loop.poll(1);
  s.beat();
  assert.deepEqual(
    stalls.map((x) => Math.round(x.durationMs)),
    [308, 300],
  );
});

test('with the loop meter: blocks in two iterations between the same two beats add up to one stall, from the first (the watchdog saw one freeze)', () => {
  const loop = meteredLoop();
  const state = new ThreadState();
  const stalls = [];
  const s = new LoopSampler(state, 10, 100, loop.clock, (x) => stalls.push(x), 50, () => {}, loop.cells);
  loop.prepare();
  loop.poll(5);
  loop.run(1);
  s.beat(); // timers phase: the beat, then a later timer blocks 150 ms
  const firstStart = loop.c.wall;
  loop.run(150);
  loop.prepare();
  loop.poll(0);
  loop.run(150); // the next iteration's I/O callbacks block 150 ms before any timers phase (no beat between)
  loop.run(1);
  s.beat();
  assert.equal(stalls.length, 1);
  assert.equal(Math.round(stalls[0].durationMs), 301);
  assert.equal(stalls[0].startTime, firstStart);
  // Iterations under the threshold do not add up: a loop kept busy by short ones is no stall.
  for (let i = 0; i < 40; i++) {
    loop.poll(0);
    loop.run(60);
    loop.prepare();
    if (i % 2) s.beat();
  }
  assert.equal(stalls.length, 1);
});
