// When the watchdog pushes the stall in progress over OTLP: a fake clock and fake threads, a recording sender.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { StallPush } = require('../../../agent/dist/export/otlp-push.js');

function setup({ afterMs = 1000, everyMs = 5000 } = {}) {
  const c = { ns: 10n ** 12n, wall: 1_700_000_000_000 };
  const blocked = new Map([['main', 0], ['worker', 0]]);
  const threads = () => [...blocked.keys()].map((name) => ({ name, state: { running: true, blockedForMs: () => blocked.get(name) } }));
  const sent = [];
  const times = [];
  const episodes = [];
  const inFlight = [];
  let hold = false;
  const push = new StallPush(
    { afterMs, everyMs },
    (points, atMs) => {
      sent.push(points);
      times.push(atMs);
      if (!hold) return Promise.resolve();
      return new Promise((resolve) => inFlight.push(resolve));
    },
    (open) => episodes.push(open),
    () => c.wall,
  );
  const tick = () => new Promise((r) => setImmediate(r));
  return {
    push, sent, times, episodes, blocked,
    holdSends: (v) => (hold = v),
    /** Completes the oldest send still in flight. */
    finishSend: async () => { inFlight.shift()(); await tick(); },
    /** `ms` pass; the named thread has been blocked for `blockedMs` by then. */
    async at(ms, name, blockedMs) {
      c.ns += BigInt(ms * 1e6);
      c.wall += ms;
      if (name) blocked.set(name, blockedMs);
      push.poll(c.ns, threads());
      // Polls are timer callbacks apart: a finished send's bookkeeping (a promise reaction) runs in between.
      await tick();
    },
    /** The thread leaves the directory (a terminated worker). */
    gone: (name) => blocked.delete(name),
  };
}

test('nothing is pushed while no thread has been blocked for afterMs', async () => {
  const s = setup();
  await s.at(100, 'main', 0);
  await s.at(600, 'main', 600);
  await s.at(399, 'main', 999);
  assert.deepEqual(s.sent, []);
  assert.deepEqual(s.episodes, []);
});

test('a block is pushed at afterMs, then every everyMs, then once more with 0 when it ends', async () => {
  const s = setup();
  await s.at(1000, 'main', 1000);
  assert.deepEqual(s.sent, [[{ thread: 'main', seconds: 1 }, { thread: 'worker', seconds: 0 }]]);
  await s.at(50, 'main', 1050);
  await s.at(4900, 'main', 5950);
  assert.equal(s.sent.length, 1, 'not again before everyMs');
  await s.at(50, 'main', 6000);
  assert.equal(s.sent.length, 2);
  assert.equal(s.sent[1][0].seconds, 6);
  await s.at(100, 'main', 0);
  assert.equal(s.sent.length, 3);
  assert.deepEqual(s.sent[2], [{ thread: 'main', seconds: 0 }, { thread: 'worker', seconds: 0 }]);
  await s.at(100, 'main', 0);
  assert.equal(s.sent.length, 3, 'one closing push, not one per poll');
  assert.equal(s.episodes.at(-1), false, 'the episode is closed once its 0s are sent');
  assert.equal(s.episodes.filter((e) => e === false).length, 1);
});

test('a worker thread blocked while main runs is pushed with its own name', async () => {
  const s = setup();
  await s.at(1200, 'worker', 1200);
  assert.deepEqual(s.sent[0], [{ thread: 'main', seconds: 0 }, { thread: 'worker', seconds: 1.2 }]);
});

test('a thread that goes away mid-episode still gets its 0 (a backend keeps the last value it heard)', async () => {
  const s = setup();
  await s.at(1500, 'worker', 1500);
  s.gone('worker');
  await s.at(100);
  assert.deepEqual(s.sent.at(-1), [{ thread: 'main', seconds: 0 }, { thread: 'worker', seconds: 0 }]);
  // A thread that is not running and was never pushed is left out.
  const sent = [];
  const push = new StallPush({ afterMs: 10, everyMs: 10 }, async (points) => sent.push(points));
  push.poll(1n, [{ name: 'idle', state: { running: false, blockedForMs: () => 5000 } }, { name: 'main', state: { running: true, blockedForMs: () => 20 } }]);
  assert.deepEqual(sent, [[{ thread: 'main', seconds: 0.02 }]]);
});

