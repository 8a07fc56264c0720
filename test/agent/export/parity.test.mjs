// The same numbers on both paths: one process, its watchdog's /metrics scraped and its first OTLP/HTTP protobuf
// export decoded at the same moment (see fixtures/parity-app.cjs), compared family by family, series by series,
// value by value. The family list is METRICS itself, not a copy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { runChild } from '../helpers/child.mjs';
import { decodeMetricsRequest } from '../helpers/otlp-proto.mjs';
import { METRICS, LOOPWATCH_GRAPHQL_OPERATIONS_FOLDED, LOOPWATCH_ROUTES_FOLDED, LOOPWATCH_STALL_REPORTS_SUPPRESSED } from "../../../agent/dist/metrics/names.js";
import { prometheusLabel, prometheusName } from '../../../agent/dist/metrics/prometheus-name.js';

const names = await import('../../../agent/dist/metrics/names.js');

/** Windowed per reader (each covers the time since *its* reader's previous read), so the two reads differ by design. */
const WINDOWED = [
  names.EVENTLOOP_DELAY_MIN, names.EVENTLOOP_DELAY_MAX, names.EVENTLOOP_DELAY_MEAN, names.EVENTLOOP_DELAY_STDDEV,
  names.EVENTLOOP_DELAY_P50, names.EVENTLOOP_DELAY_P90, names.EVENTLOOP_DELAY_P99, names.EVENTLOOP_UTILIZATION,
];
/** The watchdog thread's CPU time: the scrape itself spends it (and refreshes it before collecting), after the OTLP read. */
const MOVING = [names.LOOPWATCH_AGENT_CPU_TIME];

function unescape(v) {
  return v.replace(/\\(["\\n])/g, (_, c) => (c === 'n' ? '\n' : c));
}
/** Prometheus text → Map(family → Map(seriesKey → { value } | { buckets: [[le, cumulative]], sum, count })). */
function fromPrometheus(text) {
  const byName = new Map();
  for (const def of METRICS) byName.set(prometheusName(def.name, def.unit, def.kind), def);
  const out = new Map(METRICS.map((d) => [d.name, new Map()]));
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/);
    assert.ok(m, `unparsed line: ${line}`);
    const labels = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k] = unescape(v);
    const value = Number(m[3]);
    let def = byName.get(m[1]);
    if (def) {
      out.get(def.name).set(key(labels), { value });
      continue;
    }
    const h = m[1].match(/^(.*)_(bucket|sum|count)$/);
    def = h && byName.get(h[1]);
    assert.ok(def?.kind === 'histogram', `sample of no loopwatch family: ${line}`);
    const { le, ...rest } = labels;
    const series = out.get(def.name);
    const k = key(rest);
    if (!series.has(k)) series.set(k, { buckets: [] });
    const s = series.get(k);
    if (h[2] === 'bucket') s.buckets.push([le === '+Inf' ? Infinity : Number(le), value]);
    else s[h[2]] = value;
  }
  return out;
}
/** Decoded OTLP request → the same shape, labels named as on /metrics, buckets made cumulative. */
function fromOtlp(request) {
  const out = new Map();
  const metrics = request.flatMap((rm) => rm.scopeMetrics).filter((s) => s.scope.name === 'loopwatch').flatMap((s) => s.metrics);
  for (const m of metrics) {
    assert.ok(!out.has(m.name), `${m.name} exported twice`);
    const series = new Map();
    for (const p of m.points) {
      const labels = Object.fromEntries(Object.entries(p.attributes).map(([k, v]) => [prometheusLabel(k), String(v)]));
      if (m.type !== 'histogram') {
        series.set(key(labels), { value: p.value });
        continue;
      }
      let cumulative = 0;
      const bounds = [...p.explicitBounds, Infinity];
      series.set(key(labels), { buckets: p.bucketCounts.map((c, i) => [bounds[i], (cumulative += c)]), sum: p.sum, count: p.count });
    }
    out.set(m.name, { type: m.type, unit: m.unit, series });
  }
  return out;
}
const key = (labels) => JSON.stringify(Object.keys(labels).sort().map((k) => [k, labels[k]]));

