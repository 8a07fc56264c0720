// The stall pipeline (agent/src/stall/pipeline.ts) with an injected clock and injected samples: one stall's
// culprit, duration, stack source and confidence are the same in its event, its span events, the culprit counter,
// the console line and the OTel log record; "unknown" when no frame; the per-culprit rate cap. The thread side is the real stall mark
// (attribution/stall-mark.ts) fed the injected samples, the watchdog side the real aggregate of the samples it got.
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
const { StallMarks, markEvidence } = dist('attribution/stall-mark.js');

const F = (functionName, fileName, lineNumber = 1) => ({ functionName, fileName, lineNumber, columnNumber: 7 });
const S = (frames) => ({ frames, inflight: 2, inRequest: true, route: 'GET /r/:id' });
// Two culprits under a node internal frame, as a real blocked stack shows them.
const A = [F('JSON.parse', 'node:internal/x'), F('parseBody', '/srv/app/parse.js', 3), F('handler', '/srv/app/server.js', 9)];
const B = [F('renderPage', '/srv/app/render.js', 5), F('handler', '/srv/app/server.js', 10)];

function clock() {
  const c = { ns: 1_000_000_000n, activeMs: 0, wall: 1_700_000_000_000 };
  c.api = { nowNs: () => c.ns, loopTime: () => ({ active: c.activeMs, idle: 0 }), wallMs: () => c.wall };
  return c;
}

function span(id) {
  const events = [];
  return { events, addEvent: (name, attributes, t) => void events.push({ name, attributes, t }), isRecording: () => true, spanContext: () => ({ traceId: 'a'.repeat(32), spanId: id }) };
}

/**
 * A thread side built on the real stall mark: `see(samples)` is the getter noting samples during the stall,
 * `requestEnds()` a request the stall delayed whose response closes before the next scheduled beat (span-capture.ts
 * calls the pipeline, which runs a beat then).
 */
function threadSide(c, spans) {
  const marks = new StallMarks();
  let delayedRequestEnds;
  return {
    see(samples) {
      for (const s of samples) {
        c.ns += 50_000_000n;
        const m = marks.live(c.ns);
        if (m) marks.continueWith(m, s, c.ns);
        else marks.begin(s, c.ns, undefined, undefined, []);
      }
    },
    requestEnds() {
      assert.ok(marks.live(c.ns), 'a request ends while the stall\'s mark is live');
      delayedRequestEnds();
    },
    handle: {
      stop() {},
      tracksRequests: true,
      sample() {
        throw new Error('not used');
      },
      takeStall(sinceNs, endNs) {
        const m = marks.take(sinceNs, endNs);
        if (!m) return undefined;
        return { spans: { culprit: spans.culprit, victims: spans.victims, route: m.route }, evidence: markEvidence(m) };
      },
      onRequestEndDuringMark(fn) {
        delayedRequestEnds = fn;
      },
      refresh() {},
    },
  };
}

const noBeat = () => assert.fail('no request ends during this stall');

function pipeline(c, { attribution = true, waitMs = 60_000 } = {}) {
  const registry = new SeriesRegistry();
  const store = new SeriesStore('1', registry, () => {});
  const events = [];
  const p = new StallPipeline('main', attribution, store, (e) => events.push(e), () => {}, { clock: c.api, attributionWaitMs: waitMs });
  const counters = (name) => [...registry.values()].filter((v) => v.def.name === name).map((v) => ({ culprit: v.attributes[N.ATTR_CULPRIT], value: v.data[0] }));
  return { p, events, counters };
}

function logRecordOf(event) {
  const records = [];
  const provider = { getLogger: () => ({ emit: (r) => records.push(r) }) };
  emitStallLog(event, { error: (...a) => assert.fail(a.join(' ')) }, provider);
  assert.equal(records.length, 1);
  return records[0];
}

const culpritInLine = (line) => /\| culprit (.+?)( \||\n|$)/.exec(line)?.[1];

