// One culprit decision (agent/src/attribution/culprit.ts): the thread's stall mark and the watchdog's aggregate
// count the same samples the same way, so they name the same culprit, on ties and on stacks of Node internals only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { aggregateSamples, mergeAttribution } = require('../../../agent/dist/attribution/aggregate.js');
const { StallMarks, markEvidence } = require('../../../agent/dist/attribution/stall-mark.js');
const { culpritLabel } = require('../../../agent/dist/attribution/culprit.js');

const F = (functionName, fileName, lineNumber = 1) => ({ functionName, fileName, lineNumber, columnNumber: 1 });
const S = (frames) => ({ frames, inRequest: false });

function threadEvidence(samples) {
  const marks = new StallMarks();
  let ns = 10n;
  for (const s of samples) {
    ns += 50_000_000n;
    const m = marks.live(ns);
    if (m) marks.continueWith(m, s, ns);
    else marks.begin(s, ns, undefined, undefined, []);
  }
  return markEvidence(marks.take(0n, ns + 1n));
}
const threadSaw = (samples) => threadEvidence(samples).culprit?.name;
const watchdogEvent = (samples) => mergeAttribution({ durationMs: 1, startTime: 0, thread: 'main', stack: [] }, aggregateSamples(samples), '/app');
const watchdogSaw = (samples) => watchdogEvent(samples).culprit;

test('thread and watchdog name the same culprit: a tie goes to the one seen first on both sides', () => {
  const a = [F('JSON.parse', 'node:internal/a'), F('parse', '/app/p.js', 3)];
  const a2 = [F('readFileSync', 'node:fs'), F('parse', '/app/p.js', 3)];
  const b = [F('render', '/app/r.js', 5)];
  // The thread side used to switch to a culprit as soon as it led (render, at its second sample) and keep it on a
  // later tie, while the watchdog gave a tie to the culprit seen first (parse): span events said render, the event
  // parse.
  for (const samples of [[S(a), S(b), S(b), S(a2)], [S(b), S(a), S(a2), S(b)], [S(a), S(a2), S(b)]]) {
    const t = threadSaw(samples);
    assert.equal(t?.replace(/\(.*[\\/]/, '('), watchdogSaw(samples)?.replace(/\(.*[\\/]/, '('));
  }
  assert.equal(threadSaw([S(a), S(b), S(b), S(a2)]).replace(/ \(.*/, ''), 'parse');
  assert.equal(threadSaw([S(b), S(a), S(a2), S(b)]).replace(/ \(.*/, ''), 'render');
});

test('a stack of Node internals only names its top frame on both sides; an empty one is unknown', () => {
  const internal = [F('readFileSync', 'node:fs', 5), F('Module._load', 'node:internal/modules/cjs/loader', 9)];
  assert.equal(threadSaw([S(internal)]), 'readFileSync (node:fs:5)');
  assert.equal(watchdogSaw([S(internal)]), 'readFileSync (node:fs:5)');
  assert.equal(threadSaw([S([])]), undefined);
  assert.equal(watchdogSaw([S([])]), undefined);
  assert.equal(culpritLabel({}), 'unknown');
  assert.equal(culpritLabel({ culprit: 'f (a.js:1)' }), 'f (a.js:1)');
});

test('thread and watchdog weigh late samples the same way: same stack source and confidence for the same samples', () => {
  const a = [F('parse', '/app/p.js', 3)];
  const b = [F('render', '/app/r.js', 5)];
  const late = (frames, missed) => ({ ...S(frames), late: true, missed });
  const cases = [
    // [samples, stackSource, confidence]
    [[S(a), S(a), S(b)], 'sampled', 0.667],
    [[S(a), late(b, 1)], 'late', 0], // a tie between the leader and unknown time names no culprit
    [[S(a), S(a), late(b, 1)], 'sampled', 0.667],
    [[late(b, 12), S(a)], 'late', 0],
    [[S([]), S([])], 'sampled', 0], // on time, but no frame: no culprit, nothing late
  ];
  for (const [samples, stackSource, confidence] of cases) {
    const t = threadEvidence(samples);
    const w = watchdogEvent(samples);
    const what = JSON.stringify(samples.map((s) => [s.frames[0]?.functionName, s.late ?? false]));
    assert.equal(t.stackSource, stackSource, `thread, ${what}`);
    assert.equal(w.stackSource, stackSource, `watchdog, ${what}`);
    assert.equal(t.confidence, confidence, `thread, ${what}`);
    assert.equal(w.confidence, confidence, `watchdog, ${what}`);
    assert.equal(t.culprit?.name.replace(/\(.*[\\/]/, '('), w.culprit?.replace(/\(.*[\\/]/, '('), what);
  }
});
