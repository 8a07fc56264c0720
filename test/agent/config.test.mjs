import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { createRequire } from 'node:module';
import { fixture, runChild } from './helpers/child.mjs';

const require = createRequire(import.meta.url);
const { resolveConfig, ConfigError } = require('../../agent/dist/config/config.js');

test('defaults', () => {
  const c = resolveConfig({}, {});
  assert.equal(c.stallThresholdMs, 100);
  assert.equal(c.sampleIntervalMs, 10);
  assert.equal(c.maxSampleIntervalMs, 50, 'adaptive heartbeat up to half the threshold');
  assert.equal(resolveConfig({ stallThresholdMs: 1000 }, {}).maxSampleIntervalMs, 100, 'at most 100 ms');
  assert.equal(resolveConfig({ stallThresholdMs: 75 }, {}).maxSampleIntervalMs, 30, 'a multiple of the resolution');
  assert.equal(resolveConfig({ stallThresholdMs: 20 }, {}).maxSampleIntervalMs, 10);
  assert.equal(resolveConfig({}, { LOOPWATCH_MAX_SAMPLE_INTERVAL_MS: '10' }).maxSampleIntervalMs, 10, 'fixed heartbeat');
  assert.deepEqual({ ...c.prometheus, registry: undefined }, { port: 9464, host: '0.0.0.0', path: '/metrics', registry: undefined });
  assert.equal(c.otel.otlp, false);
  assert.equal(c.log, 'off');
});

