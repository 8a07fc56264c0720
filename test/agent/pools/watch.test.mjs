import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { recorder, errorLog } from './helpers/sink.mjs';

const require = createRequire(import.meta.url);
const { PendingTimes, PoolWatch } = require('../../../agent/dist/pools/watch.js');

test('PendingTimes is bounded and emptied on take', () => {
  const p = new PendingTimes(100);
  for (let i = 0; i < 1000; i++) p.start(i, i);
  assert.equal(p.size, 100);
  assert.equal(p.dropped, 900);
  assert.equal(p.take(5), 5);
  assert.equal(p.take(5), undefined);
  assert.equal(p.take(500), undefined, 'dropped requests are simply not timed');
  for (let i = 0; i < 100; i++) p.take(i);
  assert.equal(p.size, 0);
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
