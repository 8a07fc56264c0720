// What the per-culprit cap holds back is said, not silently dropped: the next reported stall of that culprit says how
// many were not reported (its event, stderr block and log record), and every one is counted in
// loopwatch.stall.reports.suppressed{reason="culprit_rate"}. The stall pipeline with an injected clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const dist = (p) => require(`../../../agent/dist/${p}`);
const { StallPipeline } = dist('stall/pipeline.js');
const { SeriesStore, SeriesRegistry } = dist('metrics/store.js');
const N = dist('metrics/names.js');
const { formatStall } = dist('export/console.js');
const { emitStallLog } = dist('export/otel-logs.js');
const { aggregateSamples } = dist('attribution/aggregate.js');

const F = (functionName, fileName, lineNumber) => ({ functionName, fileName, lineNumber, columnNumber: 7 });
const A = [F('parseBody', '/srv/app/parse.js', 3), F('handler', '/srv/app/server.js', 9)];
const B = [F('renderPage', '/srv/app/render.js', 5), F('handler', '/srv/app/server.js', 10)];

function setup() {
  const c = { ns: 1_000_000_000n, wall: 1_700_000_000_000 };
  const clock = { nowNs: () => c.ns, loopTime: () => ({ active: 0, idle: 0 }), wallMs: () => c.wall };
  const registry = new SeriesRegistry();
  const store = new SeriesStore('1', registry, () => {});
  const events = [];
  const p = new StallPipeline('main', true, store, (e) => events.push(e), () => {}, { clock, attributionWaitMs: 60_000 });
  const stall = (frames) => {
    const sinceNs = (c.ns += 1_000_000_000n);
    p.detected({ durationMs: 120, startTime: c.wall, endNs: sinceNs + 1n, sinceNs });
    p.attributed(sinceNs, aggregateSamples([{ frames, inflight: 1, inRequest: true }]));
  };
  const suppressedSeries = () =>
    [...registry.values()].filter((v) => v.def.name === N.LOOPWATCH_STALL_REPORTS_SUPPRESSED).map((v) => ({ attributes: v.attributes, value: v.data[0] }));
  return { c, events, stall, suppressedSeries };
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
