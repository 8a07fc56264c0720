// When the watchdog reports a stall still running (StallWatch with a fake clock): at `afterMs` blocked, then every
// `everyMs` while it lasts, never two for one late poll; nothing once it is over.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { StallWatch } = require('../../../agent/dist/watchdog/stall-watch.js');
const { LoopSampler } = require('../../../agent/dist/heartbeat/sampler.js');
const { ThreadState } = require('../../../agent/dist/channel/thread-state.js');
const { liveStallOf, formatLiveLine } = require('../../../agent/dist/watchdog/live-report.js');

function setup(schedule) {
  const c = { ns: 10n ** 12n, active: 0, idle: 0 };
  const clock = { nowNs: () => c.ns, loopTime: () => ({ active: c.active, idle: c.idle }), wallMs: () => 0 };
  const state = new ThreadState();
  const sampler = new LoopSampler(state, 10, 100, clock, () => {}, 50);
  const reports = [];
  const threads = new Map([[1, { id: 1, name: 'main', state }]]);
  const watch = new StallWatch({ threads: () => threads.values(), get: (id) => threads.get(id) }, true, () => assert.fail('the hook reports'), {
    onProgress: (id, blockedMs) => reports.push([id, Math.round(blockedMs)]),
  }, schedule);
  return {
    reports,
    busy(ms) { c.ns += BigInt(ms * 1e6); c.active += ms; },
    idle(ms) { c.ns += BigInt(ms * 1e6); c.idle += ms; },
    beat: () => sampler.beat(),
    poll: () => watch.poll(c.ns),
  };
}

test('first report at afterMs, then every everyMs; a late poll gives one report, not a catch-up burst', () => {
  const w = setup({ afterMs: 1000, everyMs: 2000 });
  w.idle(10);
  w.beat();
  for (let t = 0; t < 900; t += 50) { w.busy(50); w.poll(); }
  assert.deepEqual(w.reports, [], 'not before afterMs');
  for (let t = 900; t < 2950; t += 50) { w.busy(50); w.poll(); }
  assert.equal(w.reports.length, 1);
  assert.ok(w.reports[0][1] >= 1000 && w.reports[0][1] < 1100, `first at ~1 s: ${w.reports[0][1]}`);
  for (let t = 2950; t < 3100; t += 50) { w.busy(50); w.poll(); }
  assert.equal(w.reports.length, 2, 'again at ~3 s');
  assert.ok(w.reports[1][1] >= 3000 && w.reports[1][1] < 3100, `second at ~3 s: ${w.reports[1][1]}`);
  // The watchdog was starved for 5 s: one report now, the next at the next multiple of everyMs.
  w.busy(5000);
  w.poll();
  assert.equal(w.reports.length, 3);
  w.busy(50);
  w.poll();
  assert.equal(w.reports.length, 3, 'no second report for the same late poll');
  w.beat();
  w.busy(10_000);
  assert.equal(w.reports.length, 3);
});

test('the in-progress report of samples so far: the culprit rule of the final record, `unknown` without samples', () => {
  const none = liveStallOf('main', 'ab12', 1234, 0, []);
  assert.equal(none.culprit, undefined);
  assert.equal(formatLiveLine(none), 'thread "main" has been blocked for 1.2 s (stall in progress) | stall id ab12 | culprit unknown');
  const F = (functionName, fileName, lineNumber) => ({ functionName, fileName, lineNumber, columnNumber: 3 });
  // Node internals and dependencies are passed over to the app's own frame (frames.ts culpritFrameIndex).
  const frames = [F('JSON.parse', 'node:internal/x', 1), F('parse', '/srv/node_modules/lib/index.js', 2), F('loadBig', '/srv/app/load.js', 7), F('handler', '/srv/app/server.js', 9)];
  const e = liveStallOf('main', 'ab12', 2500, 0, [{ frames, inRequest: true, route: 'GET /big/:id' }]);
  assert.equal(e.culprit, 'loadBig (/srv/app/load.js:7)');
  assert.equal(e.route, 'GET /big/:id');
  assert.equal(
    formatLiveLine(e),
    'thread "main" has been blocked for 2.5 s (stall in progress) | stall id ab12 | route GET /big/:id | culprit loadBig (/srv/app/load.js:7) | at JSON.parse (node:internal/x:1:3) < parse (/srv/node_modules/lib/index.js:2:3) < loadBig (/srv/app/load.js:7:3) < …',
  );
});
