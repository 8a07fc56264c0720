import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { aggregateSamples, mergeAttribution } = require('../../../agent/dist/attribution/aggregate.js');

const F = (functionName, fileName, lineNumber = 1) => ({ functionName, fileName, lineNumber, columnNumber: 1 });
const S = (frames, extra = {}) => ({ frames, inflight: 1, inRequest: true, route: 'GET /x/:id', ...extra });

test('no samples → undefined; merge keeps the event', () => {
  assert.equal(aggregateSamples([]), undefined);
  const e = { durationMs: 150, startTime: 1, thread: 'main', stack: [] };
  assert.deepEqual(mergeAttribution(e, undefined), e);
});

test('dominant culprit across samples of a long stall; victims from in-flight count', () => {
  const a = [F('parse', '/app/p.js', 3), F('h', '/app/s.js', 9)];
  const b = [F('render', '/app/r.js', 5), F('h', '/app/s.js', 10)];
  const attr = aggregateSamples([S(a, { inflight: 4 }), S(b), S(b), S(b)]);
  assert.equal(attr.samples, 4);
  assert.deepEqual(attr.dominant.map((d) => [d.frame.functionName, d.samples]), [['render', 3], ['parse', 1]]);
  assert.equal(attr.stack, b);
  assert.equal(attr.victims, 3);
  const e = mergeAttribution({ durationMs: 400, startTime: 1, thread: 'main', stack: [] }, attr, '/app');
  assert.equal(e.culprit, 'render (r.js:5)');
  assert.equal(e.route, 'GET /x/:id');
  assert.deepEqual(e.dominantFrames, [{ culprit: 'render (r.js:5)', share: 0.75 }, { culprit: 'parse (p.js:3)', share: 0.25 }]);
});

test('trace context and resource type carried; not-in-request stalls have all in-flight requests as victims', () => {
  const attr = aggregateSamples([S([F('job', '/app/j.js')], { inRequest: false, route: undefined, inflight: 2, resourceType: 'Timeout', traceId: 'a'.repeat(32), spanId: 'b'.repeat(16) })]);
  assert.equal(attr.victims, 2);
  assert.equal(attr.resourceType, 'Timeout');
  assert.equal(attr.traceId, 'a'.repeat(32));
  assert.equal(attr.route, undefined);
});

test('requests not tracked: the stalled request is not counted as its own victim; unknown stays unknown', () => {
  const app = [F('work', '/app/a.js')];
  const untracked = (inflight, resourceType) => aggregateSamples([{ frames: app, inflight, inRequest: false, tracked: false, resourceType }]).victims;
  assert.equal(untracked(1, 'HTTPINCOMINGMESSAGE'), 0, 'a handler blocking alone delays nobody');
  assert.equal(untracked(3, 'HTTPINCOMINGMESSAGE'), 2);
  assert.equal(untracked(2, 'Timeout'), 2, 'a timer delays every request in flight');
  assert.equal(untracked(2, 'PROMISE'), undefined, 'an await continuation may be one of them: not known');
  assert.equal(untracked(0, 'PROMISE'), 0);
});

test('requests in flight that could not be counted leave victims out, tracked or not (never a made-up 0)', () => {
  const app = [F('work', '/app/a.js')];
  const { inflight: _dropped, ...uncounted } = S(app);
  assert.equal(aggregateSamples([uncounted]).victims, undefined);
  assert.equal(aggregateSamples([{ frames: app, inRequest: false, tracked: false, resourceType: 'Timeout' }]).victims, undefined);
  // Counted at the first sample: later samples carry the same count.
  assert.equal(aggregateSamples([S(app, { inflight: 4 }), S(app, { inflight: 4 })]).victims, 3);
});