test('one culprit, one duration, one stack source and confidence for the event, the span events (also of a request that ended before the scheduled beat), counter, console line and log record', () => {
  const c = clock();
  const own = span('1'.repeat(16));
  const victim = span('2'.repeat(16));
  const early = span('3'.repeat(16));
  const { p, events, counters } = pipeline(c);
  const t = threadSide(c, { culprit: own, victims: [victim, early] });
  const sinceNs = c.ns;
  // The monitor's beatIfBusy: the beat run as the delayed request ends measures the stall, then and once.
  let beats = 0;
  const beatNow = () => {
    beats++;
    p.detected({ durationMs: 250.04, startTime: c.wall - 250.04, endNs: c.ns, sinceNs });
  };
  p.useThread(t.handle, beatNow, (what, err) => assert.fail(`${what}: ${err}`));

  // The thread's getter saw A, B, B; the watchdog received only the first two (the last answer was lost): on its own
  // samples the tie would go to A, first seen, with half the samples.
  t.see([S(A), S(B), S(B)]);
  const watchdogSaw = aggregateSamples([S(A), S(B)]);
  assert.equal(watchdogSaw.dominant[0].frame.functionName, 'parseBody', 'the watchdog alone would name A');
  assert.equal(watchdogSaw.confidence, 0.5);

  // The stall is over; a delayed request ends before the next scheduled beat: the stall is measured now, and every
  // span it delayed (the ending one's is still open) gets its event from that record.
  c.activeMs = 250.04;
  c.ns += 200_000_000n;
  t.requestEnds();
  assert.equal(beats, 1);
  assert.deepEqual([early, own, victim].map((s) => s.events.length), [1, 1, 1], 'written while the ending span is open');
  p.attributed(sinceNs, watchdogSaw);

  assert.equal(events.length, 1);
  const e = events[0];
  const culprit = 'renderPage (render.js:5)';
  const spanEvents = [early, own, victim].map((s) => s.events);
  assert.deepEqual(spanEvents.map((x) => x.length), [1, 1, 1], 'one span event per span');
  const line = formatStall(e);
  const log = logRecordOf(e);
  const [count] = counters(N.LOOPWATCH_STALL_CULPRIT_COUNT);
  const [time] = counters(N.LOOPWATCH_STALL_CULPRIT_TIME);

  // Culprit: one string everywhere.
  assert.equal(e.culprit.replace(/\(.*[\\/]/, '('), culprit);
  for (const [x] of spanEvents) assert.equal(x.attributes[N.ATTR_CULPRIT], e.culprit, 'span event culprit = event culprit');
  assert.equal(count.culprit, e.culprit, 'counter label = event culprit');
  assert.equal(time.culprit, e.culprit);
  assert.equal(culpritInLine(line), e.culprit, `console line: ${line}`);
  assert.equal(log.attributes[N.ATTR_CULPRIT], e.culprit, 'log record culprit = event culprit');
  assert.equal(e.stack[0].functionName, 'renderPage', 'the event shows a stack holding its culprit');
  assert.equal(early.events[0].attributes['code.function.name'], 'renderPage');

  // Stack source and confidence: the thread's reading of its three samples (renderPage 2 of 3), not the watchdog's
  // of two; the same on the event, each span event and the log record.
  assert.equal(e.stackSource, 'sampled');
  assert.equal(e.confidence, 0.667);
  for (const [x] of spanEvents) {
    assert.equal(x.attributes[N.ATTR_STACK_SOURCE], e.stackSource, 'span event stack source = event stack source');
    assert.equal(x.attributes[N.ATTR_CONFIDENCE], e.confidence, 'span event confidence = event confidence');
  }
  assert.equal(log.attributes[N.ATTR_STACK_SOURCE], 'sampled');
  assert.equal(log.attributes[N.ATTR_CONFIDENCE], 0.667);

  // Duration: the beat's measure everywhere, the span event of the request that ended first included.
  assert.equal(e.durationMs, 250.04);
  for (const [x] of spanEvents) {
    assert.equal(x.attributes['loopwatch.stall.duration_ms'], 250);
    assert.equal(x.t, e.startTime, 'span events start when the stall did');
  }
  assert.equal(count.value, 1);
  assert.ok(Math.abs(time.value - 0.25004) < 1e-12, `counter time ${time.value}`);
  assert.match(line, /^stall 250 ms on main/);
  assert.equal(log.attributes['loopwatch.stall.duration_ms'], 250);
  assert.equal(log.timestamp, e.startTime);
  assert.equal(e.startTime, c.wall - 250.04);
});

test('a stall measured only by the beat: its duration; the thread names the culprit when the watchdog never answers', async () => {
  const c = clock();
  const own = span('1'.repeat(16));
  const { p, events, counters } = pipeline(c, { waitMs: 10 });
  const t = threadSide(c, { culprit: own, victims: [] });
  p.useThread(t.handle, noBeat, (what, err) => assert.fail(`${what}: ${err}`));
  const sinceNs = c.ns;
  t.see([S(A)]);
  p.detected({ durationMs: 180.26, startTime: c.wall - 180.26, endNs: c.ns + 1n, sinceNs });
  const deadline = Date.now() + 5000;
  while (!events.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  const e = events[0];
  assert.ok(e, 'emitted without the watchdog');
  assert.equal(e.culprit.replace(/\(.*[\\/]/, '('), 'parseBody (parse.js:3)');
  assert.equal(own.events[0].attributes[N.ATTR_CULPRIT], e.culprit);
  assert.equal(e.stackSource, 'sampled');
  assert.equal(e.confidence, 1);
  assert.equal(own.events[0].attributes[N.ATTR_STACK_SOURCE], 'sampled');
  assert.equal(own.events[0].attributes[N.ATTR_CONFIDENCE], 1);
  assert.equal(counters(N.LOOPWATCH_STALL_CULPRIT_COUNT)[0].culprit, e.culprit);
  assert.equal(culpritInLine(formatStall(e)), e.culprit);
  assert.equal(e.durationMs, 180.26);
  assert.equal(own.events[0].attributes['loopwatch.stall.duration_ms'], 180.3);
  assert.ok(Math.abs(counters(N.LOOPWATCH_STALL_CULPRIT_TIME)[0].value - 0.18026) < 1e-12);
  assert.match(formatStall(e), /^stall 180 ms/);
  assert.equal(logRecordOf(e).attributes['loopwatch.stall.duration_ms'], 180.3);
});

test('no frame: "unknown" in the event reading, span events, counter, console line and log record', () => {
  const c = clock();
  const own = span('1'.repeat(16));
  const { p, events, counters } = pipeline(c);
  const t = threadSide(c, { culprit: own, victims: [] });
  p.useThread(t.handle, noBeat, (what, err) => assert.fail(`${what}: ${err}`));
  const sinceNs = c.ns;
  t.see([S([])]);
  p.detected({ durationMs: 150, startTime: c.wall - 150, endNs: c.ns + 1n, sinceNs });
  p.attributed(sinceNs, aggregateSamples([S([])]));
  const e = events[0];
  assert.equal(e.culprit, undefined, 'the event leaves an unknown culprit out');
  assert.deepEqual(e.stack, []);
  assert.equal(own.events[0].attributes[N.ATTR_CULPRIT], 'unknown');
  assert.equal(counters(N.LOOPWATCH_STALL_CULPRIT_COUNT)[0].culprit, 'unknown');
  assert.equal(culpritInLine(formatStall(e)), 'unknown');
  assert.equal(logRecordOf(e).attributes[N.ATTR_CULPRIT], 'unknown');
});

test('rate cap: every stall counted, events capped per culprit (burst 5, then 1 a minute), other culprits unaffected', () => {
  const c = clock();
  const { p, events, counters } = pipeline(c);
  const stall = (frames) => {
    const sinceNs = (c.ns += 1_000_000_000n);
    p.detected({ durationMs: 120, startTime: c.wall, endNs: sinceNs + 1n, sinceNs });
    p.attributed(sinceNs, aggregateSamples([S(frames)]));
  };
  for (let i = 0; i < 8; i++) stall(A);
  assert.equal(events.length, 5, 'burst of 5');
  assert.equal(counters(N.LOOPWATCH_STALL_CULPRIT_COUNT)[0].value, 8, 'every stall counted');
  stall(B);
  assert.equal(events.length, 6, 'another culprit has its own budget');
  c.wall += 30_000;
  stall(A);
  assert.equal(events.length, 6, 'half a minute: no token yet');
  c.wall += 30_000;
  stall(A);
  assert.equal(events.length, 7, 'one a minute after the burst');
  assert.deepEqual(
    counters(N.LOOPWATCH_STALL_CULPRIT_COUNT).map((x) => [x.culprit.replace(/ \(.*/, ''), x.value]),
    [
      ['parseBody', 10],
      ['renderPage', 1],
    ],
  );
});

// Read after a non-interruptible builtin returned (the getter marked them late): the stack shows the function that
// ran next (countItems), called from where the builtin was (parseOrders).
const LATE = [F('countItems', '/srv/app/orders.js', 20), F('parseOrders', '/srv/app/orders.js', 12), F('handler', '/srv/app/server.js', 9)];
const late = (frames, missed = 1) => ({ ...S(frames), late: true, missed });

test('late samples only: no culprit anywhere ("unknown"), stackSource late, confidence 0, the late stack kept with the two frames the blocking call was made from', () => {
  const c = clock();
  const own = span('1'.repeat(16));
  const { p, events, counters } = pipeline(c);
  const t = threadSide(c, { culprit: own, victims: [] });
  p.useThread(t.handle, noBeat, (what, err) => assert.fail(`${what}: ${err}`));
  const sinceNs = c.ns;
  // One sample read 600 ms late (12 periods of 50 ms), and one on time in the code that ran after the block.
  t.see([late(LATE, 12), S(B)]);
  p.detected({ durationMs: 900, startTime: c.wall - 900, endNs: c.ns + 1n, sinceNs });
  p.attributed(sinceNs, aggregateSamples([late(LATE, 12), S(B)]));
  const e = events[0];
  assert.equal(e.culprit, undefined, JSON.stringify(e));
  assert.equal(e.stackSource, 'late');
  assert.equal(e.confidence, 0);
  assert.deepEqual(e.stack.map((f) => f.functionName), ['countItems', 'parseOrders', 'handler'], 'the late stack is kept');
  assert.deepEqual(e.blockedWithin.map((f) => f.replace(/\(.*[\\/]/, '(')), ['countItems (orders.js:20)', 'parseOrders (orders.js:12)']);
  assert.equal(e.route, 'GET /r/:id');
  assert.equal(own.events[0].attributes[N.ATTR_CULPRIT], 'unknown', 'span event');
  assert.equal(own.events[0].attributes[N.ATTR_STACK_SOURCE], 'late', 'span event');
  assert.equal(own.events[0].attributes[N.ATTR_CONFIDENCE], 0, 'span event');
  assert.equal(own.events[0].attributes['code.function.name'], undefined, 'span event: no code location of the innocent function');
  assert.equal(counters(N.LOOPWATCH_STALL_CULPRIT_COUNT)[0].culprit, 'unknown', 'counter');
  assert.equal(culpritInLine(formatStall(e)), 'unknown', 'console line');
  const log = logRecordOf(e);
  assert.equal(log.attributes[N.ATTR_CULPRIT], 'unknown');
  assert.equal(log.attributes[N.ATTR_STACK_SOURCE], 'late');
  assert.equal(log.attributes[N.ATTR_CONFIDENCE], 0);
  assert.match(log.attributes[N.ATTR_BLOCKED_WITHIN], /^countItems \(.*orders\.js:20\) \| parseOrders \(.*orders\.js:12\)$/);
  assert.equal(log.attributes['code.function.name'], undefined, 'no code location of the innocent function');
});

test('on-time samples outweighing the late ones decide; a late sample counts as the periods it missed', () => {
  const c = clock();
  const own = span('1'.repeat(16));
  const { p, events } = pipeline(c);
  const t = threadSide(c, { culprit: own, victims: [] });
  p.useThread(t.handle, noBeat, (what, err) => assert.fail(`${what}: ${err}`));
  const sinceNs = c.ns;
  // Three on-time samples in renderPage (two) and parseBody (one), then one late by one period, showing countItems.
  const samples = [S(B), S(A), S(B), late(LATE, 1)];
  t.see(samples);
  p.detected({ durationMs: 900, startTime: c.wall - 900, endNs: c.ns + 1n, sinceNs });
  p.attributed(sinceNs, aggregateSamples(samples));
  const e = events[0];
  assert.equal(e.culprit.replace(/\(.*[\\/]/, '('), 'renderPage (render.js:5)');
  assert.equal(e.stackSource, 'sampled');
  assert.equal(e.confidence, 0.5, 'two of four periods');
  assert.equal(e.blockedWithin, undefined);
  assert.equal(own.events[0].attributes[N.ATTR_STACK_SOURCE], 'sampled');
  assert.equal(own.events[0].attributes[N.ATTR_CONFIDENCE], 0.5);
  assert.equal(e.samples, 4);
  assert.deepEqual(e.dominantFrames.map((d) => d.culprit.replace(/\(.*[\\/]/, '(')), ['renderPage (render.js:5)', 'parseBody (parse.js:3)']);
  assert.equal(logRecordOf(e).attributes[N.ATTR_STACK_SOURCE], 'sampled');
});

test('no attribution and no thread culprit: stackSource none, confidence 0', async () => {
  const c = clock();
  const { p, events } = pipeline(c, { waitMs: 10 });
  const sinceNs = c.ns;
  p.detected({ durationMs: 150, startTime: c.wall - 150, endNs: c.ns + 1n, sinceNs });
  const deadline = Date.now() + 5000;
  while (!events.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assert.equal(events[0].stackSource, 'none');
  assert.equal(events[0].confidence, 0);
  assert.equal(events[0].culprit, undefined);
});
