// The OTEL_* variables loopwatch acts on: each bad one is one line (variable, value, what is accepted, what is
// done instead), never one per signal, and what the line says is what the export then does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readOtelEnv } from '../../../agent/dist/export/otel-env.js';
import { fixture, runChild } from '../helpers/child.mjs';

const read = (env) => {
  const lines = [];
  return { settings: readOtelEnv(env, (l) => lines.push(l)), lines };
};

test('valid or unset variables: no line, the spec defaults', () => {
  const { settings, lines } = read({});
  assert.deepEqual(lines, []);
  assert.deepEqual(settings.metrics, { enabled: true, protocol: 'http/protobuf', url: undefined, timeoutMs: 10_000 });
  assert.equal(settings.intervalMs, 60_000);
  assert.equal(settings.exportTimeoutMs, 30_000);
  const ok = read({
    OTEL_EXPORTER_OTLP_ENDPOINT: 'https://collector:4318/',
    OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: 'http://logs:4318/custom',
    OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/json',
    OTEL_EXPORTER_OTLP_HEADERS: 'api-key=abc, x-tenant=7',
    OTEL_EXPORTER_OTLP_TIMEOUT: '2500',
    OTEL_METRIC_EXPORT_INTERVAL: '15000',
    OTEL_METRICS_EXPORTER: 'otlp,prometheus',
    OTEL_LOGS_EXPORTER: 'none',
    OTEL_RESOURCE_ATTRIBUTES: 'service.namespace=shop, k8s.pod.name=api%2C1',
  });
  assert.deepEqual(ok.lines, []);
  assert.deepEqual(ok.settings.metrics, { enabled: true, protocol: 'http/json', url: 'https://collector:4318/v1/metrics', timeoutMs: 2500 });
  assert.deepEqual(ok.settings.logs, { enabled: false, protocol: 'http/protobuf', url: 'http://logs:4318/custom', timeoutMs: 2500 });
  assert.equal(ok.settings.intervalMs, 15_000);
});

