// Starting costs little (issue 22, item 9): what the configuration does not use is not loaded. Each case runs a fresh
// process and reads its require cache and Node's list of loaded builtins once the agent is ready.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { runChild } from '../helpers/child.mjs';

const DIST = '/agent/dist/';
/** The OpenTelemetry SDK and what exports through it: only for an OTLP endpoint (or an app's MeterProvider). */
const SDK = [
  '/node_modules/@opentelemetry/sdk-metrics/',
  '/node_modules/@opentelemetry/sdk-logs/',
  '/node_modules/@opentelemetry/resources/',
  '/node_modules/@opentelemetry/exporter-metrics-otlp-proto/',
  '/node_modules/@opentelemetry/exporter-logs-otlp-proto/',
  '/node_modules/@opentelemetry/otlp-transformer/',
];
/** Never for the default configuration either: the API (loaded once something registers with it), and protobufjs (which an OTLP/gRPC exporter brings). */
const ALSO_NOT_BY_DEFAULT = ['/node_modules/@opentelemetry/api/', '/node_modules/protobufjs/', '/node_modules/@grpc/'];
/** loopwatch's own modules behind a configuration or a first use. */
const OWN_EXPORT = ['export/otel-own.js', 'export/otel-producer.js', 'export/otel-replay.js', 'export/otlp-push.js'].map((f) => DIST + f);
const APP_REGISTRY = ['/node_modules/prom-client/', DIST + 'export/prometheus.js', DIST + 'export/exposition.js'];
const POOL_ADAPTERS = ['pools/monitor.js', 'pools/adapters/pg.js', 'pools/adapters/mysql2.js', 'pools/adapters/undici.js', 'pools/adapters/custom.js'].map((f) => DIST + f);

const loadedOf = (files, prefixes) => prefixes.filter((p) => files.some((f) => f.includes(p)));

async function loaded(t, { env = {}, mode, preload = !mode?.startsWith('in-loop') && mode !== 'require-only' } = {}) {
  const app = runChild(fileURLToPath(new URL('./fixtures/loaded-modules.cjs', import.meta.url)), { execArgv: preload ? ['--require', 'loopwatch/register'] : [], env, args: mode ? [mode] : [] });
  t.after(() => app.kill());
  const m = await app.message('loaded');
  return { ...m, app, stderr: app.stderr };
}

test('the default configuration loads neither the OpenTelemetry SDK nor an exporter, prom-client, or the pool adapters', async (t) => {
  const m = await loaded(t);
  assert.equal(m.enabled, true);
  assert.deepEqual(loadedOf(m.files, SDK), []);
  assert.deepEqual(loadedOf(m.files, ALSO_NOT_BY_DEFAULT), []);
  assert.deepEqual(loadedOf(m.files, OWN_EXPORT), []);
  assert.deepEqual(loadedOf(m.files, APP_REGISTRY), []);
  assert.deepEqual(loadedOf(m.files, POOL_ADAPTERS), []);
  // The agent itself runs: the heartbeat's and the watchdog's modules are there, and the threadpool monitor started
  // with the node:crypto its probe uses — before the app's first line, as the loop was not running yet.
  assert.deepEqual(loadedOf(m.atMainStart, [DIST + 'heartbeat/monitor.js', DIST + 'watchdog/spawn.js', DIST + 'pools/threadpool.js']).length, 3);
  assert.ok(m.builtins.includes('crypto'));
});

test("start() from a running loop leaves the threadpool monitor (and node:crypto) to the loop's next turn", async (t) => {
  const m = await loaded(t, { mode: 'in-loop' });
  assert.equal(m.enabled, true);
  assert.deepEqual(loadedOf(m.atStartReturn, [DIST + 'heartbeat/monitor.js', DIST + 'watchdog/spawn.js']).length, 2);
  assert.deepEqual(loadedOf(m.atStartReturn, [DIST + 'pools/threadpool.js', DIST + 'pools/threadpool-probe.js']), []);
  assert.deepEqual(loadedOf(m.files, [DIST + 'pools/threadpool.js', DIST + 'pools/threadpool-probe.js']).length, 2);
  assert.deepEqual(loadedOf(m.files, [...SDK, ...ALSO_NOT_BY_DEFAULT, ...OWN_EXPORT, ...APP_REGISTRY, ...POOL_ADAPTERS]), []);
});

