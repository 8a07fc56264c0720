// victims counts the requests that arrived during the block (issue #21): two /health requests sent 50 ms and
// 200 ms into a 400 ms block, on connections of their own, are the stall's two victims.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { runStallFixture } from '../helpers/stall-child.mjs';

test('requests that arrive during a block are its victims', async () => {
  const path = fileURLToPath(new URL('./fixtures/victims-arrive.cjs', import.meta.url));
  const { code, stalls, blocks, out, err } = await runStallFixture(path, { env: { LOOPWATCH_PROMETHEUS_PORT: 'off' } });
  assert.equal(code, 0, err);
  assert.equal(blocks.length, 1);
  const client = JSON.parse(out.split('\n').find((l) => l.startsWith('CLIENT ')).slice('CLIENT '.length));
  // The /health requests really waited for the block (sent into it, answered after it).
  for (const h of client.filter((c) => c.path === '/health')) assert.ok(h.waitedMs >= 100, JSON.stringify(client));
  const s = stalls.filter((x) => x.culprit?.startsWith('buildReport '));
  assert.equal(s.length, 1, JSON.stringify(stalls));
  assert.equal(s[0].victims, 2);
});
