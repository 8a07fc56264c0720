// What the per-culprit cap holds back is said, not silently dropped: the next reported stall of that culprit says how
// many were not reported (its event, stderr block and log record), or, when its window closes with no later report,
// one line and log record of their own; every one is counted in loopwatch.stall.reports.suppressed{reason="culprit_rate"}.
// The stall pipeline with an injected clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const dist = (p) => require(`../../../agent/dist/${p}`);
const { StallPipeline } = dist('stall/pipeline.js');
const { SeriesStore, SeriesRegistry } = dist('metrics/store.js');
const N = dist('metrics/names.js');
const { formatHeldBack, formatStall } = dist('export/console.js');
const { emitHeldBackLog, emitStallLog } = dist('export/otel-logs.js');
const { aggregateSamples } = dist('attribution/aggregate.js');

const F = (functionName, fileName, lineNumber) => ({ functionName, fileName, lineNumber, columnNumber: 7 });
const A = [F('parseBody', '/srv/app/parse.js', 3), F('handler', '/srv/app/server.js', 9)];
const B = [F('renderPage', '/srv/app/render.js', 5), F('handler', '/srv/app/server.js', 10)];

function setup(limiter) {
  const c = { ns: 1_000_000_000n, wall: 1_700_000_000_000 };
  const clock = { nowNs: () => c.ns, loopTime: () => ({ active: 0, idle: 0 }), wallMs: () => c.wall };
  const registry = new SeriesRegistry();
  const store = new SeriesStore('1', registry, () => {});
  const events = [];
  const heldBack = [];
  const p = new StallPipeline('main', true, store, (e) => events.push(e), () => {}, { clock, attributionWaitMs: 60_000, limiter, onHeldBack: (r) => heldBack.push(r) });
  const stall = (frames, route) => {
    const sinceNs = (c.ns += 1_000_000_000n);
    p.detected({ durationMs: 120, startTime: c.wall, endNs: sinceNs + 1n, sinceNs });
    p.attributed(sinceNs, aggregateSamples([{ frames, inflight: 1, inRequest: true, route }]));
  };
  const suppressedSeries = () =>
    [...registry.values()].filter((v) => v.def.name === N.LOOPWATCH_STALL_REPORTS_SUPPRESSED).map((v) => ({ attributes: v.attributes, value: v.data[0] }));
  return { c, p, events, heldBack, stall, suppressedSeries };
}

function logAttributes(event) {
  const records = [];
  emitStallLog(event, { error: (...a) => assert.fail(a.join(' ')) }, { getLogger: () => ({ emit: (r) => records.push(r) }) });
  return records[0].attributes;
}

test('stalls held back by the cap: counted each, and said once on the next reported stall of that culprit', () => {
  const w = setup();
  for (let i = 0; i < 8; i++) w.stall(A);
  assert.equal(w.events.length, 5, 'burst of 5');
  assert.ok(w.events.every((e) => e.suppressed === undefined), 'nothing held back yet');
  assert.deepEqual(w.suppressedSeries(), [{ attributes: { [N.ATTR_REASON]: 'culprit_rate', [N.ATTR_THREAD_NAME]: 'main' }, value: 3 }]);
  // Another culprit: its own budget, nothing of A's said on it.
  w.stall(B);
  assert.equal(w.events.at(-1).suppressed, undefined);
  // A minute on, the next stall of A is reported and says the 3 held back (and only those).
  w.c.wall += 60_000;
  w.stall(A);
  const e = w.events.at(-1);
  assert.equal(e.culprit, 'parseBody (/srv/app/parse.js:3)');
  assert.equal(e.suppressed, 3);
  assert.match(formatStall(e).split('\n')[0], / \| 3 more stalls of this culprit not reported since the last one$/);
  assert.equal(logAttributes(e)['loopwatch.stall.suppressed'], 3);
  // Said once: the next one held back starts a new count.
  w.stall(A);
  assert.equal(w.events.length, 7);
  assert.equal(w.suppressedSeries()[0].value, 4);
  w.c.wall += 60_000;
  w.stall(A);
  assert.equal(w.events.at(-1).suppressed, 1);
  assert.match(formatStall(w.events.at(-1)), / \| 1 more stall of this culprit not reported since the last one\n/);
});

