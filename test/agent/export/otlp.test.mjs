// With OTLP asked for and no SDK registered, loopwatch exports through a MeterProvider of its own,
// which honours the standard OTEL_* variables. A local HTTP server plays the Collector.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { fixture, runChild } from '../helpers/child.mjs';

test('OTEL_EXPORTER_OTLP_ENDPOINT without an SDK: loopwatch exports over OTLP with the OTEL_* settings', async (t) => {
  const posts = [];
  const collector = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      posts.push({ url: req.url, type: req.headers['content-type'], body });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise((r) => collector.listen(0, '127.0.0.1', r));
  t.after(() => collector.close());
  const app = runChild(fixture('otlp-app.cjs'), {
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${collector.address().port}`,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_METRIC_EXPORT_INTERVAL: '500',
      OTEL_SERVICE_NAME: 'checkout-api',
    },
  });
  t.after(() => app.kill());
  const withStall = await app.waitFor(
    () => posts.find((p) => p.url === '/v1/metrics' && p.body.includes('loopwatch.eventloop.stall.duration') && /"count":"?1"?/.test(p.body)),
    { what: 'an OTLP export carrying the stall' },
  );
  assert.match(withStall.type, /application\/json/);
  const payload = JSON.parse(withStall.body);
  const rm = payload.resourceMetrics[0];
  const serviceName = rm.resource.attributes.find((a) => a.key === 'service.name').value.stringValue;
  assert.equal(serviceName, 'checkout-api');
  const names = rm.scopeMetrics.filter((s) => s.scope.name === 'loopwatch').flatMap((s) => s.metrics.map((m) => m.name));
  for (const n of ['nodejs.eventloop.delay.p99', 'nodejs.eventloop.utilization', 'loopwatch.eventloop.delay', 'loopwatch.eventloop.stall.in_progress']) {
    assert.ok(names.includes(n), `${n} missing from ${names}`);
  }
  // The stall's log record goes out too (the app registered no LoggerProvider), with the same resource.
  // The ended record (on a loaded machine the watchdog may also report a long start-up block in progress).
  const log = await app.waitFor(() => posts.find((p) => p.url === '/v1/logs' && p.body.includes('loopwatch.stall') && p.body.includes('"ended"')), { what: 'the stall log record' });
  const rl = JSON.parse(log.body).resourceLogs[0];
  assert.equal(rl.resource.attributes.find((a) => a.key === 'service.name').value.stringValue, 'checkout-api');
  const record = rl.scopeLogs.flatMap((s) => s.logRecords).find((r) => r.eventName === 'loopwatch.stall' && r.attributes.some((a) => a.key === 'loopwatch.stall.state' && a.value.stringValue === 'ended'));
  assert.ok(record, log.body);
  assert.ok(record.attributes.some((a) => a.key === 'code.function.name'), 'the blocking frame is named');
});

test("OTLP from loopwatch leaves the global providers to the app's own SDK started after it", async (t) => {
  const posts = [];
  const collector = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      posts.push({ url: req.url, body });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise((r) => collector.listen(0, '127.0.0.1', r));
  t.after(() => collector.close());
  const app = runChild(fixture('otlp-app-own-sdk.cjs'), {
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${collector.address().port}`,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_METRIC_EXPORT_INTERVAL: '500',
      OTEL_TRACES_EXPORTER: 'none',
      OTEL_METRICS_EXPORTER: 'otlp',
      OTEL_LOGS_EXPORTER: 'none',
    },
  });
  t.after(() => app.kill());
  const r = await app.message('app-sdk');
  // loopwatch used to start NodeSDK itself: the app's registrations were all refused, its spans went nowhere.
  assert.deepEqual(r.refused.filter((m) => /duplicate registration/i.test(m)), []);
  assert.deepEqual(r.appSpans, ['checkout']);
  // loopwatch's metrics still go out, once, under the loopwatch scope.
  const withStall = await app.waitFor(
    () => posts.find((p) => p.url === '/v1/metrics' && p.body.includes('loopwatch.eventloop.stall.duration') && /"count":"?1"?/.test(p.body)),
    { what: 'an OTLP export carrying the stall' },
  );
  const scopes = JSON.parse(withStall.body).resourceMetrics.flatMap((rm) => rm.scopeMetrics.map((s) => s.scope.name));
  assert.equal(scopes.filter((s) => s === 'loopwatch').length, 1);
});

test('OTLP protocol: http/protobuf by default, as the OTel spec says; an unknown one is one line, and the default is used', async (t) => {
  const types = [];
  const collector = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url === '/v1/metrics') types.push(req.headers['content-type']);
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise((r) => collector.listen(0, '127.0.0.1', r));
  t.after(() => collector.close());
  const env = { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${collector.address().port}`, OTEL_METRIC_EXPORT_INTERVAL: '300' };
  const app = runChild(fixture('otlp-app.cjs'), { env });
  t.after(() => app.kill());
  await app.waitFor(() => types.length > 0, { what: 'an OTLP export' });
  assert.equal(types[0], 'application/x-protobuf');
  app.kill();
  await app.exited;
  const before = types.length;
  const bad = runChild(fixture('otlp-app.cjs'), { env: { ...env, OTEL_EXPORTER_OTLP_PROTOCOL: 'carrier-pigeon' } });
  t.after(() => bad.kill());
  // One mistake, one line — it used to be two, one per signal (metrics and logs) — and the export goes on.
  await bad.waitFor(() => types.length > before + 1, { what: 'an OTLP export despite the bad protocol' });
  assert.equal(types.at(-1), 'application/x-protobuf');
  const lines = bad.stderr.split('\n').filter((l) => l.includes('carrier-pigeon'));
  assert.deepEqual(lines, ['[loopwatch] OTEL_EXPORTER_OTLP_PROTOCOL="carrier-pigeon" is not valid (accepted: http/protobuf, http/json, grpc); using http/protobuf']);
  assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
});