test('each bad variable is exactly one line in the LOOPWATCH_* format, and the fallback it names is used', () => {
  const cases = [
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'not-a-url' }, 'OTEL_EXPORTER_OTLP_ENDPOINT="not-a-url" is not valid (accepted: an http:// or https:// URL); not exporting metrics and logs over OTLP', (s) => !s.metrics.enabled && !s.logs.enabled],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'x', OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://m', OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: 'http://l' }, 'OTEL_EXPORTER_OTLP_ENDPOINT="x" is not valid (accepted: an http:// or https:// URL); ignoring it (both signals have an endpoint of their own)', (s) => s.metrics.enabled && s.logs.enabled],
    [{ OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'ftp://x' }, 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT="ftp://x" is not valid (accepted: an http:// or https:// URL); not exporting metrics over OTLP', (s) => !s.metrics.enabled && s.logs.enabled],
    [{ OTEL_METRIC_EXPORT_INTERVAL: 'soon' }, 'OTEL_METRIC_EXPORT_INTERVAL="soon" is not valid (accepted: a number of milliseconds above 0); using 60000', (s) => s.intervalMs === 60_000],
    [{ OTEL_METRIC_EXPORT_TIMEOUT: '-1' }, 'OTEL_METRIC_EXPORT_TIMEOUT="-1" is not valid (accepted: a number of milliseconds above 0); using 30000', (s) => s.exportTimeoutMs === 30_000],
    [{ OTEL_EXPORTER_OTLP_PROTOCOL: 'carrier-pigeon' }, 'OTEL_EXPORTER_OTLP_PROTOCOL="carrier-pigeon" is not valid (accepted: http/protobuf, http/json, grpc); using http/protobuf', (s) => s.metrics.protocol === 'http/protobuf' && s.logs.protocol === 'http/protobuf'],
    [{ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: 'smoke' }, 'OTEL_EXPORTER_OTLP_LOGS_PROTOCOL="smoke" is not valid (accepted: http/protobuf, http/json, grpc); using grpc', (s) => s.logs.protocol === 'grpc' && s.metrics.protocol === 'grpc'],
    [{ OTEL_EXPORTER_OTLP_TIMEOUT: 'soon' }, 'OTEL_EXPORTER_OTLP_TIMEOUT="soon" is not valid (accepted: a number of milliseconds above 0); using 10000', (s) => s.metrics.timeoutMs === 10_000 && s.logs.timeoutMs === 10_000],
    [{ OTEL_EXPORTER_OTLP_HEADERS: 'api-key' }, 'OTEL_EXPORTER_OTLP_HEADERS="api-key" is not valid (accepted: a comma-separated list of key=value); sending only its key=value entries', () => true],
    [{ OTEL_EXPORTER_OTLP_COMPRESSION: 'zip' }, 'OTEL_EXPORTER_OTLP_COMPRESSION="zip" is not valid (accepted: none, gzip); using none', () => true],
    [{ OTEL_METRICS_EXPORTER: 'otel' }, 'OTEL_METRICS_EXPORTER="otel" is not valid (accepted: a comma-separated list of otlp, prometheus, console, none); loopwatch does not export metrics over OTLP', (s) => !s.metrics.enabled && s.logs.enabled],
    [{ OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod,team' }, 'OTEL_RESOURCE_ATTRIBUTES="deployment.environment=prod,team" is not valid (accepted: a comma-separated list of key=value, with "," and "=" in them percent-encoded); ignoring all of it', () => true],
    [{ OTEL_RESOURCE_ATTRIBUTES: 'a=%E0%A4%A' }, 'OTEL_RESOURCE_ATTRIBUTES="a=%E0%A4%A" is not valid (accepted: a comma-separated list of key=value, with "," and "=" in them percent-encoded); ignoring all of it', () => true],
    [{ OTEL_LOGS_EXPORTER: 'otlp,carrier' }, 'OTEL_LOGS_EXPORTER="otlp,carrier" is not valid (accepted: a comma-separated list of otlp, prometheus, console, none); ignoring the others', (s) => s.logs.enabled],
  ];
  for (const [env, line, check] of cases) {
    const { settings, lines } = read(env);
    assert.deepEqual(lines, [line], JSON.stringify(env));
    assert.ok(check(settings), `${JSON.stringify(env)} → ${JSON.stringify(settings)}`);
  }
  // Two mistakes, two lines.
  assert.equal(read({ OTEL_EXPORTER_OTLP_ENDPOINT: 'not-a-url', OTEL_METRIC_EXPORT_INTERVAL: 'soon' }).lines.length, 2);
});

test('a real app: a bad generic endpoint and a bad timeout are one line each; metrics still go to their own endpoint', async (t) => {
  const paths = [];
  const collector = createServer((req, res) => {
    paths.push(req.url);
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end());
  });
  await new Promise((r) => collector.listen(0, '127.0.0.1', r));
  t.after(() => collector.close());
  const app = runChild(fixture('otlp-app.cjs'), {
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: 'not-a-url',
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `http://127.0.0.1:${collector.address().port}/custom/metrics`,
      OTEL_EXPORTER_OTLP_TIMEOUT: 'soon',
      OTEL_METRIC_EXPORT_INTERVAL: '300',
    },
  });
  t.after(() => app.kill());
  await app.waitFor(() => paths.length >= 2, { what: 'metrics exports' });
  assert.deepEqual(app.stderr.split('\n').filter(Boolean), [
    '[loopwatch] OTEL_EXPORTER_OTLP_ENDPOINT="not-a-url" is not valid (accepted: an http:// or https:// URL); not exporting logs over OTLP',
    '[loopwatch] OTEL_EXPORTER_OTLP_TIMEOUT="soon" is not valid (accepted: a number of milliseconds above 0); using 10000',
  ]);
  assert.deepEqual([...new Set(paths)], ['/custom/metrics']);
});
