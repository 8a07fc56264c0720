// The watchdog's own exposition formatter must write exactly what prom-client writes for the same metrics,
// in both formats: Prometheus, Grafana and the e2e tests were built against prom-client's output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { Registry } = require('prom-client');
const { formatExposition, OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE } = require('../../../agent/dist/export/exposition.js');
const { promMetrics } = require('../../../agent/dist/export/prometheus.js');
const { METRICS } = require('../../../agent/dist/metrics/names.js');

const TRICKY = 'a"b\\c\nd';
const NUMBERS = [0, 1.5, 1e-7, 123456789012, NaN, Infinity, -Infinity, -2];

/** One collection covering every metric kind, label escaping, special values, exemplars and an absent metric. */
function snapshot() {
  const out = [];
  METRICS.forEach((def, i) => {
    if (i === 3) return; // absent from this collection: header only
    const attrs = (j) => (j === 0 ? {} : { 'thread.name': j === 1 ? 'main' : TRICKY, 'pool.kind': `k${i}` });
    if (def.kind === 'histogram') {
      const n = (def.buckets ?? []).length + 1;
      out.push({
        def,
        kind: 'histogram',
        points: [0, 1, 2].map((j) => ({
          attributes: attrs(j),
          counts: Array.from({ length: n }, (_, b) => (b * 7 + j + i) % 5),
          sum: 0.125 * (i + j),
          ...(j === 1 ? { exemplars: Array.from({ length: n }, (_, b) => (b % 2 ? { traceId: `${'ab'.repeat(15)}${b}${i}`, value: 0.5 + b, timestamp: 1764460000.123 + b } : undefined)) } : {}),
        })),
      });
    } else {
      out.push({ def, kind: def.kind, points: [0, 1, 2].map((j) => ({ attributes: attrs(j), value: NUMBERS[(i + j) % NUMBERS.length] })) });
    }
  });
  return out;
}

async function viaPromClient(collected, contentType) {
  const registry = new Registry(contentType);
  for (const m of promMetrics({ collect: () => collected }, registry.contentType)) registry.registerMetric(m);
  return registry.metrics();
}

test('text exposition is byte for byte what prom-client writes', async () => {
  const collected = snapshot();
  const expected = await viaPromClient(collected, PROMETHEUS_CONTENT_TYPE);
  assert.equal(formatExposition(collected, false), expected);
  assert.match(expected, /\\"b\\\\c\\nd"/, 'the fixture exercises label escaping');
  assert.match(expected, / Nan\n/);
  assert.match(expected, / \+Inf\n/);
});

test('OpenMetrics exposition (counter families, exemplars, # EOF) is byte for byte what prom-client writes', async () => {
  const collected = snapshot();
  const expected = await viaPromClient(collected, OPENMETRICS_CONTENT_TYPE);
  assert.equal(formatExposition(collected, true), expected);
  assert.match(expected, / # \{trace_id="[0-9a-f]+"\} [0-9.]+ [0-9.]+\n/, 'the fixture exercises exemplars');
  assert.ok(expected.endsWith('\n# EOF\n'));
});

test('an empty collection still lists every family', async () => {
  assert.equal(formatExposition([], false), await viaPromClient([], PROMETHEUS_CONTENT_TYPE));
  assert.equal(formatExposition([], true), await viaPromClient([], OPENMETRICS_CONTENT_TYPE));
});