test('environment fills what code leaves unset; code wins', () => {
  const env = { LOOPWATCH_STALL_THRESHOLD_MS: '250', LOOPWATCH_PROMETHEUS_PORT: '9999', LOOPWATCH_PROMETHEUS_HOST: '127.0.0.1', LOOPWATCH_LOG: 'stderr', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' };
  const c = resolveConfig({ stallThresholdMs: 50 }, env);
  assert.equal(c.stallThresholdMs, 50);
  assert.equal(c.prometheus.port, 9999);
  assert.equal(c.prometheus.host, '127.0.0.1');
  assert.equal(c.log, 'stderr');
  assert.equal(c.otel.otlp, true);
  assert.equal(resolveConfig({}, { LOOPWATCH_PROMETHEUS_PORT: 'off' }).prometheus, false);
  assert.equal(resolveConfig({ prometheus: false }, {}).prometheus, false);
  assert.equal(resolveConfig({ otel: false }, {}).otel, false);
  assert.equal(resolveConfig({}, { LOOPWATCH_THREADPOOL: 'off' }).threadpool, false);
  assert.deepEqual(resolveConfig({}, {}).threadpool, { probeIntervalMs: 1000, countOperations: false });
  assert.equal(resolveConfig({}, { LOOPWATCH_ATTRIBUTION: 'off' }).attribution, false);
  assert.equal(resolveConfig({ attribution: true }, { LOOPWATCH_ATTRIBUTION: 'off' }).attribution, true);
  // Deep attribution: opt-in, by code or env; implies attribution.
  assert.equal(resolveConfig({}, {}).attributionDeep, false);
  for (const [opts, env] of [[{ attribution: 'deep' }, {}], [{}, { LOOPWATCH_ATTRIBUTION: 'deep' }], [{}, { LOOPWATCH_ATTRIBUTION: 'DEEP' }]]) {
    const c = resolveConfig(opts, env);
    assert.equal(c.attribution, true);
    assert.equal(c.attributionDeep, true);
  }
  assert.equal(resolveConfig({ attribution: true }, { LOOPWATCH_ATTRIBUTION: 'deep' }).attributionDeep, false);
  // The native deadline: on by default, off by env, the option wins.
  assert.equal(resolveConfig({}, {}).native, true);
  assert.equal(resolveConfig({}, { LOOPWATCH_NATIVE: 'off' }).native, false);
  assert.equal(resolveConfig({ native: true }, { LOOPWATCH_NATIVE: 'off' }).native, true);
  assert.equal(resolveConfig({ native: false }, {}).native, false);
  // Request tracking: 'auto' by default; on/off/auto by env; the option wins.
  assert.equal(resolveConfig({}, {}).requestContext, 'auto');
  assert.equal(resolveConfig({}, { LOOPWATCH_REQUEST_CONTEXT: 'on' }).requestContext, true);
  assert.equal(resolveConfig({}, { LOOPWATCH_REQUEST_CONTEXT: 'off' }).requestContext, false);
  assert.equal(resolveConfig({}, { LOOPWATCH_REQUEST_CONTEXT: 'AUTO' }).requestContext, 'auto');
  assert.equal(resolveConfig({ requestContext: false }, { LOOPWATCH_REQUEST_CONTEXT: 'on' }).requestContext, false);
  assert.equal(resolveConfig({}, {}).requestScope, 'connection');
  assert.equal(resolveConfig({}, { LOOPWATCH_REQUEST_SCOPE: 'Request' }).requestScope, 'request');
  assert.equal(resolveConfig({}, { LOOPWATCH_REQUEST_SCOPE: '' }).requestScope, 'connection');
  assert.equal(resolveConfig({ requestScope: 'connection' }, { LOOPWATCH_REQUEST_SCOPE: 'request' }).requestScope, 'connection');
  assert.deepEqual(resolveConfig({}, {}).routePatterns, []);
  assert.deepEqual(resolveConfig({}, { LOOPWATCH_ROUTE_PATTERNS: ' /users/:name , /static/*,' }).routePatterns, ['/users/:name', '/static/*']);
  assert.deepEqual(resolveConfig({ routePatterns: ['/a/:b'] }, { LOOPWATCH_ROUTE_PATTERNS: '/x' }).routePatterns, ['/a/:b']);
  assert.equal(resolveConfig({}, {}).otel.stallPush, 'auto');
  assert.equal(resolveConfig({}, { LOOPWATCH_OTEL_STALL_PUSH: 'off' }).otel.stallPush, false);
  assert.equal(resolveConfig({}, { LOOPWATCH_OTEL_STALL_PUSH: 'ON' }).otel.stallPush, true);
  assert.equal(resolveConfig({ otel: { stallPush: true } }, { LOOPWATCH_OTEL_STALL_PUSH: 'off' }).otel.stallPush, true);
  assert.equal(resolveConfig({ otel: { stallPush: false } }, { LOOPWATCH_OTEL_STALL_PUSH: 'on' }).otel.stallPush, false);
});

test('an app registry replaces the own endpoint unless a port is given', () => {
  const registry = { registerMetric() {}, removeSingleMetric() {}, contentType: 'text/plain; version=0.0.4; charset=utf-8' };
  assert.equal(resolveConfig({ prometheus: { registry } }, {}).prometheus.port, undefined);
  assert.equal(resolveConfig({ prometheus: { registry, port: 0 } }, {}).prometheus.port, 0);
});

const bad = [
  [{ stallThresholdMs: 'abc' }, {}, /stallThresholdMs must be a number from 1 to 600000 \(ms\), got "abc"/],
  [{ stallThresholdMs: -5 }, {}, /stallThresholdMs .* got -5/],
  [{}, { LOOPWATCH_STALL_THRESHOLD_MS: 'soon' }, /LOOPWATCH_STALL_THRESHOLD_MS="soon" is not a number/],
  [{ prometheus: { port: 70000 } }, {}, /prometheus.port must be an integer port from 0 to 65535, got 70000/],
  [{}, { LOOPWATCH_PROMETHEUS_PORT: 'nine' }, /LOOPWATCH_PROMETHEUS_PORT must be an integer port from 0 to 65535 or "off", got "nine"/],
  [{ log: 'loud' }, {}, /log must be one of "stderr", "off", got "loud"/],
  [{}, { LOOPWATCH_LOG: 'stdout' }, /LOOPWATCH_LOG must be one of "stderr", "off", got "stdout"/],
  [{ treshold: 5 }, {}, /unknown option "treshold" \(accepted: serviceName, stallThresholdMs/],
  [{ prometheus: { prot: 1 } }, {}, /unknown option "prometheus.prot"/],
  [{ prometheus: { path: 'metrics' } }, {}, /prometheus.path must be a string starting with "\/"/],
  [{ prometheus: { registry: {} } }, {}, /prometheus.registry must be a prom-client Registry/],
  [{ otel: { meterProvider: 5 } }, {}, /otel.meterProvider must be an OpenTelemetry MeterProvider/],
  [{ otel: { stallPush: 'yes' } }, {}, /otel.stallPush must be a boolean, got "yes"/],
  [{ routePatterns: '/users/:name' }, {}, /routePatterns must be an array of path patterns such as "\/users\/:name", got "\/users\/:name"/],
  [{ routePatterns: ['users/:name'] }, {}, /routePatterns: "users\/:name" is not a route pattern \(a path starting with "\/"/],
  [{ routePatterns: ['/a/*/b'] }, {}, /"\/a\/\*\/b" is not a route pattern .*"\*" only as the whole last segment/],
  [{ routePatterns: ['/a/b*'] }, {}, /"\/a\/b\*" is not a route pattern/],
  [{ routePatterns: ['/a?x=1'] }, {}, /"\/a\?x=1" is not a route pattern/],
  [{ routePatterns: ['/a/:'] }, {}, /"\/a\/:" is not a route pattern/],
  [{ routePatterns: ['/a/\u0000'] }, {}, /is not a route pattern .*control characters/],
  [{}, { LOOPWATCH_ROUTE_PATTERNS: '/ok,bad' }, /LOOPWATCH_ROUTE_PATTERNS: "bad" is not a route pattern/],
  [{ routePatterns: Array.from({ length: 201 }, (_, i) => `/p${i}`) }, {}, /routePatterns accepts at most 200 patterns, got 201/],
  [{}, { LOOPWATCH_OTEL_STALL_PUSH: 'loud' }, /LOOPWATCH_OTEL_STALL_PUSH must be "on" or "off", got "loud"/],
  [{ otel: { push: true } }, {}, /unknown option "otel.push" \(accepted: meterProvider, otlp, stallPush\)/],
  [{ stallThresholdMs: 10, sampleIntervalMs: 10 }, {}, /sampleIntervalMs 10 must be at most half of stallThresholdMs/],
  [{ maxSampleIntervalMs: 80 }, {}, /maxSampleIntervalMs 80 must be from sampleIntervalMs \(10\) to half of stallThresholdMs \(50\)/],
  [{ sampleIntervalMs: 20, maxSampleIntervalMs: 10 }, {}, /maxSampleIntervalMs 10 must be from sampleIntervalMs \(20\)/],
  [{}, { LOOPWATCH_MAX_SAMPLE_INTERVAL_MS: 'slow' }, /LOOPWATCH_MAX_SAMPLE_INTERVAL_MS="slow" is not a number/],
  [{ threadpool: { probeIntervalMs: 1 } }, {}, /threadpool.probeIntervalMs must be a number from 10 to 60000 \(ms\), got 1/],
  [{ threadpool: 'yes' }, {}, /threadpool must be false or an object/],
  [{}, { LOOPWATCH_THREADPOOL: 'maybe' }, /LOOPWATCH_THREADPOOL must be "on" or "off", got "maybe"/],
  [{ attribution: 'on' }, {}, /attribution must be true, false or "deep", got "on"/],
  [{}, { LOOPWATCH_ATTRIBUTION: 'sometimes' }, /LOOPWATCH_ATTRIBUTION must be "on", "off" or "deep", got "sometimes"/],
  [{}, { LOOPWATCH_STRICT: 'please' }, /LOOPWATCH_STRICT must be "true" or "false", got "please"/],
  [{ native: 'yes' }, {}, /native must be a boolean, got "yes"/],
  [{}, { LOOPWATCH_NATIVE: 'fast' }, /LOOPWATCH_NATIVE must be "on" or "off", got "fast"/],
  [{}, { LOOPWATCH_REQUEST_SCOPE: 'socket' }, /LOOPWATCH_REQUEST_SCOPE must be "connection" or "request", got "socket"/],
  [{ requestScope: true }, {}, /requestScope must be "connection" or "request", got true/],
  [{ requestContext: 'on' }, {}, /requestContext must be "auto", true or false, got "on"/],
  [{}, { LOOPWATCH_REQUEST_CONTEXT: 'sometimes' }, /LOOPWATCH_REQUEST_CONTEXT must be "auto", "on" or "off", got "sometimes"/],
  // Number() would read these as port 0 (a random port) and 8192.
  [{}, { LOOPWATCH_PROMETHEUS_PORT: ' ' }, /LOOPWATCH_PROMETHEUS_PORT must be an integer port from 0 to 65535 or "off", got " "/],
  [{}, { LOOPWATCH_PROMETHEUS_PORT: '0x2000' }, /LOOPWATCH_PROMETHEUS_PORT must be an integer port .* got "0x2000"/],
  // The endpoint compares the path without the query string: this one could never be scraped.
  [{}, { LOOPWATCH_PROMETHEUS_PATH: '/metrics?x=1' }, /LOOPWATCH_PROMETHEUS_PATH must be a string starting with "\/", without "\?" or "#", got "\/metrics\?x=1"/],
  [{ prometheus: { path: '/m#x' } }, {}, /prometheus.path must be a string starting with "\/", without "\?" or "#", got "\/m#x"/],
];
for (const [options, env, message] of bad) {
  test(`rejects ${JSON.stringify(options)} ${JSON.stringify(env)} with a message naming it`, () => {
    const r = resolveConfig(options, env);
    assert.ok(r instanceof ConfigError);
    assert.equal(r.code, 'LOOPWATCH_INVALID_OPTION');
    assert.match(r.message, message);
  });
}

test('variables: empty means unset, words and case as for the other LOOPWATCH_* variables', () => {
  const c = resolveConfig({}, { LOOPWATCH_PROMETHEUS_HOST: '', LOOPWATCH_PROMETHEUS_PATH: '', LOOPWATCH_PROMETHEUS_PORT: ' 9100 ' });
  assert.ok(!(c instanceof ConfigError), c.message);
  assert.deepEqual([c.prometheus.host, c.prometheus.path, c.prometheus.port], ['0.0.0.0', '/metrics', 9100]);
  assert.equal(resolveConfig({}, { LOOPWATCH_THREADPOOL: 'no' }).threadpool, false);
  assert.notEqual(resolveConfig({}, { LOOPWATCH_THREADPOOL: 'YES' }).threadpool, false);
  assert.equal(resolveConfig({}, { LOOPWATCH_LOG: 'STDERR' }).log, 'stderr');
  // Options in code stay exact.
  assert.ok(resolveConfig({ log: 'STDERR' }, {}) instanceof ConfigError);
});

test('bad config: one clear message, agent off, app keeps running; strict throws', async (t) => {
  const app = runChild(fixture('bad-config.cjs'), { env: { LOOPWATCH_STALL_THRESHOLD_MS: 'fast' } });
  t.after(() => app.kill());
  const r = await app.message('result');
  assert.equal(r.enabled, false);
  assert.equal(r.strictThrew, 'LOOPWATCH_INVALID_OPTION');
  assert.equal(r.appStillRuns, true);
  const lines = app.stderr.trim().split('\n').filter((l) => l.startsWith('[loopwatch]'));
  assert.equal(lines.length, 1, app.stderr);
  assert.match(lines[0], /LOOPWATCH_STALL_THRESHOLD_MS="fast" is not a number .* loopwatch is off; the app keeps running/);
});

test('metrics port in use: clear message, app unharmed, stalls still reported', async (t) => {
  const blocker = createServer();
  await new Promise((r) => blocker.listen(0, '127.0.0.1', r));
  t.after(() => blocker.close());
  const port = blocker.address().port;
  const app = runChild(fixture('block.cjs'), { args: ['200', '100'], env: { LOOPWATCH_PROMETHEUS_PORT: String(port), LOOPWATCH_PROMETHEUS_HOST: '127.0.0.1' } });
  t.after(() => app.kill());
  const ready = await app.message('ready');
  assert.equal(ready.prometheusUrl, undefined);
  const stall = await app.message('stall');
  assert.ok(stall.durationMs >= 150);
  assert.match(app.stderr, new RegExp(`\\[loopwatch\\] prometheus: port 127.0.0.1:${port} is already in use; the loopwatch metrics endpoint is off \\(the app and the rest of loopwatch keep running\\)`));
  assert.equal(app.child.exitCode, null, 'the app is still running');
});

test('strict: the option in code wins over LOOPWATCH_STRICT, both ways', (t) => {
  const { start } = require('../../agent/dist/index.js');
  const before = process.env.LOOPWATCH_STRICT;
  t.after(() => (before === undefined ? delete process.env.LOOPWATCH_STRICT : (process.env.LOOPWATCH_STRICT = before)));
  process.env.LOOPWATCH_STRICT = '1';
  // Invalid configs start nothing: safe to try in this process.
  assert.equal(start({ strict: false, stallThresholdMs: -1 }).enabled, false, 'strict: false in code does not throw');
  assert.throws(() => start({ stallThresholdMs: -1 }), { code: 'LOOPWATCH_INVALID_OPTION' });
  process.env.LOOPWATCH_STRICT = '0';
  assert.throws(() => start({ strict: true, stallThresholdMs: -1 }), { code: 'LOOPWATCH_INVALID_OPTION' });
});
