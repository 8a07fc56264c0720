import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { CulpritLimiter, LabelBudget, groupKey } = require('../../../agent/dist/stall/limiter.js');

test('per-culprit burst, then sustained rate; suppressed count carried to the next allowed event', () => {
  let now = 0;
  const l = new CulpritLimiter({ burst: 2, perMinute: 1, now: () => now });
  assert.equal(l.take('a').allowed, true);
  assert.equal(l.take('a').allowed, true);
  assert.deepEqual(l.take('a'), { allowed: false, suppressed: 1, count: 3, windowClosesAt: 60_000 });
  assert.equal(l.take('a').allowed, false);
  // Another culprit is not affected.
  assert.equal(l.take('b').allowed, true);
  now += 30_000;
  assert.equal(l.take('a').allowed, false);
  now += 30_000;
  assert.deepEqual(l.take('a'), { allowed: true, suppressed: 3, count: 6 });
});

test('burst refills up to its cap only', () => {
  let now = 0;
  const l = new CulpritLimiter({ burst: 3, perMinute: 60, now: () => now });
  now += 3_600_000;
  for (let i = 0; i < 3; i++) assert.equal(l.take('x').allowed, true);
  assert.equal(l.take('x').allowed, false);
});

test('tracked culprits are bounded (least recently seen evicted)', () => {
  const l = new CulpritLimiter({ maxCulprits: 3, now: () => 0 });
  for (const k of ['a', 'b', 'c', 'a', 'd']) l.take(k);
  assert.equal(l.size, 3);
  // 'b' was evicted, so it starts a fresh bucket (allowed).
  assert.equal(l.take('b').count, 1);
});

test('a hot culprit cannot flood: 1000 stalls in a minute → burst + 1', () => {
  let now = 0;
  const l = new CulpritLimiter({ burst: 5, perMinute: 1, now: () => now });
  let allowed = 0;
  for (let i = 0; i < 1000; i++) { now += 61; if (l.take('hot').allowed) allowed++; }
  assert.equal(allowed, 6);
});

test('groupKey and LabelBudget', () => {
  assert.equal(groupKey({ culprit: 'f (a.js:1)', route: 'GET /' }), 'f (a.js:1)');
  assert.equal(groupKey({ route: 'GET /x' }), 'route GET /x');
  assert.equal(groupKey({}), 'unknown');
  const b = new LabelBudget(2);
  assert.equal(b.label('a'), 'a');
  assert.equal(b.label('b'), 'b');
  assert.equal(b.label('c'), 'other');
  assert.equal(b.label('a'), 'a');
  assert.equal(b.label(undefined), 'other');
});

test('a window of held-back reports closes when the cap would let a report through again: said once, by a later report or by closeWindows', () => {
  let now = 0;
  const l = new CulpritLimiter({ burst: 2, perMinute: 1, now: () => now });
  l.take('a', 'A');
  l.take('a', 'A');
  assert.equal(l.nextWindowClose(), undefined, 'nothing held back: no window');
  now = 10_000;
  const first = l.take('a', 'first held');
  assert.equal(first.allowed, false);
  // Two reports took the burst at 0; one token is back a minute later.
  assert.equal(first.windowClosesAt, 60_000, 'the first held back opens the window and says when it closes');
  now = 20_000;
  assert.equal(l.take('a', 'second held').windowClosesAt, undefined, 'later ones in the same window do not');
  assert.equal(l.nextWindowClose(), 60_000);
  now = 59_999;
  assert.deepEqual(l.closeWindows(), [], 'still open');
  now = 60_000;
  assert.deepEqual(l.closeWindows(), [{ key: 'a', subject: 'first held', suppressed: 2, sinceMs: 10_000, untilMs: 60_000 }]);
  assert.deepEqual(l.closeWindows(), [], 'said once');
  assert.equal(l.nextWindowClose(), undefined);
  // Said on their own: the next report carries no count of them.
  now = 70_000;
  assert.deepEqual(l.take('a'), { allowed: true, suppressed: 0, count: 5 });
});

test('a report that comes first says the count itself; the window then has nothing left to say', () => {
  let now = 0;
  const l = new CulpritLimiter({ burst: 1, perMinute: 1, now: () => now });
  l.take('a');
  now = 1_000;
  assert.equal(l.take('a').allowed, false);
  now = 60_000;
  assert.deepEqual(l.take('a'), { allowed: true, suppressed: 1, count: 3 });
  assert.deepEqual(l.closeWindows(), []);
  assert.deepEqual(l.closeWindows(true), []);
});

test('closeWindows(true) says every open window at once (the agent stops); a culprit with nothing held back is not said', () => {
  let now = 0;
  const l = new CulpritLimiter({ burst: 1, perMinute: 1, now: () => now });
  for (const k of ['a', 'a', 'a', 'b', 'c', 'c']) l.take(k, k.toUpperCase());
  now = 5_000;
  assert.deepEqual(l.closeWindows(), [], 'no window closed yet');
  assert.deepEqual(
    l.closeWindows(true).map((h) => [h.key, h.subject, h.suppressed, h.untilMs]),
    [
      ['a', 'A', 2, 5_000],
      ['c', 'C', 1, 5_000],
    ],
  );
  assert.equal(l.nextWindowClose(), undefined);
});

test('a culprit forgotten (evicted) with reports held back: its window closes now, and is said', () => {
  let now = 0;
  const l = new CulpritLimiter({ burst: 1, perMinute: 1, maxCulprits: 2, now: () => now });
  l.take('a');
  l.take('a', 'held a');
  l.take('b');
  now = 3_000;
  const d = l.take('c');
  assert.equal(d.allowed, true);
  assert.equal(d.windowClosesAt, 3_000, 'evicting a held back closes its window now');
  assert.equal(l.nextWindowClose(), 3_000);
  assert.deepEqual(l.closeWindows(), [{ key: 'a', subject: 'held a', suppressed: 1, sinceMs: 0, untilMs: 3_000 }]);
});

test('perMinute 0: a window never closes by itself, only when every window is closed', () => {
  let now = 0;
  const l = new CulpritLimiter({ burst: 1, perMinute: 0, now: () => now });
  l.take('a');
  assert.equal(l.take('a').windowClosesAt, Infinity);
  assert.equal(l.nextWindowClose(), undefined);
  now = 1e12;
  assert.deepEqual(l.closeWindows(), []);
  assert.equal(l.closeWindows(true)[0].suppressed, 1);
});
