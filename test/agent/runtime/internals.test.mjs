// runtime/internals.ts: every private internal is probed once; forcing a probe to fail (LOOPWATCH_TEST_DISABLE_INTERNALS,
// in a child process) turns off the feature that needs it with one diagnostic line naming both, and the rest of the
// agent keeps working: a stall is still reported with its culprit, /metrics still answers and counts GCs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const internals = require('../../../agent/dist/runtime/internals.js');
const APP = fileURLToPath(new URL('./fixtures/internals-app.cjs', import.meta.url));
const FAKE_V8 = fileURLToPath(new URL('./fixtures/fake-v8.cjs', import.meta.url));
const linux = process.platform === 'linux';

function runApp(env = {}, preload = []) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', ...preload, APP], {
      env: { ...process.env, LOOPWATCH_PROMETHEUS_PORT: '0', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith('{"type":"result"'));
      resolve({ code, err, result: line ? JSON.parse(line) : undefined });
    });
  });
}

const linesAbout = (err, name) => err.split('\n').filter((l) => l.startsWith('[loopwatch]') && l.includes(`private internal ${name} unavailable`));

/** What must hold whichever internal is off: the stall, its culprit, /metrics and its GC series. */
function assertRestWorks(r, what) {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.err}`);
  assert.ok(r.result, `${what}: no result\n${r.err}`);
  assert.match(r.result.stall?.culprit ?? '', /^spinInvoice /, `${what}: the stall is reported with its culprit: ${JSON.stringify(r.result.stall)}`);
  assert.ok(r.result.stall.durationMs >= 250, `${what}: its duration (${r.result.stall.durationMs} ms)`);
  assert.ok(r.result.majorGcs >= 3, `${what}: /metrics answers and counts the forced GCs (${r.result.majorGcs})`);
}

function assertOff(r, name, what) {
  assertRestWorks(r, what);
  assert.equal(linesAbout(r.err, name).length, 1, `${what}: one line names ${name}:\n${r.err}`);
  assert.deepEqual(Object.keys(r.result.unavailable), [name], `${what}: only ${name} is off`);
}

test('nothing forced off: no internal is missing on this Node, and every feature that needs one works', async () => {
  const r = await runApp();
  assertRestWorks(r, 'baseline');
  assert.deepEqual(r.result.unavailable, {});
  assert.doesNotMatch(r.err, /private internal/);
  assert.equal(r.result.stall.route, 'GET /spin/:id');
  assert.equal(r.result.stall.victims, 1, `the hanging request is counted in flight; stalls: ${JSON.stringify(r.result.stalls)}`);
  assert.match(r.result.stall.traceId ?? '', /^[0-9a-f]{32}$/);
  if (linux) assert.equal(r.result.gcObservers, 0, 'GC timed natively');
});

for (const name of ['http.connectionListener', 'http.parserIncoming']) {
  test(`${name} off: scope 'connection' falls back to a frame per request; the route is still named`, async () => {
    const r = await runApp({ LOOPWATCH_TEST_DISABLE_INTERNALS: name, LOOPWATCH_REQUEST_SCOPE: 'connection' });
    assertOff(r, name, name);
    assert.match(linesAbout(r.err, name)[0], /requestScope 'connection' is off; a request context frame is entered per request/);
    assert.equal(r.result.stall.route, 'GET /spin/:id');
    assert.equal(r.result.stall.victims, 1, `stalls: ${JSON.stringify(r.result.stalls)}`);
  });
}

test("http.parserCallbacks off: scope 'request' enters its frames from the channel; the route is still named", async () => {
  const r = await runApp({ LOOPWATCH_TEST_DISABLE_INTERNALS: 'http.parserCallbacks', LOOPWATCH_REQUEST_SCOPE: 'request' });
  assertOff(r, 'http.parserCallbacks', 'http.parserCallbacks');
  assert.match(linesAbout(r.err, 'http.parserCallbacks')[0], /requestScope 'request' enters each request's context frame from the http\.server\.request\.start channel instead/);
  assert.equal(r.result.stall.route, 'GET /spin/:id');
  assert.equal(r.result.stall.victims, 1, `stalls: ${JSON.stringify(r.result.stalls)}`);
});

test("scope 'request' with nothing forced off: the route is named, no internal missing", async () => {
  const r = await runApp({ LOOPWATCH_REQUEST_SCOPE: 'request' });
  assertRestWorks(r, "scope 'request'");
  assert.deepEqual(r.result.unavailable, {});
  assert.equal(r.result.stall.route, 'GET /spin/:id');
  assert.equal(r.result.stall.victims, 1, `stalls: ${JSON.stringify(r.result.stalls)}`);
});

test('http.socketResponse off: a frame per request (route named) and no count of requests in flight', async () => {
  const r = await runApp({ LOOPWATCH_TEST_DISABLE_INTERNALS: 'http.socketResponse' });
  assertOff(r, 'http.socketResponse', 'socketResponse');
  assert.equal(r.result.stall.route, 'GET /spin/:id');
  assert.equal(r.result.stall.victims, undefined);
});

for (const name of ['http.serverConnections', 'process.getActiveHandles']) {
  test(`${name} off: requests in flight are not counted; the route and trace id still are`, async () => {
    const r = await runApp({ LOOPWATCH_TEST_DISABLE_INTERNALS: name });
    assertOff(r, name, name);
    assert.equal(r.result.stall.victims, undefined);
    assert.equal(r.result.stall.route, 'GET /spin/:id');
    assert.match(r.result.stall.traceId ?? '', /^[0-9a-f]{32}$/);
  });
}

test("otel.apiGlobal off: the stall carries no trace id, loopwatch's own /metrics and the route go on", async () => {
  const r = await runApp({ LOOPWATCH_TEST_DISABLE_INTERNALS: 'otel.apiGlobal' });
  assertOff(r, 'otel.apiGlobal', 'otel.apiGlobal');
  assert.equal(r.result.stall.traceId, undefined);
  assert.equal(r.result.stall.route, 'GET /spin/:id');
});

test('v8.gcCallbacks off: a PerformanceObserver times GC instead, into the same series', async () => {
  const r = await runApp({ LOOPWATCH_TEST_DISABLE_INTERNALS: 'v8.gcCallbacks' });
  assertOff(r, 'v8.gcCallbacks', 'v8.gcCallbacks');
  assert.ok(r.result.gcObservers >= 1, 'an observer was created');
  assert.match(linesAbout(r.err, 'v8.gcCallbacks')[0], /a PerformanceObserver times GC instead/);
});

test('a V8 the native GC timer was not tested on: nothing is looked up, the observer times GC, said once', { skip: !linux && 'Linux only' }, async () => {
  const r = await runApp({ LOOPWATCH_FAKE_V8: '99.1.0.1-node.1' }, ['-r', FAKE_V8]);
  assertOff(r, 'v8.gcCallbacks', 'fake V8');
  assert.match(linesAbout(r.err, 'v8.gcCallbacks')[0], /V8 99\.1\.0\.1-node\.1 is not one the native GC timer was tested on \(12\.4, 13\.6, 14\.6\)/);
  assert.ok(r.result.gcObservers >= 1);
});

test('several at once, and a name it does not know is said (a typo cannot pass for a fallback)', async () => {
  const r = await runApp({ LOOPWATCH_TEST_DISABLE_INTERNALS: 'v8.gcCallbacks, otel.apiGlobal,no.such' });
  assertRestWorks(r, 'several');
  assert.deepEqual(Object.keys(r.result.unavailable).sort(), ['otel.apiGlobal', 'v8.gcCallbacks']);
  assert.equal(r.err.match(/names no known internal: no\.such/g)?.length, 1, r.err);
});

test('the V8 gate accepts exactly the major.minor of Node 22, 24 and 26', () => {
  for (const v of ['12.4.254.21-node.57', '13.6.233.17-node.53', '14.6.202.34-node.34']) assert.equal(internals.v8Tested(v), true, v);
  for (const v of ['12.5.0.0', '13.7.1.1', '14.60.1.1', '15.0.0.0', '1.4.0', 'garbage', '']) assert.equal(internals.v8Tested(v), false, v);
  assert.ok(internals.v8Tested(process.versions.v8), `this Node's V8 (${process.versions.v8}) is one the tests cover`);
});