test('close() ends an open episode with 0s at once and resolves once they are sent; without one it sends nothing', async () => {
  const idle = setup();
  await idle.push.close();
  assert.deepEqual(idle.sent, []);
  const s = setup();
  await s.at(2000, 'main', 2000);
  s.holdSends(true);
  const closed = s.push.close();
  let done = false;
  closed.then(() => (done = true));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(s.sent.at(-1), [{ thread: 'main', seconds: 0 }]);
  assert.equal(done, false, 'not before the closing push is sent');
  await s.finishSend();
  assert.equal(done, true);
  assert.equal(s.episodes.at(-1), false);
  // For good: the agent is stopping, a thread still blocked must not open a new episode.
  await s.at(1000, 'main', 3000);
  assert.deepEqual(s.sent.at(-1), [{ thread: 'main', seconds: 0 }]);
});

test('each data point is stamped with the time its value was read, not the time a slow endpoint let it go', async () => {
  const s = setup({ afterMs: 1000, everyMs: 1000 });
  s.holdSends(true);
  await s.at(1000, 'main', 1000);
  await s.at(1000, 'main', 2000);
  const readAt = 1_700_000_000_000 + 2000;
  await s.at(3000, 'main', 5000);
  await s.finishSend();
  assert.equal(s.sent[1][0].seconds, 5);
  assert.equal(s.times[1], readAt + 3000);
});

test('a slow endpoint: one push in flight, only the latest state waits, and the closing 0s are never lost', async () => {
  const s = setup({ afterMs: 1000, everyMs: 1000 });
  s.holdSends(true);
  await s.at(1000, 'worker', 1000);
  s.gone('worker');
  await s.at(1000, 'main', 2000);
  await s.at(1000, 'main', 3000);
  await s.at(100, 'main', 0);
  assert.equal(s.sent.length, 1, 'nothing else starts while the first push is in flight');
  await s.finishSend();
  assert.equal(s.sent.length, 2);
  assert.deepEqual(s.sent[1], [{ thread: 'main', seconds: 0 }, { thread: 'worker', seconds: 0 }], 'the waiting pushes were merged into the closing one');
  await s.finishSend();
  assert.equal(s.sent.length, 2);
  assert.equal(s.episodes.at(-1), false);
});

// The real thing: a child process whose main thread blocks for 3 s, exporting over OTLP to a local server that plays
// the Collector. The push must arrive while the child is still blocked (before it prints "unblocked").
import { createServer } from 'node:http';
import { fixture, runChild } from '../helpers/child.mjs';
import { decodeMetricsRequest } from '../helpers/otlp-proto.mjs';

async function collector(t) {
  const posts = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => {
      posts.push({ url: req.url, type: req.headers['content-type'], body: Buffer.concat(chunks) });
      res.writeHead(200, { 'content-type': req.headers['content-type'] ?? 'application/json' }).end(req.headers['content-type']?.includes('json') ? '{}' : '');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  return { posts, endpoint: `http://127.0.0.1:${server.address().port}` };
}

/** The in-progress data points of an OTLP/JSON metrics request, with its resource attributes. */
function inProgress(post) {
  const rms = JSON.parse(post.body.toString()).resourceMetrics ?? [];
  return rms.flatMap((rm) =>
    rm.scopeMetrics
      .filter((s) => s.scope.name === 'loopwatch')
      .flatMap((s) => s.metrics.filter((m) => m.name === 'loopwatch.eventloop.stall.in_progress'))
      .flatMap((m) => m.gauge.dataPoints.map((p) => ({
        thread: p.attributes.find((a) => a.key === 'thread.name').value.stringValue,
        seconds: p.asDouble ?? 0,
        unit: m.unit,
        resource: Object.fromEntries(rm.resource.attributes.map((a) => [a.key, Object.values(a.value)[0]])),
        metrics: rm.scopeMetrics.flatMap((s) => s.metrics.map((x) => x.name)),
      }))),
  );
}

test('OTLP (http/json): the watchdog pushes the stall in progress while the main thread is blocked, then 0', async (t) => {
  const c = await collector(t);
  const app = runChild(fixture('otlp-block.cjs'), {
    args: ['3000'],
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: c.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_SERVICE_NAME: 'checkout-api' },
  });
  t.after(() => app.kill());
  await app.message('blocking');
  const during = await app.waitFor(() => {
    const p = c.posts.find((x) => x.url === '/v1/metrics' && inProgress(x).some((d) => d.thread === 'main' && d.seconds >= 1));
    return p && { post: p, unblocked: app.messages.some((m) => m.type === 'unblocked') };
  }, { what: 'a push of the stall in progress' });
  assert.equal(during.unblocked, false, 'the push arrived while the main thread was still blocked');
  const [point] = inProgress(during.post);
  assert.ok(point.seconds >= 1 && point.seconds < 3, `blocked ${point.seconds} s at the first push`);
  assert.equal(point.unit, 's');
  assert.equal(point.resource['service.name'], 'checkout-api', 'the same resource as the main thread export');
  assert.deepEqual(point.metrics, ['loopwatch.eventloop.stall.in_progress'], 'only the gauge the main thread cannot send');
  await app.message('unblocked');
  const closing = await app.waitFor(
    () => c.posts.find((x) => x.url === '/v1/metrics' && x !== during.post && inProgress(x).some((d) => d.thread === 'main' && d.seconds === 0) && inProgress(x).length === 1),
    { what: 'the closing push' },
  );
  assert.ok(closing);
});

