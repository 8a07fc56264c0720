import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { recorder, errorLog, sleep } from '../helpers/sink.mjs';

const require = createRequire(import.meta.url);
const { monitorPool } = require('../../../../agent/dist/pools/index.js');

test('plain adapter: sampled on a timer, numbers or functions', async () => {
  let used = 0;
  let pending = 0;
  const { rec, factory } = recorder();
  const { list, onError } = errorLog();
  const h = monitorPool({ max: 8, used: () => used, pending: () => pending }, { name: 'sem', sampleIntervalMs: 10 }, factory, onError);
  assert.equal(rec.kind, 'custom');
  assert.deepEqual(rec.last, { max: 8, used: 0, idle: 8, pending: 0 });
  used = 8;
  pending = 3;
  await sleep(40);
  assert.deepEqual(rec.last, { max: 8, used: 8, idle: 0, pending: 3 });
  h.detach();
  assert.equal(rec.closed, true);
  const n = rec.updates;
  await sleep(30);
  assert.equal(rec.updates, n, 'no sampling after detach');
  assert.deepEqual(list, []);
});

test('a misbehaving plain adapter (throws, NaN) goes to onError and never into the app', async () => {
  let mode = 'throw';
  const { rec, factory } = recorder();
  const { list, onError } = errorLog();
  const uncaught = [];
  const onUncaught = (e) => uncaught.push(e);
  process.on('uncaughtException', onUncaught);
  const h = monitorPool(
    {
      max: () => 4,
      used: () => {
        if (mode === 'throw') throw new Error('adapter bug');
        return mode === 'nan' ? NaN : 2;
      },
    },
    { kind: 'custom', name: 'bad', sampleIntervalMs: 10 },
    factory,
    onError,
  );
  await sleep(35);
  assert.ok(list.length >= 2 && list.every((e) => /adapter bug/.test(String(e.err))), 'throws reported');
  assert.match(list[0].where, /custom:bad/);
  mode = 'nan';
  const k = list.length;
  await sleep(35);
  assert.ok(list.slice(k).some((e) => /invalid pool snapshot/.test(String(e.err))), 'NaN reported');
  assert.equal(rec.updates, 0, 'bad samples dropped, not reported');
  mode = 'ok';
  await sleep(35);
  assert.deepEqual(rec.last, { max: 4, used: 2, idle: 2, pending: 0 });
  h.detach();
  process.off('uncaughtException', onUncaught);
  assert.deepEqual(uncaught, []);
});