test("which AsyncLocalStorage runs follows Node's defaults where _propagate cannot tell", () => {
  assert.equal(internals.inferAlsOnAsyncHooks('22.23.3', []), true);
  assert.equal(internals.inferAlsOnAsyncHooks('22.23.3', ['--experimental-async-context-frame']), false);
  assert.equal(internals.inferAlsOnAsyncHooks('24.21.0', []), false);
  assert.equal(internals.inferAlsOnAsyncHooks('24.21.0', ['--no-async-context-frame']), true);
  assert.equal(internals.inferAlsOnAsyncHooks('26.10.0', []), false);
  // This Node agrees with the inference, in both configurations.
  const real = (flags) =>
    spawnSync(process.execPath, [...flags, '-p', `typeof require('node:async_hooks').AsyncLocalStorage.prototype._propagate === 'function'`], { encoding: 'utf8' }).stdout.trim();
  const major = Number(process.versions.node.split('.')[0]);
  const flag = major >= 24 ? '--no-async-context-frame' : '--experimental-async-context-frame';
  assert.equal(real([]), String(internals.inferAlsOnAsyncHooks(process.versions.node, [])));
  assert.equal(real([flag]), String(internals.inferAlsOnAsyncHooks(process.versions.node, [flag])));
});

test('als.propagate off: the accessor answers from the inference, with one line', () => {
  const expr = `const i = require(${JSON.stringify(require.resolve('../../../agent/dist/runtime/internals.js'))});
    console.log(JSON.stringify({ hooks: i.alsOnAsyncHooks(), again: i.alsOnAsyncHooks(), why: i.internalUnavailable('als.propagate') }));`;
  const r = spawnSync(process.execPath, ['-e', expr], { encoding: 'utf8', env: { ...process.env, LOOPWATCH_TEST_DISABLE_INTERNALS: 'als.propagate' } });
  assert.equal(r.status, 0, r.stderr);
  const o = JSON.parse(r.stdout);
  assert.equal(o.hooks, internals.inferAlsOnAsyncHooks());
  assert.equal(o.again, o.hooks);
  assert.match(o.why, /disabled by LOOPWATCH_TEST_DISABLE_INTERNALS/);
  assert.equal(linesAbout(r.stderr, 'als.propagate').length, 1, r.stderr);
});

