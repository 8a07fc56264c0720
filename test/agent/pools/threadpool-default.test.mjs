// Without operation counting (the default) the libuv pool's size and probed wait are exported, and its
// used/idle/pending are absent — never a made-up 0 — while with `count` they are there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { parseMetrics } from '../helpers/child.mjs';

const require = createRequire(import.meta.url);
const loopwatch = require('loopwatch');

async function libuvSeries(options) {
  const agent = loopwatch.start({ prometheus: { port: 0, host: '127.0.0.1' }, ...options });
  try {
    const { prometheusUrl } = await agent.ready();
    const metrics = parseMetrics(await (await fetch(prometheusUrl)).text());
    return new Set(metrics.filter((m) => m.labels.pool_name === 'libuv').map((m) => m.name.replace(/_(bucket|sum|count)$/, '')));
  } finally {
    await agent.stop();
  }
}

test('default: libuv max and wait time, no used/idle/pending series', async () => {
  const names = await libuvSeries({});
  assert.ok(names.has('loopwatch_pool_max'), [...names].join(', '));
  assert.ok(names.has('loopwatch_pool_wait_time_seconds'), [...names].join(', '));
  for (const n of ['loopwatch_pool_used', 'loopwatch_pool_idle', 'loopwatch_pool_pending']) assert.ok(!names.has(n), `${n} absent`);
});

test('countOperations: the levels are exported', async () => {
  const names = await libuvSeries({ threadpool: { countOperations: true } });
  for (const n of ['loopwatch_pool_max', 'loopwatch_pool_used', 'loopwatch_pool_idle', 'loopwatch_pool_pending']) assert.ok(names.has(n), `${n} present`);
});
