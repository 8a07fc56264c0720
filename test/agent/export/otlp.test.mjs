// With OTLP asked for and no SDK registered, loopwatch starts @opentelemetry/sdk-node,
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
      OTEL_TRACES_EXPORTER: 'none',
      OTEL_LOGS_EXPORTER: 'none',
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
});
