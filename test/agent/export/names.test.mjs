// One schema for both pipelines: what the OpenTelemetry SDK exports, passed
// through the OpenTelemetry Collector's Prometheus naming rules, must be
// exactly what loopwatch's own Prometheus endpoint serves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fixture, runChild } from '../helpers/child.mjs';

const require = createRequire(import.meta.url);
const { metricNames, prometheusName } = require('loopwatch');

// An independent transcription of otlptranslator's UnderscoreEscapingWithSuffixes
// (the Collector's Prometheus exporter default), written from its rules, not from loopwatch's code.
const UNIT = { s: 'seconds', ms: 'milliseconds', By: 'bytes', 1: '' };
function collectorName({ name, unit, dataPointType, isMonotonic }) {
  let out = name.replace(/[^a-zA-Z0-9_:]/g, '_');
  const type = dataPointType; // 0 HISTOGRAM, 1 EXPONENTIAL_HISTOGRAM, 2 GAUGE, 3 SUM
  const unitWord = unit === '1' ? (type === 2 ? 'ratio' : '') : unit.startsWith('{') ? '' : (UNIT[unit] ?? unit);
  if (unitWord && !out.split('_').includes(unitWord)) out += `_${unitWord}`;
  if (type === 3 && isMonotonic) out += '_total';
  return out;
}

test('OTel names through the Collector equal the Prometheus endpoint names', async (t) => {
  const app = runChild(fixture('otel-sdk.cjs'), { args: ['before'], execArgv: ['--expose-gc'] });
  t.after(() => app.kill());
  const { otel, prometheus } = await app.message('result');
  const fromOtel = new Set(otel.map(collectorName));
  // Families with at least one sample on the endpoint. The OTel SDK exports a histogram only once it has a
  // recording, so histograms that never observed anything (e.g. a pool's use time) are left out of the comparison.
  const families = new Set();
  const emptyHistograms = new Set();
  for (const line of prometheus.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const family = line.split(/[{ ]/)[0].replace(/_(bucket|sum|count)$/, '');
    families.add(family);
    if (/_count[{ ]/.test(line) && Number(line.split(' ').at(-1)) === 0) emptyHistograms.add(family);
  }
  for (const line of prometheus.split('\n')) {
    if (/_count[{ ]/.test(line) && Number(line.split(' ').at(-1)) > 0) emptyHistograms.delete(line.split(/[{ ]/)[0].replace(/_count$/, ''));
  }
  const all = new Set(families);
  for (const f of emptyHistograms) families.delete(f);
  assert.ok(fromOtel.size >= 12, `too few OTel metrics: ${[...fromOtel]}`);
  // Every family with a sample on the endpoint is exported over OTel (collected after the scrape), and OTel exports
  // nothing the endpoint does not serve (a histogram may have had its first observation between the two reads).
  assert.deepEqual([...families].filter((f) => !fromOtel.has(f)), [], 'on the endpoint, missing over OTel');
  assert.deepEqual([...fromOtel].filter((f) => !all.has(f)), [], 'over OTel, not on the endpoint');
});

test('every metric definition is named per the Collector rules and documented', () => {
  for (const m of metricNames.METRICS) {
    const type = m.kind === 'histogram' ? 0 : m.kind === 'gauge' ? 2 : 3;
    assert.equal(prometheusName(m.name, m.unit, m.kind), collectorName({ name: m.name, unit: m.unit, dataPointType: type, isMonotonic: true }), m.name);
  }
  // docs/metrics.md is generated from the same table; it must not be stale.
  execFileSync(process.execPath, [new URL('../../../scripts/metrics-doc.mjs', import.meta.url).pathname, '--check'], { stdio: 'pipe' });
});

test('metric names are exported as constants', () => {
  assert.equal(metricNames.LOOPWATCH_STALL_DURATION, 'loopwatch.eventloop.stall.duration');
  assert.equal(metricNames.EVENTLOOP_DELAY_P99, 'nodejs.eventloop.delay.p99');
  const names = metricNames.METRICS.map((m) => m.name);
  assert.equal(new Set(names).size, names.length, 'duplicate metric names');
});
