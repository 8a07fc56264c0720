import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { recorder, errorLog } from './helpers/sink.mjs';

const require = createRequire(import.meta.url);
const { PoolWatch } = require('../../../agent/dist/pools/watch.js');
const { PendingTimes } = require('../../../agent/dist/pools/pending-times.js');

test('PendingTimes is a bounded ring: a request whose slot is taken is not timed; take empties', () => {
  const p = new PendingTimes(100);
  assert.equal(p.capacity, 128, 'rounded up to a power of two');
  for (let i = 0; i < 1000; i++) p.start(i, i * 10);
  assert.equal(p.size, 128);
  assert.equal(p.dropped, 1000 - 128);
  assert.equal(p.take(5), 50);
  assert.equal(p.take(5), undefined);
  assert.equal(p.take(500), undefined, 'dropped requests are simply not timed');
  p.start(5 + 128, 7);
  assert.equal(p.take(5 + 128), 7, 'a freed slot is reused');
  for (let i = 0; i < 128; i++) p.take(i);
  assert.equal(p.size, 0);
  p.start(3, 1);
  p.clear();
  assert.equal(p.size, 0);
  assert.equal(p.take(3), undefined);
});

test('PoolWatch rejects invalid snapshots and never throws', () => {
  const { rec, sink } = recorder();
  const { list, onError } = errorLog();
  const target = {};
  const w = new PoolWatch(target, 'x', 'custom', sink, onError);
  w.update({ max: 2, used: 1, idle: 1, pending: 0 });
  w.update({ max: 2, used: NaN, idle: 1, pending: 0 });
  w.update({ max: 2, used: -1, idle: 1, pending: 0 });
  w.update({ max: 2, used: '1', idle: 1, pending: 0 });
  w.update({ max: Infinity, used: 1, idle: 0, pending: 0 });
  assert.equal(rec.updates, 2);
  assert.equal(list.length, 3);
  w.wait(NaN);
  w.wait(-1);
  w.wait(0.5);
  assert.deepEqual(rec.waits, [0.5]);
  w.read = () => {
    throw new Error('boom');
  };
  assert.doesNotThrow(() => w.refresh());
  assert.equal(list.length, 4);
  w.close();
  w.update({ max: 2, used: 1, idle: 1, pending: 0 });
  assert.equal(rec.afterClose, 0);
  assert.equal(rec.closed, true);
});

test('wrapMethod restores on close, and leaves a foreign replacement alone', () => {
  const proto = { f() { return 'proto'; } };
  const a = Object.create(proto);
  const b = Object.create(proto);
  const wa = new PoolWatch(a, 'a', 'custom', recorder().sink, () => {});
  const wb = new PoolWatch(b, 'b', 'custom', recorder().sink, () => {});
  wa.wrapMethod(a, 'f', (orig) => function () { return 'wrapped ' + orig.call(this); });
  wb.wrapMethod(b, 'f', (orig) => function () { return 'wrapped ' + orig.call(this); });
  assert.equal(a.f(), 'wrapped proto');
  const foreign = () => 'foreign';
  b.f = foreign;
  wa.close();
  wb.close();
  assert.equal(Object.hasOwn(a, 'f'), false);
  assert.equal(b.f, foreign);
});

test('deferred level reads: with a flusher installed, many changes cost one read at the next flush', () => {
  const { setPoolLevelFlushing, flushPoolLevels } = require('../../../agent/dist/pools/watch.js');
  const { rec, sink } = recorder();
  const pool = { used: 0 };
  const w = new PoolWatch(pool, 'p', 'custom', sink, () => {});
  let reads = 0;
  w.read = (p, out) => {
    reads++;
    out.max = 10;
    out.used = p.used;
    out.idle = 10 - p.used;
    out.pending = 0;
  };
  setPoolLevelFlushing(true);
  try {
    for (let i = 1; i <= 100; i++) {
      pool.used = i % 10;
      w.refresh();
    }
    assert.equal(reads, 0, 'nothing read on the hot path');
    flushPoolLevels();
    assert.equal(reads, 1, 'one read for 100 changes');
    assert.equal(rec.last.used, 0, 'the current level');
    flushPoolLevels();
    assert.equal(reads, 1, 'nothing pending, nothing read');
    pool.used = 7;
    w.refreshSoon();
    setPoolLevelFlushing(false);
    assert.equal(rec.last.used, 7, 'turning flushing off flushes what is pending');
    w.refresh();
    assert.equal(reads, 3, 'without a flusher, reads are immediate again');
  } finally {
    setPoolLevelFlushing(false);
  }
});
