import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import http from 'node:http';
import { recorder, errorLog, sleep } from '../helpers/sink.mjs';

const require = createRequire(import.meta.url);
const { Pool, Agent } = require('undici');
const { monitorPool } = require('../../../../agent/dist/pools/index.js');

async function server() {
  const s = http.createServer((req, res) => setTimeout(() => res.end('ok'), 100));
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  return { s, origin: `http://127.0.0.1:${s.address().port}` };
}

test('undici Pool connections 2, 20 requests × 100 ms: used 2, pending ≈ 18; close() closes', async (t) => {
  const { s, origin } = await server();
  t.after(() => s.close());
  const pool = new Pool(origin, { connections: 2 });
  const { rec, factory } = recorder();
  const { list, onError } = errorLog();
  monitorPool(pool, { name: 'api', sampleIntervalMs: 10 }, factory, onError);
  assert.equal(rec.kind, 'undici');
  await Promise.all(
    Array.from({ length: 20 }, async () => {
      const { body } = await pool.request({ path: '/', method: 'GET' });
      await body.text();
    }),
  );
  await sleep(30);
  assert.equal(rec.peak.max, 2);
  assert.equal(rec.peak.used, 2);
  assert.ok(rec.peak.pending >= 16 && rec.peak.pending <= 18, `pending ≈ 18 (got ${rec.peak.pending})`);
  assert.equal(rec.last.pending, 0);
  assert.equal(rec.waits.length, 0, 'undici: no wait time (documented)');
  assert.deepEqual(list, []);
  await pool.close();
  assert.equal(rec.closed, true);
  const n = rec.updates;
  await sleep(40);
  assert.equal(rec.updates, n, 'sampler stopped');
});

test('undici Agent: summed over origins, max = connections × origins', async (t) => {
  const { s, origin } = await server();
  t.after(() => s.close());
  const agent = new Agent({ connections: 2 });
  const { rec, factory } = recorder();
  const h = monitorPool(agent, { sampleIntervalMs: 10 }, factory, errorLog().onError);
  await Promise.all(
    Array.from({ length: 6 }, async () => {
      const { body } = await agent.request({ origin, path: '/', method: 'GET' });
      await body.text();
    }),
  );
  assert.equal(rec.peak.max, 2);
  assert.equal(rec.peak.used, 2);
  assert.ok(rec.peak.pending >= 3, `pending seen (${rec.peak.pending})`);
  h.detach();
  assert.equal(rec.closed, true);
  await agent.close();
});
