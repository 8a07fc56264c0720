// loopwatch reports its watchdog thread's own CPU time, so its cost is visible in production.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const loopwatch = require('loopwatch');

async function watchdogCpu(url) {
  const text = await (await fetch(url)).text();
  const out = {};
  for (const m of text.matchAll(/^loopwatch_agent_cpu_time_seconds_total\{cpu_mode="(\w+)"\} ([0-9.e+-]+)$/gm)) out[m[1]] = Number(m[2]);
  return out;
}

test('loopwatch.agent.cpu.time: the watchdog thread CPU, by mode, growing with the work it does', async (t) => {
  const agent = loopwatch.start({ prometheus: { port: 0, host: '127.0.0.1' } });
  t.after(() => agent.stop());
  const { prometheusUrl } = await agent.ready();
  const start = performance.now();
  const before = await watchdogCpu(prometheusUrl);
  assert.deepEqual(Object.keys(before).sort(), ['system', 'user']);
  // Work for the watchdog: 200 scrapes. The counter is refreshed on the watchdog's next poll (≤ 1 s).
  for (let i = 0; i < 200; i++) await (await fetch(prometheusUrl)).text();
  const deadline = Date.now() + 5000;
  let after = before;
  while (Date.now() < deadline) {
    after = await watchdogCpu(prometheusUrl);
    if (after.user + after.system > before.user + before.system) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const used = after.user + after.system - (before.user + before.system);
  const wall = (performance.now() - start) / 1000;
  assert.ok(used > 0, `watchdog CPU grew: ${JSON.stringify({ before, after })}`);
  assert.ok(used < wall, `one thread cannot use more CPU (${used} s) than wall time (${wall} s)`);
});
