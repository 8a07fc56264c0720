import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fixture, parseMetrics, runChild, sample } from './helpers/child.mjs';

const require = createRequire(import.meta.url);
const { resolveConfig, ConfigError, configError } = require('../../agent/dist/config/config.js');
const { startAgent } = require('../../agent/dist/core/start.js');
const { Diagnostics } = require('../../agent/dist/runtime/diag.js');

test('defaults', () => {
  const c = resolveConfig({}, {});
  assert.equal(c.stallThresholdMs, 100);
  assert.equal(c.sampleIntervalMs, 10);
  assert.equal(c.maxSampleIntervalMs, 50, 'adaptive heartbeat up to half the threshold');
  assert.equal(resolveConfig({ stallThresholdMs: 1000 }, {}).maxSampleIntervalMs, 100, 'at most 100 ms');
  assert.equal(resolveConfig({ stallThresholdMs: 75 }, {}).maxSampleIntervalMs, 30, 'a multiple of the resolution');
  assert.equal(resolveConfig({ stallThresholdMs: 20 }, {}).maxSampleIntervalMs, 10);
  assert.equal(resolveConfig({}, { LOOPWATCH_MAX_SAMPLE_INTERVAL_MS: '10' }).maxSampleIntervalMs, 10, 'fixed heartbeat');
  assert.deepEqual({ ...c.prometheus, registry: undefined }, { port: 9464, host: '0.0.0.0', path: '/metrics', registry: undefined, portFrom: 'prometheus.port', hostFrom: 'prometheus.host' });
  assert.deepEqual(c.problems, []);
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

// Each mistake: exactly one line naming the option or variable, the value, what is accepted and what is used
// instead; that option falls back to its default and the rest of the configuration applies.
const bad = [
  [{ stallThresholdMs: 'abc' }, {}, /^stallThresholdMs="abc" is not valid \(accepted: a number from 1 to 600000 \(ms\)\); using the default 100\.$/, (c) => c.stallThresholdMs === 100],
  [{ stallThresholdMs: -5 }, {}, /^stallThresholdMs=-5 is not valid \(accepted: a number from 1 to 600000 \(ms\)\); using the default 100\.$/, (c) => c.stallThresholdMs === 100],
  [{}, { LOOPWATCH_STALL_THRESHOLD_MS: 'soon' }, /^LOOPWATCH_STALL_THRESHOLD_MS="soon" is not valid \(accepted: a number from 1 to 600000 \(ms\)\); using the default 100\.$/, (c) => c.stallThresholdMs === 100],
  [{}, { LOOPWATCH_STALL_THRESHOLD_MS: '-5' }, /^LOOPWATCH_STALL_THRESHOLD_MS="-5" is not valid \(accepted: a number from 1 to 600000 \(ms\)\); using the default 100\.$/],
  [{ prometheus: { port: 70000 } }, {}, /^prometheus\.port=70000 is not valid \(accepted: an integer port from 0 to 65535\); using the default 9464\.$/, (c) => c.prometheus.port === 9464],
  [{}, { LOOPWATCH_PROMETHEUS_PORT: '99999' }, /^LOOPWATCH_PROMETHEUS_PORT="99999" is not valid \(accepted: an integer port from 0 to 65535, or off\); using the default 9464\.$/, (c) => c.prometheus.port === 9464 && c.prometheus.path === '/metrics'],
  [{}, { LOOPWATCH_PROMETHEUS_PORT: 'nine' }, /^LOOPWATCH_PROMETHEUS_PORT="nine" is not valid .*; using the default 9464\.$/],
  [{}, { LOOPWATCH_PROMETHEUS_HOST: 'not a host' }, /^LOOPWATCH_PROMETHEUS_HOST="not a host" is not valid \(accepted: an IP address such as 127\.0\.0\.1, 0\.0\.0\.0 or ::1, or a host name such as localhost\); using the default "0\.0\.0\.0"\.$/, (c) => c.prometheus.host === '0.0.0.0'],
  [{ prometheus: { host: '[::1]' } }, {}, /^prometheus\.host="\[::1\]" is not valid/],
  [{}, { LOOPWATCH_PROMETHEUS_HOST: '999.1.1.1' }, /^LOOPWATCH_PROMETHEUS_HOST="999\.1\.1\.1" is not valid/],
  [{ log: 'loud' }, {}, /^log="loud" is not valid \(accepted: "stderr", "off"\); using the default "off"\.$/],
  [{}, { LOOPWATCH_LOG: 'sterr' }, /^LOOPWATCH_LOG="sterr" is not valid \(accepted: stderr, off\); using the default "off"\.$/, (c) => c.log === 'off' && c.prometheus.port === 9464],
  [{ treshold: 5 }, {}, /^treshold=5 is not valid \(accepted: the options serviceName, stallThresholdMs, .*\); ignoring it\.$/],
  [{ prometheus: { prot: 1 } }, {}, /^prometheus\.prot=1 is not valid \(accepted: the options prometheus\.port, prometheus\.host, prometheus\.path, prometheus\.registry\); ignoring it\.$/],
  [{ prometheus: { path: 'metrics' } }, {}, /^prometheus\.path="metrics" is not valid \(accepted: a path starting with "\/".*\); using the default "\/metrics"\.$/],
  [{ prometheus: { registry: {} } }, {}, /^prometheus\.registry=\(an object\) is not valid \(accepted: a prom-client Registry\); ignoring it/, (c) => c.prometheus.registry === undefined && c.prometheus.port === 9464],
  [{ prometheus: 'on' }, {}, /^prometheus="on" is not valid \(accepted: false or an object/, (c) => c.prometheus.port === 9464],
  [{ otel: { meterProvider: 5 } }, {}, /^otel\.meterProvider=5 is not valid \(accepted: an OpenTelemetry MeterProvider\); using the global MeterProvider\.$/],
  [{ otel: { stallPush: 'yes' } }, {}, /^otel\.stallPush="yes" is not valid \(accepted: true, false\)/, (c) => c.otel.stallPush === 'auto'],
  [{ routePatterns: '/users/:name' }, {}, /^routePatterns="\/users\/:name" is not valid \(accepted: an array of path patterns such as "\/users\/:name"\); using none\.$/],
  [{ routePatterns: ['/ok', 'users/:name'] }, {}, /^routePatterns\[1\]="users\/:name" is not valid \(accepted: a path starting with "\/".*\); ignoring this pattern\.$/, (c) => c.routePatterns.join() === '/ok'],
  [{ routePatterns: ['/a/*/b'] }, {}, /"\/a\/\*\/b" is not valid .*"\*" only as the whole last segment/],
  [{ routePatterns: ['/a/b*'] }, {}, /"\/a\/b\*" is not valid/],
  [{ routePatterns: ['/a?x=1'] }, {}, /"\/a\?x=1" is not valid/],
  [{ routePatterns: ['/a/:'] }, {}, /"\/a\/:" is not valid/],
  [{ routePatterns: ['/a/\u0000'] }, {}, /is not valid .*control characters/],
  [{}, { LOOPWATCH_ROUTE_PATTERNS: '/ok,bad' }, /^LOOPWATCH_ROUTE_PATTERNS="bad" is not valid .*; ignoring this pattern\.$/, (c) => c.routePatterns.join() === '/ok'],
  [{ routePatterns: Array.from({ length: 201 }, (_, i) => `/p${i}`) }, {}, /^routePatterns="201 patterns" is not valid \(accepted: at most 200 patterns\); using the first 200\.$/, (c) => c.routePatterns.length === 200],
  [{}, { LOOPWATCH_OTEL_STALL_PUSH: 'loud' }, /^LOOPWATCH_OTEL_STALL_PUSH="loud" is not valid \(accepted: on, off\)/],
  [{ otel: { push: true } }, {}, /^otel\.push=true is not valid \(accepted: the options otel\.meterProvider, otel\.otlp, otel\.stallPush\); ignoring it\.$/],
  [{ stallThresholdMs: 10, sampleIntervalMs: 10 }, {}, /^sampleIntervalMs=10 is not valid \(accepted: a number from 1 to 5 \(ms\), at most half of stallThresholdMs=10\); using 5\.$/, (c) => c.sampleIntervalMs === 5],
  [{ maxSampleIntervalMs: 80 }, {}, /^maxSampleIntervalMs=80 is not valid \(accepted: a number from 10 to 50 \(ms\): from sampleIntervalMs=10 to half of stallThresholdMs=100.*\); using 50\.$/, (c) => c.maxSampleIntervalMs === 50],
  [{ sampleIntervalMs: 20, maxSampleIntervalMs: 10 }, {}, /^maxSampleIntervalMs=10 is not valid \(accepted: a number from 20 to 50/],
  [{}, { LOOPWATCH_MAX_SAMPLE_INTERVAL_MS: 'slow' }, /^LOOPWATCH_MAX_SAMPLE_INTERVAL_MS="slow" is not valid/],
  [{ threadpool: { probeIntervalMs: 1 } }, {}, /^threadpool\.probeIntervalMs=1 is not valid \(accepted: a number from 10 to 60000 \(ms\)\); using the default 1000\.$/],
  [{ threadpool: 'yes' }, {}, /^threadpool="yes" is not valid \(accepted: false or an object/, (c) => c.threadpool.probeIntervalMs === 1000],
  [{}, { LOOPWATCH_THREADPOOL: 'maybe' }, /^LOOPWATCH_THREADPOOL="maybe" is not valid \(accepted: on, count, off\); using the default "on"\.$/, (c) => c.threadpool !== false],
  [{ attribution: 'on' }, {}, /^attribution="on" is not valid \(accepted: true, false, "deep"\); using the default "on"\.$/, (c) => c.attribution === true],
  [{}, { LOOPWATCH_ATTRIBUTION: 'sometimes' }, /^LOOPWATCH_ATTRIBUTION="sometimes" is not valid \(accepted: on, off, deep\)/],
  [{}, { LOOPWATCH_STRICT: 'please' }, /^LOOPWATCH_STRICT="please" is not valid \(accepted: on, off\); using the default "off"\.$/, (c) => c.strict === false],
  [{}, { LOOPWATCH_DEBUG: 'verbose' }, /^LOOPWATCH_DEBUG="verbose" is not valid \(accepted: on, off\); using the default "off"\.$/, (c) => c.debug === false],
  [{ native: 'yes' }, {}, /^native="yes" is not valid \(accepted: true, false\)/, (c) => c.native === true],
  [{}, { LOOPWATCH_NATIVE: 'fast' }, /^LOOPWATCH_NATIVE="fast" is not valid \(accepted: on, off\)/],
  [{}, { LOOPWATCH_REQUEST_SCOPE: 'socket' }, /^LOOPWATCH_REQUEST_SCOPE="socket" is not valid \(accepted: connection, request\); using the default "connection"\.$/],
  [{ requestScope: true }, {}, /^requestScope=true is not valid \(accepted: "connection", "request"\)/],
  [{ requestContext: 'on' }, {}, /^requestContext="on" is not valid \(accepted: "auto", true, false\); using the default "auto"\.$/],
  [{}, { LOOPWATCH_REQUEST_CONTEXT: 'sometimes' }, /^LOOPWATCH_REQUEST_CONTEXT="sometimes" is not valid \(accepted: auto, on, off\)/],
  [{ serviceName: '' }, {}, /^serviceName="" is not valid \(accepted: a non-empty string\)/],
  [{ threadName: 5 }, {}, /^threadName=5 is not valid \(accepted: a non-empty string\)/, (c) => c.threadName === undefined],
  // Number() would read these as port 0 (a random port) and 8192.
  [{}, { LOOPWATCH_PROMETHEUS_PORT: ' ' }, /^LOOPWATCH_PROMETHEUS_PORT=" " is not valid/],
  [{}, { LOOPWATCH_PROMETHEUS_PORT: '0x2000' }, /^LOOPWATCH_PROMETHEUS_PORT="0x2000" is not valid/],
  [{}, { LOOPWATCH_STALL_THRESHOLD_MS: '0x20' }, /^LOOPWATCH_STALL_THRESHOLD_MS="0x20" is not valid/],
  // The endpoint compares the path without the query string: this one could never be scraped.
  [{}, { LOOPWATCH_PROMETHEUS_PATH: '/metrics?x=1' }, /^LOOPWATCH_PROMETHEUS_PATH="\/metrics\?x=1" is not valid \(accepted: a path starting with "\/", without "\?", "#" or spaces\); using the default "\/metrics"\.$/],
  [{ prometheus: { path: '/m#x' } }, {}, /^prometheus\.path="\/m#x" is not valid/],
  ['fast', {}, /^options="fast" is not valid \(accepted: an object\); using the defaults\.$/],
];
for (const [options, env, line, check] of bad) {
  test(`${JSON.stringify(options).slice(0, 80)} ${JSON.stringify(env)}: one line naming it, its default used, the rest applies`, () => {
    const c = resolveConfig(options, { ...env, LOOPWATCH_LOG: env.LOOPWATCH_LOG ?? 'stderr' });
    assert.equal(c.problems.length, 1, c.problems.map((p) => p.line).join('\n'));
    assert.match(c.problems[0].line, line);
    // The line is the strict-mode text plus what is used instead.
    assert.ok(c.problems[0].line.startsWith(c.problems[0].text + '; '));
    if (check) assert.ok(check(c), JSON.stringify({ ...c, problems: undefined }));
    // The rest of the configuration still applies (LOOPWATCH_LOG=stderr, unless that was the mistake).
    if (!('LOOPWATCH_LOG' in env) && options?.log === undefined) assert.equal(c.log, 'stderr');
  });
}

test('several mistakes: one line each; every one in the ConfigError of strict mode', () => {
  const c = resolveConfig({ stallThresholdMs: -1, log: 'loud' }, { LOOPWATCH_PROMETHEUS_PORT: '99999' });
  assert.deepEqual(c.problems.map((p) => p.source), ['stallThresholdMs', 'log', 'LOOPWATCH_PROMETHEUS_PORT']);
  const err = configError(c.problems);
  assert.ok(err instanceof ConfigError);
  assert.equal(err.code, 'LOOPWATCH_INVALID_OPTION');
  assert.equal(err.problems.length, 3);
  assert.match(err.message, /^invalid configuration: stallThresholdMs=-1 is not valid .*; log="loud" is not valid .*; LOOPWATCH_PROMETHEUS_PORT="99999" is not valid/);
});

test('every threshold in the advertised range is accepted; the resolution follows it unless set', () => {
  for (const [threshold, sample, max] of [[1, 1, 1], [2, 1, 1], [3, 1, 1], [4, 2, 2], [10, 5, 5], [19, 9, 9], [20, 10, 10], [100, 10, 50], [600000, 10, 100]]) {
    for (const c of [resolveConfig({ stallThresholdMs: threshold }, {}), resolveConfig({}, { LOOPWATCH_STALL_THRESHOLD_MS: String(threshold) })]) {
      assert.deepEqual(c.problems, [], `threshold ${threshold}`);
      assert.deepEqual([c.stallThresholdMs, c.sampleIntervalMs, c.maxSampleIntervalMs], [threshold, sample, max], `threshold ${threshold}`);
    }
  }
  // Set by the user, the resolution is kept where it fits.
  assert.equal(resolveConfig({ stallThresholdMs: 50, sampleIntervalMs: 25 }, {}).sampleIntervalMs, 25);
  assert.equal(resolveConfig({}, { LOOPWATCH_STALL_THRESHOLD_MS: '1', LOOPWATCH_SAMPLE_INTERVAL_MS: '1' }).problems.length, 0);
});

test('LOOPWATCH_PROMETHEUS_HOST: IP addresses and host names are accepted', () => {
  for (const host of ['127.0.0.1', '0.0.0.0', '::', '::1', 'fe80::1', 'localhost', 'metrics.internal', 'my_host-1.example.com', 'example.com.']) {
    const c = resolveConfig({}, { LOOPWATCH_PROMETHEUS_HOST: host });
    assert.deepEqual(c.problems, [], host);
    assert.equal(c.prometheus.host, host);
  }
  for (const host of ['not a host', 'a..b', '-a', 'a/b', '1.2.3', 'http://x', '[::1]']) {
    assert.equal(resolveConfig({}, { LOOPWATCH_PROMETHEUS_HOST: host }).problems.length, 1, host);
  }
});

test('variables: empty means unset, words and case as for the other LOOPWATCH_* variables', () => {
  const c = resolveConfig({}, { LOOPWATCH_PROMETHEUS_HOST: '', LOOPWATCH_PROMETHEUS_PATH: '', LOOPWATCH_PROMETHEUS_PORT: ' 9100 ' });
  assert.deepEqual(c.problems, []);
  assert.deepEqual([c.prometheus.host, c.prometheus.path, c.prometheus.port], ['0.0.0.0', '/metrics', 9100]);
  assert.equal(resolveConfig({}, { LOOPWATCH_THREADPOOL: 'no' }).threadpool, false);
  // Operation counting is opt-in (docs/pools.md): `count` turns it on for preloads, code options still win.
  assert.equal(resolveConfig({}, {}).threadpool.countOperations, false);
  assert.equal(resolveConfig({}, { LOOPWATCH_THREADPOOL: 'count' }).threadpool.countOperations, true);
  assert.equal(resolveConfig({ threadpool: { countOperations: false } }, { LOOPWATCH_THREADPOOL: 'count' }).threadpool.countOperations, false);
  assert.notEqual(resolveConfig({}, { LOOPWATCH_THREADPOOL: 'YES' }).threadpool, false);
  assert.equal(resolveConfig({}, { LOOPWATCH_LOG: 'STDERR' }).log, 'stderr');
  // Options in code stay exact.
  assert.equal(resolveConfig({ log: 'STDERR' }, {}).problems.length, 1);
});

const loopwatchLines = (stderr) => stderr.split('\n').filter((l) => l.startsWith('[loopwatch]'));

test('LOOPWATCH_LOG=sterr: one line, and /metrics and stall detection keep running', async (t) => {
  const app = runChild(fixture('block.cjs'), { args: ['300', '100'], env: { LOOPWATCH_LOG: 'sterr' } });
  t.after(() => app.kill());
  const { prometheusUrl } = await app.message('ready');
  assert.match(prometheusUrl, /^http:\/\/.*\/metrics$/);
  const stall = await app.waitFor(() => app.messages.find((m) => m.type === 'stall' && m.durationMs > 200), { what: 'the 300 ms stall' });
  assert.ok(stall.durationMs >= 250);
  const body = await (await fetch(prometheusUrl)).text();
  assert.match(body, /loopwatch_eventloop_stall_duration_seconds_count\{[^}]*thread_name="main"[^}]*\} [1-9]/);
  assert.deepEqual(loopwatchLines(app.stderr), ['[loopwatch] LOOPWATCH_LOG="sterr" is not valid (accepted: stderr, off); using the default "off".']);
});

test('LOOPWATCH_STALL_THRESHOLD_MS=1 is accepted as it is: no line, stalls detected', async (t) => {
  const app = runChild(fixture('block.cjs'), { args: ['200', '100'], env: { LOOPWATCH_STALL_THRESHOLD_MS: '1' } });
  t.after(() => app.kill());
  const { prometheusUrl } = await app.message('ready');
  await app.message('unblocked');
  // Counted in the metrics (events are rate-capped per culprit, and at 1 ms a loaded machine makes many stalls):
  // some stall of at least 0.1 s, the 200 ms block.
  let long = 0;
  const deadline = Date.now() + 20_000;
  while (long < 1 && Date.now() < deadline) {
    const m = parseMetrics(await (await fetch(prometheusUrl)).text());
    const all = sample(m, 'loopwatch_eventloop_stall_duration_seconds_bucket', { thread_name: 'main', le: '+Inf' })?.value ?? 0;
    const short = sample(m, 'loopwatch_eventloop_stall_duration_seconds_bucket', { thread_name: 'main', le: '0.1' })?.value ?? 0;
    long = all - short;
    if (long < 1) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(long >= 1, 'the 200 ms block is counted as a stall');
  assert.deepEqual(loopwatchLines(app.stderr), []);
});

test('metrics port in use: clear message naming the variable, app unharmed, stalls still reported', async (t) => {
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
  assert.match(
    app.stderr,
    new RegExp(`\\[loopwatch\\] prometheus: port 127.0.0.1:${port} is already in use; the loopwatch metrics endpoint is off \\(the app and the rest of loopwatch keep running\\)\\. Set LOOPWATCH_PROMETHEUS_PORT to a free port, or "off"\\.`),
  );
  assert.equal(app.child.exitCode, null, 'the app is still running');
});

test('a host that is not this machine\'s: the listen failure names LOOPWATCH_PROMETHEUS_HOST, not the port', async (t) => {
  // 192.0.2.1 is TEST-NET-1 (RFC 5737): a valid address no machine has, so listen() fails with EADDRNOTAVAIL.
  const app = runChild(fixture('block.cjs'), { args: ['200', '100'], env: { LOOPWATCH_PROMETHEUS_HOST: '192.0.2.1' } });
  t.after(() => app.kill());
  const ready = await app.message('ready');
  assert.equal(ready.prometheusUrl, undefined);
  await app.message('stall');
  const lines = loopwatchLines(app.stderr);
  assert.equal(lines.length, 1, app.stderr);
  assert.match(lines[0], /^\[loopwatch\] prometheus: could not listen on host "192\.0\.2\.1" \(LOOPWATCH_PROMETHEUS_HOST\): .*; the loopwatch metrics endpoint is off .*Set LOOPWATCH_PROMETHEUS_HOST to an address of this machine/);
  assert.doesNotMatch(lines[0], /PORT/);
});

test('strict: throws a ConfigError listing every problem, for a second start() too; the option in code wins over LOOPWATCH_STRICT', async (t) => {
  const app = runChild(fixture('strict.cjs'));
  t.after(() => app.kill());
  const r = await app.message('result');
  assert.deepEqual(r.envStrict, {
    code: 'LOOPWATCH_INVALID_OPTION',
    name: 'ConfigError',
    problems: ['stallThresholdMs=-1 is not valid (accepted: a number from 1 to 600000 (ms))', 'log="loud" is not valid (accepted: "stderr", "off")'],
  });
  assert.equal(r.codeStrict.code, 'LOOPWATCH_INVALID_OPTION', 'strict: true in code throws though LOOPWATCH_STRICT=0');
  assert.deepEqual(r.codeLenient, { enabled: true }, 'strict: false in code starts though LOOPWATCH_STRICT=1');
  assert.equal(r.strictSecond.code, 'LOOPWATCH_INVALID_OPTION');
  assert.equal((await app.exited).code, 0);
  assert.deepEqual(loopwatchLines(app.stderr), ['[loopwatch] stallThresholdMs=-1 is not valid (accepted: a number from 1 to 600000 (ms)); using the default 100.']);
});

function capture() {
  const lines = [];
  return { lines, diag: new Diagnostics((l) => lines.push(l), Date.now, false) };
}

test('a Node older than 22.15 (given to start): one line, an agent that does nothing; strict throws', () => {
  const { lines, diag } = capture();
  for (const node of ['20.11.1', '22.14.0', '18.0.0']) {
    const agent = startAgent({}, {}, { node }, diag);
    assert.equal(agent.enabled, false, node);
  }
  // Once per process, whichever version.
  assert.deepEqual(lines, ['[loopwatch] Node 20.11.1 is not supported (accepted: Node 22.15.0 or later); loopwatch stays off, the app keeps running.']);
  assert.throws(() => startAgent({ strict: true }, {}, { node: '20.11.1' }, diag), { code: 'LOOPWATCH_INVALID_OPTION', message: /Node 20\.11\.1 is not supported/ });
  assert.throws(() => startAgent({}, { LOOPWATCH_STRICT: '1' }, { node: '22.14.9' }, diag), { code: 'LOOPWATCH_INVALID_OPTION' });
});

test('the Node versions the agent supports pass the check', () => {
  const { unsupportedNode } = require('../../agent/dist/config/node-version.js');
  for (const node of ['22.15.0', '22.15.1', '22.20.0', '23.0.0', '24.1.0', '100.0.0', process.versions.node]) assert.equal(unsupportedNode({ node }), undefined, node);
  for (const node of ['22.14.99', '21.7.3', '20.20.2', '0.10.0']) assert.match(unsupportedNode({ node }), /is not supported/, node);
});

const machineNode = spawnSync('/usr/bin/env', ['node', '--version'], { encoding: 'utf8' }).stdout?.trim() ?? '';
test(`the machine's own node (${machineNode || 'none'}) when older than 22.15: one line, the app runs on, its workers say nothing more`, { skip: !/^v(1\d|20|21|22\.(\d|1[0-4])\.)/.test(machineNode) && `the machine's node is ${machineNode || 'absent'}` }, () => {
  const r = spawnSync('/usr/bin/env', ['node', fixture('node-version.cjs')], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, LOOPWATCH_PROMETHEUS_PORT: '0' } });
  assert.equal(r.status, 0, r.stderr);
  const result = JSON.parse(r.stdout.trim().split('\n').pop());
  assert.deepEqual(result, { type: 'result', enabled: false, againEnabled: false, workerOff: true, node: machineNode.slice(1) });
  assert.deepEqual(loopwatchLines(r.stderr), [`[loopwatch] Node ${machineNode.slice(1)} is not supported (accepted: Node 22.15.0 or later); loopwatch stays off, the app keeps running.`]);
});

test('diagnostics: the message always, the stack at debug level (LOOPWATCH_DEBUG)', () => {
  const err = new Error('boom');
  const quiet = [];
  new Diagnostics((l) => quiet.push(l), Date.now, false).error('otel', 'export failed', err);
  assert.deepEqual(quiet, ['[loopwatch] otel: export failed: boom']);
  const loud = [];
  new Diagnostics((l) => loud.push(l), Date.now, true).error('otel', 'export failed', err);
  assert.equal(loud.length, 2);
  assert.equal(loud[0], '[loopwatch] otel: export failed: boom');
  assert.ok(loud[1].startsWith('[loopwatch] otel: (debug) Error: boom\n    at '), loud[1]);
  // Read from the environment by default (the watchdog thread has no configuration of its own).
  const before = process.env.LOOPWATCH_DEBUG;
  try {
    process.env.LOOPWATCH_DEBUG = '1';
    assert.equal(new Diagnostics(() => {}).debug, true);
    process.env.LOOPWATCH_DEBUG = 'off';
    assert.equal(new Diagnostics(() => {}).debug, false);
  } finally {
    if (before === undefined) delete process.env.LOOPWATCH_DEBUG;
    else process.env.LOOPWATCH_DEBUG = before;
  }
});

test('listen failures name the option or variable at fault', () => {
  const { listenFailure } = require('../../agent/dist/core/notices.js');
  const fromEnv = { ...resolveConfig({}, { LOOPWATCH_PROMETHEUS_PORT: '80', LOOPWATCH_PROMETHEUS_HOST: 'metrics.example' }).prometheus };
  const fromCode = { ...resolveConfig({ prometheus: { port: 80, host: 'metrics.example' } }, {}).prometheus };
  assert.match(listenFailure(fromEnv, 'EACCES', 'listen EACCES'), /no permission to listen on port metrics\.example:80.*Set LOOPWATCH_PROMETHEUS_PORT to a port from 1024 up/);
  assert.match(listenFailure(fromCode, 'EACCES', 'listen EACCES'), /Set prometheus\.port to a port from 1024 up/);
  for (const code of ['ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL']) {
    assert.match(listenFailure(fromEnv, code, `x ${code}`), /could not listen on host "metrics\.example" \(LOOPWATCH_PROMETHEUS_HOST\).*Set LOOPWATCH_PROMETHEUS_HOST to an address/);
    assert.doesNotMatch(listenFailure(fromCode, code, `x ${code}`), /PORT|prometheus\.port/);
  }
  assert.match(listenFailure(fromCode, 'EINVAL', 'odd'), /could not listen on metrics\.example:80 \(prometheus\.host, prometheus\.port\): odd/);
});
