// The heartbeat's native deadline (thread/monitor.ts), with a fake deadline: pushed one threshold ahead on every
// beat, published for the watchdog, given up (back to the watchdog's timer) when the kernel refuses it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { ThreadMonitor } = require('../../../agent/dist/heartbeat/monitor.js');
const { Diagnostics } = require('../../../agent/dist/runtime/diag.js');

function fakeDeadline(id = 42) {
  const d = { id, arms: [], armedAtNs: [], closed: 0, accept: true };
  d.arm = (ms) => {
    d.arms.push(ms);
    d.armedAtNs.push(process.hrtime.bigint());
    return d.accept;
  };
  d.close = () => d.closed++;
  return d;
}

async function until(pred, what) {
  const deadline = Date.now() + 5000;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('every beat pushes the deadline one threshold ahead, and the watchdog can find it', async (t) => {
  const d = fakeDeadline();
  const m = new ThreadMonitor(10, 100, 50, new Diagnostics(() => {}), () => {}, d);
  t.after(() => m.stop());
  assert.equal(m.state.deadlineId, 42);
  assert.deepEqual(d.arms, [100], 'armed at start, before the first beat');
  await until(() => d.arms.length >= 4, 'three beats');
  assert.ok(d.arms.every((ms) => ms === 100), `always the threshold: ${d.arms}`);
  m.stop();
  assert.equal(d.closed, 1);
  assert.equal(m.state.deadlineId, undefined, 'cleared for the watchdog on stop');
  m.stop();
  assert.equal(d.closed, 1, 'closed once');
});

test('a refused push gives the deadline up: closed, cleared, said once; the heartbeat goes on', async (t) => {
  const d = fakeDeadline();
  const lines = [];
  const m = new ThreadMonitor(10, 100, 50, new Diagnostics((l) => lines.push(l)), () => {}, d);
  t.after(() => m.stop());
  await until(() => d.arms.length >= 2, 'a beat');
  d.accept = false;
  await until(() => m.state.deadlineId === undefined, 'the deadline given up');
  const arms = d.arms.length;
  const beatAt = m.state.lastBeatNs;
  await until(() => m.state.lastBeatNs !== beatAt, 'another beat');
  assert.equal(d.arms.length, arms, 'not pushed any more');
  assert.equal(d.closed, 1);
  assert.equal(lines.length, 1);
  assert.match(lines[0], /^\[loopwatch\] native: could not re-arm the native deadline; the watchdog polls this thread on a timer instead$/);
});

test('a deadline refused at start is never published', (t) => {
  const d = fakeDeadline();
  d.accept = false;
  const lines = [];
  const m = new ThreadMonitor(10, 100, 50, new Diagnostics((l) => lines.push(l)), () => {}, d);
  t.after(() => m.stop());
  assert.equal(m.state.deadlineId, undefined);
  assert.equal(d.closed, 1);
  assert.match(lines[0], /could not arm the native deadline/);
});

test('without a deadline nothing is published (the watchdog polls on its timer)', (t) => {
  const m = new ThreadMonitor(10, 100, 50, new Diagnostics(() => {}), () => {});
  t.after(() => m.stop());
  assert.equal(m.state.deadlineId, undefined);
});

test('a stall\'s beat pushes the deadline before the stall is reported (its listeners may block again)', async (t) => {
  const d = fakeDeadline();
  let seen;
  const m = new ThreadMonitor(10, 100, 50, new Diagnostics(() => {}), () => {
    // What the watchdog could see at this moment: the latest push must be of this beat, not the one before.
    seen = { lastArmNs: d.armedAtNs.at(-1), beatNs: m.state.lastBeatNs };
  }, d);
  t.after(() => m.stop());
  await until(() => d.arms.length >= 2, 'a beat');
  const end = Date.now() + 200;
  while (Date.now() < end); // a 200 ms stall
  await until(() => seen !== undefined, 'the stall');
  assert.ok(seen.lastArmNs >= seen.beatNs, `pushed after the stall's beat (${seen.lastArmNs} ≥ ${seen.beatNs}), before its report`);
});

test('beatIfBusy: beats now when the thread has been busy a threshold since its last beat (the stall measured then, once), not otherwise', async (t) => {
  const stalls = [];
  const m = new ThreadMonitor(10, 100, 50, new Diagnostics(() => {}), (s) => stalls.push(s));
  t.after(() => m.stop());
  const first = m.state.lastBeatNs;
  await until(() => m.state.lastBeatNs !== first, 'a timer beat');
  const idleBeat = m.state.lastBeatNs;
  m.beatIfBusy();
  assert.equal(m.state.lastBeatNs, idleBeat, 'not busy a threshold since the last beat: no beat');
  const end = Date.now() + 250;
  while (Date.now() < end); // a 250 ms stall, then the call, as a request it delayed ends
  const beforeBeat = m.state.lastBeatNs;
  m.beatIfBusy();
  assert.equal(stalls.length, 1, 'measured by the beat run now');
  assert.equal(stalls[0].sinceNs, beforeBeat, 'the stall since the last timer beat');
  assert.ok(stalls[0].durationMs >= 240 && stalls[0].durationMs < 1000, `duration ${stalls[0].durationMs}`);
  const forcedBeat = m.state.lastBeatNs;
  assert.ok(forcedBeat > beforeBeat);
  await until(() => m.state.lastBeatNs !== forcedBeat, 'the next timer beat');
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(stalls.length, 1, 'the timer beats after it do not report the stall again');
});
