// The watchdog thread is supervised: if it dies, that is said in one line and counted, and a new one takes over the
// endpoint and the stall watch; the process still exits by itself; stop() inside the backoff ends it for good.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fixture, parseMetrics, runChild, sample } from '../helpers/child.mjs';

async function scrape(url) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    return parseMetrics(await res.text());
  } catch {
    return undefined; // down (between the death and the restart)
  }
}

test('a terminated watchdog is restarted: one line, loopwatch_watchdog_restarts_total 1, stalls watched again, the process exits', async (t) => {
  const c = runChild(fixture('watchdog-killed.cjs'), { args: ['restart'] });
  t.after(() => c.kill());
  const { url, workers } = await c.message('ready');
  assert.equal(workers, 1, 'the agent starts one worker: its watchdog');
  const before = await scrape(url);
  assert.equal(sample(before, 'loopwatch_watchdog_restarts_total')?.value, 0, 'no restart is a value, from the start');
  await c.message('killed');
  // The restarted watchdog listens on the same port and reports the restart.
  const deadline = Date.now() + 10_000;
  let after;
  while (Date.now() < deadline) {
    after = await scrape(url);
    if (sample(after ?? [], 'loopwatch_watchdog_restarts_total')?.value === 1) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(sample(after ?? [], 'loopwatch_watchdog_restarts_total')?.value, 1, 'restart counted on the same endpoint');
  // The new watchdog watches: a block in progress shows while it lasts.
  await c.message('blocking');
  let inProgress = 0;
  while (!c.messages.some((m) => m.type === 'blocked')) {
    const m = await scrape(url);
    inProgress = Math.max(inProgress, sample(m ?? [], 'loopwatch_eventloop_stall_in_progress_seconds', { thread_name: 'main' })?.value ?? 0);
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(inProgress >= 0.5, `stall in progress seen by the restarted watchdog (max ${inProgress} s)`);
  const { code } = await c.exited;
  assert.equal(code, 0, 'the process ends by itself with a restarted watchdog');
  const lines = c.stderr.split('\n').filter((l) => l.includes('watchdog thread'));
  assert.equal(lines.length, 1, `one line for the death:\n${c.stderr}`);
  assert.match(lines[0], /^\[loopwatch\] watchdog: the watchdog thread exited unexpectedly \(code 1\); stalls are not watched until it restarts in 1 s$/);
});

test('stop() during the restart backoff: no watchdog comes back, the process exits', async (t) => {
  const c = runChild(fixture('watchdog-killed.cjs'), { args: ['stop'] });
  t.after(() => c.kill());
  const { url } = await c.message('ready');
  await c.message('stopped');
  const { code } = await c.exited;
  assert.equal(code, 0);
  assert.equal(await scrape(url), undefined, 'nothing listens after stop()');
  assert.equal(c.stderr.split('\n').filter((l) => l.includes('watchdog thread')).length, 1, c.stderr);
});
