import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const h = require('../../../agent/dist/metrics/histogram.js');

test('bucketIndex follows Prometheus le semantics (upper bound inclusive)', () => {
  const b = [0.1, 0.5, 1];
  assert.equal(h.bucketIndex(b, 0.05), 0);
  assert.equal(h.bucketIndex(b, 0.1), 0);
  assert.equal(h.bucketIndex(b, 0.11), 1);
  assert.equal(h.bucketIndex(b, 5), 3);
});

test('window percentiles are within the fine histogram precision (±5 %)', () => {
  const fine = new Float64Array(h.FINE_BUCKETS);
  let sum = 0;
  let sumSq = 0;
  const values = Array.from({ length: 10_000 }, (_, i) => (i + 1) / 10_000); // uniform 0.0001…1 s
  for (const v of values) {
    fine[h.fineIndex(v)]++;
    sum += v;
    sumSq += v * v;
  }
  const s = h.windowStats(fine, sum, sumSq);
  assert.equal(s.count, 10_000);
  for (const [got, want] of [[s.p50, 0.5], [s.p90, 0.9], [s.p99, 0.99], [s.max, 1], [s.min, 0.0001]]) {
    assert.ok(Math.abs(got - want) / want < 0.05, `${got} vs ${want}`);
  }
  assert.ok(Math.abs(s.mean - 0.50005) < 1e-9);
  assert.ok(Math.abs(s.stddev - Math.sqrt(1 / 12)) < 0.001);
});

test('an empty window has no statistics', () => {
  assert.equal(h.windowStats(new Float64Array(h.FINE_BUCKETS), 0, 0), undefined);
});