/** In-progress points of decoded protobuf requests, with their resource, scope and type. */
const pbInProgress = (requests) =>
  requests.flatMap((rm) =>
    rm.scopeMetrics.flatMap((sm) =>
      sm.metrics
        .filter((m) => m.name === 'loopwatch.eventloop.stall.in_progress')
        .flatMap((m) => m.points.map((p) => ({ thread: p.attributes['thread.name'], seconds: p.value, type: m.type, unit: m.unit, scope: sm.scope, resource: rm.resource, metrics: sm.metrics.map((x) => x.name) }))),
    ),
  );

test("the app's NodeSDK, its endpoint set after loopwatch started: the push goes there, protobuf, with the app export's resource", async (t) => {
  const c = await collector(t);
  const app = runChild(fixture('otlp-block.cjs'), {
    args: ['3000'],
    env: {
      LATE_OTLP_ENDPOINT: c.endpoint,
      OTLP_APP_SDK: 'node',
      BLOCK_AFTER_MS: '2500',
      OTEL_METRIC_EXPORT_INTERVAL: '1000',
      OTEL_TRACES_EXPORTER: 'none',
      OTEL_LOGS_EXPORTER: 'none',
    },
  });
  t.after(() => app.kill());
  await app.message('blocking');
  const decoded = () => c.posts.filter((x) => x.url === '/v1/metrics').map((x) => ({ post: x, rms: decodeMetricsRequest(x.body) }));
  const during = await app.waitFor(() => decoded().find((d) => pbInProgress(d.rms).some((p) => p.seconds >= 1)), { what: 'a protobuf push' });
  assert.equal(app.messages.some((m) => m.type === 'unblocked'), false, 'pushed during the block');
  assert.equal(during.post.type, 'application/x-protobuf');
  const [point] = pbInProgress(during.rms);
  assert.equal(point.type, 'gauge');
  assert.equal(point.unit, 's');
  assert.equal(point.thread, 'main');
  assert.ok(point.seconds >= 1 && point.seconds < 3, String(point.seconds));
  assert.deepEqual(point.metrics, ['loopwatch.eventloop.stall.in_progress']);
  // The app's own export (before the block) carries loopwatch's other metrics: same resource — detectors' async
  // attributes included —, same scope, so the Collector sees one series.
  const appExport = decoded().find((d) => d.rms.some((rm) => rm.scopeMetrics.some((sm) => sm.metrics.some((m) => m.name === 'nodejs.eventloop.delay.p99'))));
  assert.ok(appExport, 'the app exported before the block');
  const appRm = appExport.rms.find((rm) => rm.scopeMetrics.some((sm) => sm.scope.name === 'loopwatch'));
  assert.equal(point.resource['service.name'], 'app-sdk');
  assert.deepEqual(point.resource, appRm.resource);
  assert.deepEqual(point.scope, appRm.scopeMetrics.find((sm) => sm.scope.name === 'loopwatch').scope);
});

