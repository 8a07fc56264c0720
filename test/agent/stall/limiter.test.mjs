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
  assert.deepEqual(l.take('a'), { allowed: false, suppressed: 1, count: 3 });
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