test('otel.sdkSharedState: read off an SDK MeterProvider; off (forced, or moved), said once and undefined', () => {
  const expr = `const i = require(${JSON.stringify(require.resolve('../../../agent/dist/runtime/internals.js'))});
    const { MeterProvider } = require(${JSON.stringify(require.resolve('@opentelemetry/sdk-metrics'))});
    const real = new MeterProvider();
    class Moved { forceFlush() {} shutdown() {} }
    const out = { real: typeof i.otelSdkSharedState(real)?.resource?.attributes, other: i.otelSdkSharedState({}) ?? null };
    out.moved = i.otelSdkSharedState(new Moved()) ?? null;
    out.after = i.otelSdkSharedState(real) ?? null;
    setImmediate(() => console.log(JSON.stringify(out)));`;
  const plain = spawnSync(process.execPath, ['-e', expr], { encoding: 'utf8' });
  assert.equal(plain.status, 0, plain.stderr);
  assert.deepEqual(JSON.parse(plain.stdout), { real: 'object', other: null, moved: null, after: null });
  assert.equal(linesAbout(plain.stderr, 'otel.sdkSharedState').length, 1, plain.stderr);
  assert.match(plain.stderr, /MeterProvider \(Moved\) has no _sharedState/);

  const forced = spawnSync(process.execPath, ['-e', expr], { encoding: 'utf8', env: { ...process.env, LOOPWATCH_TEST_DISABLE_INTERNALS: 'otel.sdkSharedState' } });
  assert.equal(forced.status, 0, forced.stderr);
  assert.equal(JSON.parse(forced.stdout).real, 'undefined');
  assert.equal(linesAbout(forced.stderr, 'otel.sdkSharedState').length, 1, forced.stderr);
});