test('every family, series and value: /metrics and a real OTLP export of the same process at the same moment', async (t) => {
  const posts = [];
  const collector = createServer((req, res) => {
    const chunks = [];
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => {
      posts.push({ url: req.url, body: Buffer.concat(chunks) });
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise((r) => collector.listen(0, '127.0.0.1', r));
  t.after(() => collector.close());
  const app = runChild(fileURLToPath(new URL('./fixtures/parity-app.cjs', import.meta.url)), {
    execArgv: ['--expose-gc'],
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${collector.address().port}`,
      OTEL_METRIC_EXPORT_INTERVAL: '6000',
      OTEL_SERVICE_NAME: 'parity',
      LOOPWATCH_STALL_THRESHOLD_MS: '500',
      // The stall's request is tracked on every Node (on Node 22 it is not by default): it names its operation.
      LOOPWATCH_REQUEST_CONTEXT: 'on',
      PGHOST: process.env.PGHOST ?? '127.0.0.1',
      PGDATABASE: process.env.PGDATABASE ?? 'test',
      PGUSER: process.env.PGUSER ?? 'postgres',
    },
  });
  t.after(() => app.kill());
  const ready = await app.message('ready');
  assert.ok(ready.url);
  const scrape = await app.message('scrape');
  const first = await app.waitFor(() => posts.find((p) => p.url === '/v1/metrics'), { what: 'the first OTLP export' });
  assert.doesNotMatch(scrape.text, /^(scrape failed|scrape timed out|not ready)/, scrape.text);
  const prom = fromPrometheus(scrape.text);
  const otlp = fromOtlp(decodeMetricsRequest(first.body));

  // Counters of what the agent held back (created at the first fold or suppressed report, as nothing happened until
  // then): this fixture causes none, so both paths must agree that they are absent.
  const atFirstOccurrence = new Set([LOOPWATCH_ROUTES_FOLDED, LOOPWATCH_GRAPHQL_OPERATIONS_FOLDED, LOOPWATCH_STALL_REPORTS_SUPPRESSED]);
  for (const def of METRICS) {
    const p = prom.get(def.name);
    const o = otlp.get(def.name);
    if (atFirstOccurrence.has(def.name)) {
      assert.equal(p.size, 0, `${def.name}: nothing held back in this fixture, no series on /metrics`);
      assert.ok(!o || o.series.size === 0, `${def.name}: nothing held back, no series over OTLP either`);
      continue;
    }
    // Every family appears on both paths from the first export, with series: the fixture gives each some.
    assert.ok(p.size > 0, `${def.name}: no series on /metrics — the fixture should give it some`);
    assert.ok(o, `${def.name}: missing from the first OTLP export`);
    assert.equal(o.type, def.kind === 'counter' ? 'sum' : def.kind, `${def.name}: OTLP type`);
    assert.equal(o.unit, def.unit, `${def.name}: OTLP unit`);
    assert.deepEqual([...o.series.keys()].sort(), [...p.keys()].sort(), `${def.name}: the same series`);
    if (WINDOWED.includes(def.name) || MOVING.includes(def.name)) continue;
    for (const [k, ps] of p) assert.deepEqual(o.series.get(k), ps, `${def.name} ${k}: the same value`);
  }
  // Checked, not just present: the stall and the pools really are in there.
  const stall = [...prom.get(names.LOOPWATCH_STALL_DURATION).values()].find((s) => s.count === 1);
  assert.ok(stall && stall.sum >= 0.5 && stall.sum < 1.5, JSON.stringify(stall));
  const culpritKeys = [...prom.get(names.LOOPWATCH_STALL_CULPRIT_COUNT).keys()];
  assert.ok(
    culpritKeys.some((k) => k.includes('["graphql_operation_name","Parity"]') && k.includes('["graphql_operation_type","query"]') && k.includes('["http_route","GET /graphql"]')),
    `the stall's operation and route label its culprit series on both paths: ${culpritKeys}`,
  );
  assert.ok([...prom.get(names.POOL_USE_TIME).keys()].some((k) => k.includes('reports')), 'the never-used pool has its (empty) use-time series');
});
