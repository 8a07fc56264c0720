// A saturated loop (ELU ≈ 1, every block 150 ms, under the 200 ms stall threshold) keeps /livez 200 and turns
// /readyz 503 ("saturated", reason "delay"); once calm, /readyz is 200 again, but only after the recovery hold.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { base, get, pollUntil, startApp, tempFile } from './helpers.mjs';

test('saturated loop: /livez stays 200, /readyz 503 saturated, then 200 after the recovery hold', { timeout: 60_000 }, async () => {
  const calmFile = tempFile('calm');
  const app = startApp('saturate', calmFile, {
    LOOPWATCH_READINESS_DELAY_MS: '30',
    LOOPWATCH_READINESS_DELAY_WINDOW_MS: '1000',
    LOOPWATCH_HEALTH_RECOVERY_MS: '2000',
    LOOPWATCH_LIVENESS_TIMEOUT_MS: '1000',
  });
  try {
    const { url } = await app.message('ready');
    const root = base(url);
    const { match } = await pollUntil(`${root}/readyz`, (a) => a.status === 503);
    assert.equal(match.json.state, 'saturated');
    assert.equal(match.json.reason, 'delay');
    assert.equal(match.json.thread, 'main');
    assert.equal(match.json.live, true);
    assert.equal(match.json.blockedForMs, 0);
    assert.ok(match.json.delayP99Ms > 30 && match.json.delayP99Ms < 200, `p99 ${match.json.delayP99Ms}`);
    // Saturated for 3 s more, three times the liveness timeout: liveness never fails.
    const until = Date.now() + 3000;
    while (Date.now() < until) {
      const live = await get(`${root}/livez`);
      assert.equal(live.status, 200, live.body);
      assert.equal(live.json.state, 'saturated');
      await new Promise((r) => setTimeout(r, 100));
    }
    writeFileSync(calmFile, '');
    const calm = await app.message('calm');
    void calm;
    const calmAt = Date.now();
    const back = await pollUntil(`${root}/readyz`, (a) => a.status === 200);
    // Delay clears within a window or two (1–2 s), then the 2 s hold: never back at once.
    assert.ok(back.match.at - calmAt >= 2000, `ready again ${back.match.at - calmAt} ms after calm`);
    assert.ok(back.seen.some((a) => a.status === 503 && a.json.reason === 'recovering'), 'a recovering answer was seen');
    assert.deepEqual(
      { state: back.match.json.state, live: back.match.json.live, ready: back.match.json.ready },
      { state: 'ok', live: true, ready: true },
    );
    assert.equal((await get(`${root}/livez`)).status, 200);
  } finally {
    app.kill();
  }
});
