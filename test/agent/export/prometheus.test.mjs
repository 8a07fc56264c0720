import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { fixture, parseMetrics, runChild, sample } from '../helpers/child.mjs';

const require = createRequire(import.meta.url);
const client = require('prom-client');
const loopwatch = require('loopwatch');

/** Prometheus' histogram_quantile over cumulative buckets [{le, value}]. */
function histogramQuantile(q, buckets) {
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  const total = sorted.at(-1).value;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of sorted) {
    if (b.value >= rank) {
      if (b.le === Infinity) return prevLe;
      return prevLe + ((b.le - prevLe) * (rank - prevCount)) / (b.value - prevCount);
    }
    prevLe = b.le;
    prevCount = b.value;
  }
  return NaN;
}
const buckets = (metrics, name) =>
  metrics.filter((s) => s.name === `${name}_bucket` && s.labels.thread_name === 'main').map((s) => ({ le: s.labels.le === '+Inf' ? Infinity : Number(s.labels.le), value: s.value }));

test('the delay histogram of two processes aggregates like Prometheus sum by (le)', async (t) => {
  const blocked = runChild(fixture('block.cjs'), { args: ['1000', '100'] });
  const idle = runChild(fixture('block.cjs'), { args: ['0', '100'] });
  t.after(() => { blocked.kill(); idle.kill(); });
  const [a, b] = await Promise.all([blocked.message('ready'), idle.message('ready')]);
  // Wait for the 1 s block's own stall (a loaded machine may add a short one at start-up).
  await blocked.waitFor(() => blocked.messages.find((m) => m.type === 'stall' && m.durationMs > 900), { what: 'the 1 s stall' });
  const [ma, mb] = await Promise.all([a, b].map(async (r) => parseMetrics(await (await fetch(r.prometheusUrl)).text())));
  const name = 'loopwatch_eventloop_delay_seconds';
  const ba = buckets(ma, name);
  const bb = buckets(mb, name);
  assert.deepEqual(ba.map((x) => x.le), bb.map((x) => x.le), 'identical bucket layout in every process');
  const merged = ba.map((x, i) => ({ le: x.le, value: x.value + bb[i].value }));
  const countA = sample(ma, `${name}_count`, { thread_name: 'main' }).value;
  const countB = sample(mb, `${name}_count`, { thread_name: 'main' }).value;
  assert.equal(merged.at(-1).value, countA + countB, JSON.stringify({ ba, bb, countA, countB }));
  // The 1 s block weighs as ~90 samples above 100 ms (one per missed 10 ms beat) …
  const over100ms = (bs) => bs.at(-1).value - bs.find((x) => x.le === 0.1).value;
  assert.ok(over100ms(ba) >= 85, `samples over 100 ms: ${over100ms(ba)}`);
  // … so the merged distribution puts exactly that share of the fleet's samples above 100 ms.
  const share = over100ms(merged) / merged.at(-1).value;
  const q = 1 - share / 2; // a quantile inside the stalled tail
  const v = histogramQuantile(q, merged);
  assert.ok(v > 0.1 && v <= 1, `merged p${(q * 100).toFixed(1)} = ${v}`);
  assert.ok(histogramQuantile(0.5, merged) < 0.01, 'the fleet median is not affected by one stalled process');
});

test('registers into an application prom-client registry, in text and OpenMetrics, and unregisters on stop', async () => {
  const registry = new client.Registry();
  const om = new client.Registry(client.Registry.OPENMETRICS_CONTENT_TYPE);
  const agent = loopwatch.start({ prometheus: { registry } });
  assert.equal(agent.enabled, true);
  const { prometheusUrl } = await agent.ready();
  assert.equal(prometheusUrl, undefined, 'no second endpoint when the app serves the metrics');
  const end = Date.now() + 150;
  while (Date.now() < end);
  await new Promise((r) => setTimeout(r, 50));
  const text = await registry.metrics();
  const m = parseMetrics(text);
  // At least our block (a loaded test machine can add a short stall of its own).
  assert.ok(sample(m, 'loopwatch_eventloop_stall_duration_seconds_count', { thread_name: 'main' }).value >= 1);
  assert.ok(sample(m, 'loopwatch_eventloop_stall_seconds_total', { thread_name: 'main' }).value >= 0.14);
  assert.match(text, /# TYPE loopwatch_eventloop_stall_seconds_total counter/);
  assert.equal(loopwatch.start(), agent, 'start() twice returns the same agent');
  await agent.stop();
  assert.equal(agent.enabled, false);
  assert.doesNotMatch(await registry.metrics(), /loopwatch_/);

  // OpenMetrics: counter families lose _total in TYPE, samples keep it, and the body ends with # EOF.
  const again = loopwatch.start({ prometheus: { registry: om } });
  assert.notEqual(again, agent);
  const body = await om.metrics();
  assert.match(body, /# TYPE loopwatch_eventloop_stall_seconds counter\n/);
  assert.match(body, /\nloopwatch_eventloop_stall_seconds_total\{thread_name="main"\} /);
  assert.match(body, /# EOF\n$/);
  await again.stop();
});

test('the agent endpoint negotiates OpenMetrics', async (t) => {
  const app = runChild(fixture('block.cjs'), { args: ['0', '100'] });
  t.after(() => app.kill());
  const { prometheusUrl } = await app.message('ready');
  const om = await fetch(prometheusUrl, { headers: { accept: 'application/openmetrics-text; version=1.0.0' } });
  assert.match(om.headers.get('content-type'), /application\/openmetrics-text/);
  assert.match(await om.text(), /# EOF\n$/);
  const text = await fetch(prometheusUrl);
  assert.match(text.headers.get('content-type'), /text\/plain; version=0.0.4/);
  assert.equal((await fetch(prometheusUrl.replace('/metrics', '/other'))).status, 404);
});

test("cluster mode: prom-client's AggregatorRegistry adds counters up, but not utilization or delay statistics", async () => {
  const registry = new client.Registry();
  const agent = loopwatch.start({ prometheus: { registry } });
  try {
    const end = Date.now() + 150;
    while (Date.now() < end);
    await new Promise((r) => setTimeout(r, 50));
    // Two worker processes reporting the same values (both thread_name="main").
    const one = await registry.getMetricsAsJSON();
    const merged = parseMetrics(await client.AggregatorRegistry.aggregate([one, one]).metrics());
    const single = parseMetrics(await client.AggregatorRegistry.aggregate([one]).metrics());
    const value = (m, name) => sample(m, name, { thread_name: 'main' })?.value;
    for (const name of ['nodejs_eventloop_utilization_ratio', 'nodejs_eventloop_delay_p99_seconds', 'nodejs_eventloop_delay_min_seconds', 'nodejs_eventloop_delay_max_seconds']) {
      assert.equal(value(merged, name), value(single, name), name);
    }
    assert.ok(value(single, 'loopwatch_eventloop_stall_seconds_total') > 0);
    assert.equal(value(merged, 'loopwatch_eventloop_stall_seconds_total'), 2 * value(single, 'loopwatch_eventloop_stall_seconds_total'));
  } finally {
    await agent.stop();
  }
});