test("request context: each internal scope 'connection' needs, when off, makes it scope 'request', said once through its onError", () => {
  const expr = `const { createRequestContext } = require(${JSON.stringify(require.resolve('../../../agent/dist/attribution/request-context.js'))});
    const said = [];
    const onError = (what, err) => said.push(what);
    const a = createRequestContext('connection', onError);
    const b = createRequestContext('connection', onError);
    const scopes = [a.scope, b.scope];
    const mechanisms = [a.mechanism, b.mechanism];
    a.stop(); b.stop();
    setImmediate(() => console.log(JSON.stringify({ scopes, mechanisms, said })));`;
  for (const name of ['', 'http.connectionListener', 'http.parserIncoming', 'http.socketResponse']) {
    const r = spawnSync(process.execPath, ['-e', expr], { encoding: 'utf8', env: { ...process.env, LOOPWATCH_TEST_DISABLE_INTERNALS: name } });
    assert.equal(r.status, 0, r.stderr);
    const o = JSON.parse(r.stdout);
    assert.equal(r.stderr, '', `${name}: nothing on stderr, it went to onError`);
    if (!name) {
      assert.deepEqual(o, { scopes: ['connection', 'connection'], mechanisms: ['connection', 'connection'], said: [] });
      continue;
    }
    assert.deepEqual(o.scopes, ['request', 'request'], name);
    assert.deepEqual(o.mechanisms, ['channel', 'channel'], name);
    assert.equal(o.said.length, 1, `${name}: ${JSON.stringify(o.said)}`);
    assert.match(o.said[0], new RegExp(`^private internal ${name.replace('.', '\\.')} unavailable \\(disabled by LOOPWATCH_TEST_DISABLE_INTERNALS, tests only\\): requestScope 'connection'`));
  }
});

test("request context, scope 'request': through node:http's parser callbacks; with http.parserCallbacks off, from the channel, said once through its onError", () => {
  const expr = `const { createRequestContext } = require(${JSON.stringify(require.resolve('../../../agent/dist/attribution/request-context.js'))});
    const said = [];
    const onError = (what, err) => said.push(what);
    const a = createRequestContext('request', onError);
    const b = createRequestContext('request', onError);
    const mechanisms = [a.mechanism, b.mechanism];
    const needs = [a.needsPerRequest(), b.needsPerRequest()];
    a.stop(); b.stop();
    setImmediate(() => console.log(JSON.stringify({ mechanisms, needs, said })));`;
  for (const name of ['', 'http.parserCallbacks']) {
    const r = spawnSync(process.execPath, ['-e', expr], { encoding: 'utf8', env: { ...process.env, LOOPWATCH_TEST_DISABLE_INTERNALS: name } });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '', `${name}: nothing on stderr, it went to onError`);
    const o = JSON.parse(r.stdout);
    if (!name) {
      assert.deepEqual(o, { mechanisms: ['parser', 'parser'], needs: [false, false], said: [] });
      continue;
    }
    assert.deepEqual(o.mechanisms, ['channel', 'channel']);
    assert.deepEqual(o.needs, [true, true], 'from the channel: every request');
    assert.equal(o.said.length, 1, JSON.stringify(o.said));
    assert.match(o.said[0], /^private internal http\.parserCallbacks unavailable \(disabled by LOOPWATCH_TEST_DISABLE_INTERNALS, tests only\): requestScope 'request' enters/);
  }
});