test('a stall reported with nothing held back says nothing of it', () => {
  const w = setup();
  w.stall(A);
  assert.equal(w.events[0].suppressed, undefined);
  assert.doesNotMatch(formatStall(w.events[0]), /not reported/);
  assert.equal(logAttributes(w.events[0])['loopwatch.stall.suppressed'], undefined);
  assert.deepEqual(w.suppressedSeries(), []);
});

test('held back and no later report: when the window closes, one summary per culprit (its culprit and count), said once', async (t) => {
  // The cap's own window timer (unref'd, real) with the injected clock: one token a millisecond after a burst of 5, so
  // the timer is due at once, and the window closes when the injected wall clock reaches it.
  const w = setup({ burst: 5, perMinute: 60_000 });
  t.after(() => w.p.stop());
  for (let i = 0; i < 8; i++) w.stall(A);
  w.stall(B);
  assert.equal(w.events.length, 6, 'five of A, one of B');
  assert.deepEqual(w.heldBack, [], 'the window is still open: nothing said yet');
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(w.heldBack, [], 'the timer fired early for the wall clock: still nothing said');
  const since = w.c.wall;
  w.c.wall += 1;
  const deadline = Date.now() + 5000;
  while (!w.heldBack.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(w.heldBack, [{ thread: 'main', culprit: 'parseBody (/srv/app/parse.js:3)', suppressed: 3, sinceMs: since, untilMs: since + 1 }]);
  assert.equal(formatHeldBack(w.heldBack[0]), '3 more stalls of culprit parseBody (/srv/app/parse.js:3) on main not reported in the last 0.0 s (per-culprit rate cap)');
  // Said once: the next stall of A is reported and carries no count; the counter still counts every one held back.
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(w.heldBack.length, 1);
  w.stall(A);
  assert.equal(w.events.length, 7);
  assert.equal(w.events.at(-1).suppressed, undefined);
  assert.equal(w.suppressedSeries()[0].value, 3);
});

test('the windows still open when the agent stops are all said then; a window a report already said is not', () => {
  const w = setup();
  for (let i = 0; i < 7; i++) w.stall(A);
  for (let i = 0; i < 6; i++) w.stall([], 'GET /orders/:id');
  for (let i = 0; i < 6; i++) w.stall([]);
  w.c.wall += 60_000;
  w.stall(A); // says A's two itself
  assert.equal(w.events.at(-1).suppressed, 2);
  w.c.wall += 1_000;
  w.p.closeReportWindows();
  assert.deepEqual(
    w.heldBack.map((r) => formatHeldBack(r)),
    [
      '1 more stall of route GET /orders/:id (culprit unknown) on main not reported in the last 61.0 s (per-culprit rate cap)',
      '1 more stall of culprit unknown on main not reported in the last 61.0 s (per-culprit rate cap)',
    ],
  );
  w.p.closeReportWindows();
  assert.equal(w.heldBack.length, 2, 'each said once');
});

test('the log record of reports held back: culprit label, route when grouped by it, thread and count', () => {
  const records = [];
  const provider = { getLogger: () => ({ emit: (r) => records.push(r) }) };
  const diag = { error: (...a) => assert.fail(a.join(' ')) };
  emitHeldBackLog({ thread: 'worker-1', culprit: 'f (a.js:1)', suppressed: 4, sinceMs: 1000, untilMs: 5000 }, diag, provider);
  emitHeldBackLog({ thread: 'main', route: 'GET /x', suppressed: 1, sinceMs: 1000, untilMs: 1500 }, diag, provider);
  assert.equal(records[0].eventName, 'loopwatch.stall.suppressed');
  assert.deepEqual(records[0].attributes, { [N.ATTR_THREAD_NAME]: 'worker-1', [N.ATTR_CULPRIT]: 'f (a.js:1)', 'loopwatch.stall.suppressed': 4 });
  assert.equal(records[0].body, '4 more stalls of culprit f (a.js:1) on worker-1 not reported in the last 4.0 s (per-culprit rate cap)');
  assert.equal(records[0].timestamp, 5000);
  assert.deepEqual(records[1].attributes, { [N.ATTR_THREAD_NAME]: 'main', [N.ATTR_CULPRIT]: 'unknown', 'loopwatch.stall.suppressed': 1, [N.ATTR_HTTP_ROUTE]: 'GET /x' });
});
