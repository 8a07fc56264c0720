// When the watchdog pushes the stall in progress over OTLP: a fake clock and fake threads, a recording sender.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { StallPush } = require('../../../agent/dist/watchdog/otlp-push.js');

function setup({ afterMs = 1000, everyMs = 5000 } = {}) {
  const c = { ns: 10n ** 12n };
  const blocked = new Map([['main', 0], ['worker', 0]]);
  const threads = () => [...blocked.keys()].map((name) => ({ name, state: { running: true, blockedForMs: () => blocked.get(name) } }));
  const sent = [];
  const inFlight = [];
  let hold = false;
  const push = new StallPush({ afterMs, everyMs }, (points) => {
    sent.push(points);
    if (!hold) return Promise.resolve();
    return new Promise((resolve) => inFlight.push(resolve));
  });
  return {
    sent, blocked,
    holdSends: (v) => (hold = v),
    /** Completes the oldest send still in flight. */
    finishSend: async () => { inFlight.shift()(); await new Promise((r) => setImmediate(r)); },
    /** `ms` pass; the named thread has been blocked for `blockedMs` by then. */
    async at(ms, name, blockedMs) {
      c.ns += BigInt(ms * 1e6);
      if (name) blocked.set(name, blockedMs);
      push.poll(c.ns, threads());
      // Polls are timer callbacks apart: a finished send's bookkeeping (a promise reaction) runs in between.
      await new Promise((r) => setImmediate(r));
    },
  };
}

test('nothing is pushed while no thread has been blocked for afterMs', async () => {
  const s = setup();
  await s.at(100, 'main', 0);
  await s.at(600, 'main', 600);
  await s.at(399, 'main', 999);
  assert.deepEqual(s.sent, []);
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
});

test('a worker thread blocked while main runs is pushed with its own name', async () => {
  const s = setup();
  await s.at(1200, 'worker', 1200);
  assert.deepEqual(s.sent[0], [{ thread: 'main', seconds: 0 }, { thread: 'worker', seconds: 1.2 }]);
});

test('a thread that is not running (announced, not started, or gone) is left out', async () => {
  const s = setup();
  const push = new StallPush({ afterMs: 10, everyMs: 10 }, async (points) => s.sent.push(points));
  push.poll(1n, [{ name: 'gone', state: { running: false, blockedForMs: () => 5000 } }, { name: 'main', state: { running: true, blockedForMs: () => 20 } }]);
  assert.deepEqual(s.sent, [[{ thread: 'main', seconds: 0.02 }]]);
});

test('a slow endpoint: one push in flight, only the latest state waits, and the closing 0 is never lost', async () => {
  const s = setup({ afterMs: 1000, everyMs: 1000 });
  s.holdSends(true);
  await s.at(1000, 'main', 1000);
  await s.at(1000, 'main', 2000);
  await s.at(1000, 'main', 3000);
  await s.at(100, 'main', 0);
  assert.equal(s.sent.length, 1, 'nothing else starts while the first push is in flight');
  await s.finishSend();
  assert.equal(s.sent.length, 2);
  assert.equal(s.sent[1][0].seconds, 0, 'the pushes in between were superseded by the closing one');
  await s.finishSend();
  assert.equal(s.sent.length, 2);
});

// The real thing: a child process whose main thread blocks for 3 s, exporting over OTLP to a local server that plays
// the Collector. The push must arrive while the child is still blocked (before it prints "unblocked").
import { createServer } from 'node:http';
import { fixture, runChild } from '../helpers/child.mjs';

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

test("OTLP through the app's own SDK: the push carries the app's resource; http/protobuf by default", async (t) => {
  const c = await collector(t);
  const app = runChild(fixture('otlp-block.cjs'), { args: ['3000'], env: { OTEL_EXPORTER_OTLP_ENDPOINT: c.endpoint, OTLP_APP_SDK: '1', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' } });
  t.after(() => app.kill());
  await app.message('blocking');
  const during = await app.waitFor(() => c.posts.find((x) => x.url === '/v1/metrics' && inProgress(x).some((d) => d.seconds >= 1)), { what: 'a push' });
  assert.equal(app.messages.some((m) => m.type === 'unblocked'), false);
  const [point] = inProgress(during);
  assert.equal(point.resource['service.name'], 'app-sdk');
  assert.equal(point.resource['deployment.environment.name'], 'test');

  const proto = await collector(t);
  const app2 = runChild(fixture('otlp-block.cjs'), { args: ['3000'], env: { OTEL_EXPORTER_OTLP_ENDPOINT: proto.endpoint } });
  t.after(() => app2.kill());
  await app2.message('blocking');
  const pb = await app2.waitFor(() => proto.posts.find((x) => x.url === '/v1/metrics'), { what: 'a protobuf push' });
  assert.equal(app2.messages.some((m) => m.type === 'unblocked'), false, 'pushed during the block');
  assert.equal(pb.type, 'application/x-protobuf');
  assert.ok(pb.body.includes('loopwatch.eventloop.stall.in_progress'));
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
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' },
  });
  t.after(() => app.kill());
  await app.message('blocking');
  const req = await app.waitFor(() => received.find((b) => b.includes('loopwatch.eventloop.stall.in_progress')), { what: 'a gRPC push' });
  assert.ok(req);
  assert.equal(app.messages.some((m) => m.type === 'unblocked'), false, 'pushed during the block');
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