async function otlpCollector(t) {
  const collector = { exports: 0, logs: [] };
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/v1/metrics') collector.exports++;
      if (req.url === '/v1/logs') collector.logs.push(Buffer.concat(chunks).toString('latin1'));
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  collector.endpoint = `http://127.0.0.1:${server.address().port}`;
  return collector;
}

for (const mode of ['preloaded', 'in-loop']) {
  test(`an OTLP endpoint loads the SDK and its exporter (${mode === 'preloaded' ? 'before the app runs, under loopwatch/register' : "in the turns after an app's start() from a running loop"}), and the agent exports through them`, async (t) => {
    const collector = await otlpCollector(t);
    const first = await loaded(t, { mode, env: { OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint, OTEL_METRIC_EXPORT_INTERVAL: '300' } });
    const { app } = first;
    if (mode === 'preloaded') {
      // Before the loop runs, at once: the pipeline is there before the app's first block.
      assert.deepEqual(loadedOf(first.atMainStart, SDK), SDK);
    } else {
      // Not in the call: a package per later turn of the loop, so that none blocks the app's loop long.
      assert.deepEqual(loadedOf(first.atStartReturn, SDK), []);
    }
    await app.waitFor(() => collector.exports > 0, { what: 'an OTLP metrics export' });
    const seen = app.messages.length;
    const after = await app.waitFor(() => app.messages.length > seen && app.messages.at(-1), { what: 'a report after the export' });
    assert.deepEqual(loadedOf(after.files, SDK), SDK);
    // loopwatch's own pipeline; the histogram replay is for an app's MeterProvider only.
    const ownPipeline = OWN_EXPORT.filter((f) => !f.endsWith('otel-replay.js'));
    assert.deepEqual(loadedOf(after.files, OWN_EXPORT), ownPipeline);
    // Still nothing of what OTLP does not use.
    assert.deepEqual(loadedOf(after.files, APP_REGISTRY), []);
    assert.deepEqual(loadedOf(after.files, POOL_ADAPTERS), []);
    assert.doesNotMatch(app.stderr, /\[loopwatch\]/);
  });
}

test('a stall that ends while the OTLP pipeline loads in turns still gets its log record', async (t) => {
  const collector = await otlpCollector(t);
  const { app } = await loaded(t, {
    mode: 'in-loop-block',
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint, OTEL_BLRP_SCHEDULE_DELAY: '200', LOOPWATCH_STALL_THRESHOLD_MS: '100' },
  });
  // The first stall ended while the pipeline was still loading (one step per turn, each turn blocked): its record is
  // exported all the same, found by its stall id (protobuf keeps the strings as they are).
  const first = await app.waitFor(() => app.messages.at(-1)?.stallIds?.[0], { what: 'a stall event' });
  await app.waitFor(() => collector.logs.some((r) => r.includes(first)), { what: `the log record of stall ${first}` });
  assert.doesNotMatch(app.stderr, /\[loopwatch\]/);
});

test("the pool adapters load with the first pool handed to monitorPool(); LOOPWATCH_THREADPOOL=off loads no threadpool monitor", async (t) => {
  const withPool = await loaded(t, { mode: 'monitor-pool' });
  assert.deepEqual(loadedOf(withPool.files, [DIST + 'pools/monitor.js', DIST + 'pools/adapters/custom.js']).length, 2);
  assert.doesNotMatch(withPool.stderr, /\[loopwatch\]/);
  const off = await loaded(t, { env: { LOOPWATCH_THREADPOOL: 'off' } });
  assert.deepEqual(loadedOf(off.files, [DIST + 'pools/threadpool.js', DIST + 'pools/threadpool-probe.js']), []);
});

test("require('loopwatch') loads the agent's configuration and exports only, and starts nothing", async (t) => {
  const m = await loaded(t, { mode: 'require-only', preload: false });
  const own = m.files.filter((f) => f.includes(DIST));
  // The agent (heartbeat, watchdog, attribution, exporters) loads with the first start().
  assert.deepEqual(own.filter((f) => /\/(core\/agent|heartbeat|watchdog|attribution\/thread|stall|pools|export\/otel)/.test(f)), []);
  assert.ok(own.some((f) => f.endsWith(DIST + 'index.js')));
  assert.ok(!m.builtins.includes('worker_threads') || m.resourcesBefore.length === m.resourcesAfter.length);
  assert.deepEqual(m.resourcesAfter, m.resourcesBefore);
});
