// The OTel Collector cannot run here; check its config up to the file
// format: every pipeline component is defined, memory_limiter comes first,
// the Prometheus exporter speaks OpenMetrics, logs go to Loki over OTLP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { ROOT } from './helpers/tools.mjs';

const cfg = YAML.parse(readFileSync(join(ROOT, 'collector/otelcol/config.yaml'), 'utf8'));

test('every pipeline references defined components, memory_limiter first', () => {
  for (const [name, p] of Object.entries(cfg.service.pipelines)) {
    for (const r of p.receivers) assert.ok(r in cfg.receivers, `${name}: receiver ${r}`);
    for (const x of p.processors ?? []) assert.ok(x in cfg.processors, `${name}: processor ${x}`);
    for (const e of p.exporters) assert.ok(e in cfg.exporters, `${name}: exporter ${e}`);
    assert.equal(p.processors[0], 'memory_limiter', `${name}: memory_limiter must be first`);
  }
  // Every defined component is used (a typo would otherwise go unnoticed).
  const used = Object.values(cfg.service.pipelines).flatMap((p) => [...p.receivers, ...(p.processors ?? []), ...p.exporters]);
  for (const c of [...Object.keys(cfg.receivers), ...Object.keys(cfg.processors), ...Object.keys(cfg.exporters)]) {
    assert.ok(used.includes(c), `${c} defined but unused`);
  }
});

test('OTLP in on 4317/4318; metrics out via the Prometheus exporter with OpenMetrics', () => {
  assert.equal(cfg.receivers.otlp.protocols.grpc.endpoint, '0.0.0.0:4317');
  assert.equal(cfg.receivers.otlp.protocols.http.endpoint, '0.0.0.0:4318');
  assert.deepEqual(cfg.service.pipelines.metrics.exporters, ['prometheus']);
  assert.equal(cfg.exporters.prometheus.enable_open_metrics, true);
  const prom = YAML.parse(readFileSync(join(ROOT, 'collector/prometheus/prometheus.yml'), 'utf8'));
  const port = cfg.exporters.prometheus.endpoint.split(':').pop();
  const job = prom.scrape_configs.find((j) => j.static_configs[0].targets.includes(`otelcol:${port}`));
  assert.ok(job, `Prometheus does not scrape otelcol:${port}`);
  assert.equal(job.honor_labels, true);
});

test('logs go to Loki over OTLP/HTTP (otlp_http/loki -> /otlp)', () => {
  assert.deepEqual(cfg.service.pipelines.logs.exporters, ['otlp_http/loki']);
  assert.match(cfg.exporters['otlp_http/loki'].endpoint, /^http:\/\/loki:3100\/otlp$/);
});
