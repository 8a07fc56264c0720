// An app's MeterProvider only takes record(): loopwatch replays new bucket counts as values chosen to add up to the
// true sum. Read back through a real SDK reader: counts, buckets and sums are the ones given.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MeterProvider, MetricReader, AggregationTemporality } from '@opentelemetry/sdk-metrics';
import { HistogramReplay, feasibleValues } from '../../../agent/dist/export/otel-replay.js';
import { STALL_BUCKETS } from '../../../agent/dist/metrics/names.js';
import { bucketIndex } from '../../../agent/dist/metrics/histogram.js';

class Reader extends MetricReader {
  constructor() { super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE }); }
  async onForceFlush() {}
  async onShutdown() {}
}

test('replayed into an SDK histogram: exact counts and buckets, the true sum (a 5-minute stall is 300 s, not 90)', async () => {
  const reader = new Reader();
  const provider = new MeterProvider({ readers: [reader] });
  const h = provider.getMeter('t').createHistogram('stall', { advice: { explicitBucketBoundaries: [...STALL_BUCKETS] } });
  const replay = new HistogramReplay();
  const counts = new Float64Array(STALL_BUCKETS.length + 1);
  let sum = 0;
  const observe = (v) => { counts[bucketIndex(STALL_BUCKETS, v)]++; sum += v; };
  const check = async () => {
    replay.replay('stall', STALL_BUCKETS, { attributes: { t: 'main' }, counts, sum }, h);
    replay.endCollection();
    const { resourceMetrics } = await reader.collect();
    const p = resourceMetrics.scopeMetrics[0].metrics[0].dataPoints[0].value;
    assert.deepEqual(p.buckets.counts, Array.from(counts));
    assert.equal(p.count, counts.reduce((a, b) => a + b, 0));
    assert.ok(Math.abs(p.sum - sum) <= 1e-9 * sum, `sum ${p.sum} vs ${sum}`);
  };
  observe(300); // one 5-minute stall: the +Inf bucket alone (midpoints made it 1.5 × 60 = 90 s)
  await check();
  for (const v of [0.051, 0.07, 0.12, 0.45, 0.5, 1.9, 7, 29.5, 61]) observe(v);
  await check();
  observe(0.2); // on a boundary: inclusive upper bound, as Prometheus' le
  observe(0.0501);
  await check();
  await check(); // nothing new: nothing recorded, still exact
});

test('feasibleValues: each value inside its bucket, weighted total = the sum', () => {
  const b = [1, 2, 5];
  for (const [delta, sum] of [[[2, 0, 1, 0], 4.5], [[0, 3, 0, 2], 3.3 + 20], [[1, 1, 1, 1], 0.5 + 1.5 + 4 + 100], [[0, 0, 0, 1], 5.0001]]) {
    const v = feasibleValues(b, delta, sum);
    let total = 0;
    delta.forEach((n, i) => {
      if (!n) return;
      assert.equal(bucketIndex(b, v[i]), i, `value ${v[i]} of bucket ${i}`);
      total += n * v[i];
    });
    assert.ok(Math.abs(total - sum) < 1e-9, `${total} vs ${sum}`);
  }
});