test('OTLP over gRPC: the push reaches the MetricsService while the main thread is blocked', async (t) => {
  const grpc = require('@grpc/grpc-js');
  const received = [];
  const server = new grpc.Server();
  // No .proto needed: the request's bytes are kept as they are, the response is an empty ExportMetricsServiceResponse.
  server.addService(
    {
      Export: {
        path: '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
        requestStream: false,
        responseStream: false,
        requestDeserialize: (b) => b,
        responseSerialize: () => Buffer.alloc(0),
      },
    },
    { Export: (call, done) => { received.push(call.request); done(null, {}); } },
  );
  const port = await new Promise((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  t.after(() => server.forceShutdown());
  const app = runChild(fixture('otlp-block.cjs'), {
    args: ['3000'],
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_SERVICE_NAME: 'grpc-app' },
  });
  t.after(() => app.kill());
  await app.message('blocking');
  const point = await app.waitFor(() => received.flatMap((b) => pbInProgress(decodeMetricsRequest(b))).find((p) => p.seconds >= 1), { what: 'a gRPC push' });
  assert.equal(app.messages.some((m) => m.type === 'unblocked'), false, 'pushed during the block');
  assert.equal(point.type, 'gauge');
  assert.equal(point.resource['service.name'], 'grpc-app');
});

test('process.exit() right after a block: the episode still ends with its 0 (the exit handler waits for it, briefly)', async (t) => {
  const c = await collector(t);
  const app = runChild(fixture('otlp-block.cjs'), {
    args: ['3000'],
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: c.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', AFTER_BLOCK: 'exit' },
  });
  t.after(() => app.kill());
  const { code } = await app.exited;
  assert.equal(code, 0, app.stderr);
  const values = c.posts.filter((x) => x.url === '/v1/metrics').flatMap(inProgress).map((d) => d.seconds);
  assert.ok(values.some((v) => v >= 1), `pushed during the block: ${values}`);
  assert.equal(values.at(-1), 0, `the last value the backend heard: ${values}`);
});

test('agent.stop() while a worker thread is still blocked: the episode ends with its 0 before the watchdog goes', async (t) => {
  const c = await collector(t);
  const app = runChild(fixture('otlp-block.cjs'), {
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: c.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', WORKER_BLOCK: '1' },
  });
  t.after(() => app.kill());
  await app.message('stopped');
  const values = c.posts.filter((x) => x.url === '/v1/metrics').flatMap(inProgress).filter((d) => d.thread === 'crunch').map((d) => d.seconds);
  assert.ok(values.some((v) => v >= 1), `the worker's block was pushed: ${values}`);
  // Still blocked when the agent stopped: only the closing push can have sent this 0.
  assert.equal(values.at(-1), 0, `the last value the backend heard: ${values}`);
});

test("an app MeterProvider that does not export over OTLP: nothing is pushed, though an OTLP endpoint is set (for traces)", async (t) => {
  const c = await collector(t);
  const app = runChild(fixture('otlp-block.cjs'), { args: ['2500'], env: { OTEL_EXPORTER_OTLP_ENDPOINT: c.endpoint, OTLP_APP_SDK: 'memory' } });
  t.after(() => app.kill());
  await app.message('unblocked');
  // A push would have come ~1 s into the 2.5 s block.
  assert.deepEqual(c.posts.map((x) => x.url), []);
});

test('LOOPWATCH_OTEL_STALL_PUSH=off: nothing is pushed during the block', async (t) => {
  const c = await collector(t);
  const app = runChild(fixture('otlp-block.cjs'), {
    args: ['2500'],
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: c.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', LOOPWATCH_OTEL_STALL_PUSH: 'off' },
  });
  t.after(() => app.kill());
  await app.message('unblocked');
  // A push would have come ~1 s into the 2.5 s block; the stall's log record, exported after the block, is a later
  // deadline still.
  await app.waitFor(() => c.posts.some((x) => x.url === '/v1/logs'), { what: 'the stall log record' });
  assert.deepEqual(c.posts.filter((x) => x.url === '/v1/metrics').flatMap(inProgress).filter((d) => d.seconds > 0), []);
});
