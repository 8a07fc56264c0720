// The per-request bookkeeping of the thread side (agent/src/attribution/thread.ts), driven through the real
// `http.server.request.start` channel with span events live (a real tracer provider registered).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dc from 'node:diagnostics_channel';
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
// The requests published here have no connection and no parser: under requestScope 'request' only the frame entered
// from the channel carries them, so node:http's parser callbacks are forced off for this file (read at load).
process.env.LOOPWATCH_TEST_DISABLE_INTERNALS = 'http.parserCallbacks';
const api = require('@opentelemetry/api');
const { TracerProvider } = require('@opentelemetry/sdk-trace');
const { startThreadAttribution } = require('../../../agent/dist/attribution/thread.js');

api.trace.setGlobalTracerProvider(new TracerProvider());
const channel = dc.channel('http.server.request.start');
function publish(url) {
  const request = { method: 'GET', url };
  const response = new EventEmitter();
  response.req = request;
  channel.publish({ request, response, socket: null, server: null });
  return response;
}

test('with span events, a response closing without its request cannot throw into the app; published requests of no real server are not in flight', () => {
  const handle = startThreadAttribution({ spanEvents: true });
  try {
    const [a, b, c] = ['/a', '/b', '/c'].map(publish);
    assert.equal(handle.sample().inflight, 0, 'in flight means on a listening server');
    // A framework replaced or removed `res.req`: closing it must neither throw (this runs in the app's emit) nor
    // disturb the others.
    delete b.req;
    assert.doesNotThrow(() => b.emit('close'));
    a.emit('close');
    c.emit('close');
    c.emit('close');
    assert.equal(handle.sample().inflight, 0);
  } finally {
    handle.stop();
  }
});

async function listening(handler) {
  const http = require('node:http');
  const server = http.createServer(handler);
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return server;
}
async function connect(server) {
  const net = require('node:net');
  const c = net.connect(server.address().port, '127.0.0.1');
  await new Promise((r) => c.once('connect', r));
  return c;
}
async function until(ok, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!ok() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

test("a real server's requests are counted from its connections when sampled: answered keep-alive connections drop out, a pipelined queue counts as its connection, dropped connections stop counting", async () => {
  const handle = startThreadAttribution({});
  let answered = 0;
  const server = await listening((req, res) => {
    if (req.url === '/answer') {
      answered++;
      res.end('ok');
    }
    // Everything else never answers.
  });
  try {
    const other = await connect(server);
    other.write('GET /other HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => handle.sample().inflight === 1);
    assert.equal(handle.sample().inflight, 1, 'the unanswered request');
    // An answered request on a connection kept alive is not in flight.
    const idle = await connect(server);
    idle.write('GET /answer HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => answered === 1);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(handle.sample().inflight, 1, 'an idle keep-alive connection is not a request in flight');
    const client = await connect(server);
    client.write('GET /first HTTP/1.1\r\nHost: x\r\n\r\nGET /second HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => handle.sample().inflight === 2);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(handle.sample().inflight, 2, 'the pipelined pair counts as its connection');
    client.destroy();
    await until(() => handle.sample().inflight === 1);
    assert.equal(handle.sample().inflight, 1);
    other.destroy();
    await until(() => handle.sample().inflight === 0);
    assert.equal(handle.sample().inflight, 0);
    idle.destroy();
  } finally {
    handle.stop();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

test('responses get no close listener (without span events); every listening server of the thread is counted, HTTPS too', async () => {
  const https = require('node:https');
  const { readFileSync } = require('node:fs');
  const { join } = require('node:path');
  let listeners = -1;
  const handler = (req, res) => {
    listeners = res.listenerCount('close');
    if (req.url === '/answer') res.end('ok');
  };
  const server = await listening(handler);
  const fixtures = join(import.meta.dirname, '..', 'fixtures', 'tls');
  const tls = https.createServer({ key: readFileSync(join(fixtures, 'key.pem')), cert: readFileSync(join(fixtures, 'cert.pem')) }, handler);
  await new Promise((r) => tls.listen(0, '127.0.0.1', r));
  const get = (url) => fetch(url).then((r) => r.text());
  try {
    // What node:http itself puts on a response, with no agent running.
    await get(`http://127.0.0.1:${server.address().port}/answer`);
    const base = listeners;
    const handle = startThreadAttribution({});
    const clients = [];
    try {
      await get(`http://127.0.0.1:${server.address().port}/answer`);
      assert.equal(listeners, base, 'no listener added per response');
      clients.push(await connect(server));
      clients[0].write('GET /hang HTTP/1.1\r\nHost: x\r\n\r\n');
      const agent = new https.Agent({ rejectUnauthorized: false });
      for (let i = 0; i < 2; i++) {
        clients.push(https.get(`https://127.0.0.1:${tls.address().port}/hang`, { agent }).on('error', () => {}));
      }
      await until(() => handle.sample().inflight === 3);
      assert.equal(handle.sample().inflight, 3, 'one HTTP and two HTTPS requests unanswered');
      for (const c of clients) c.destroy();
      await until(() => handle.sample().inflight === 0);
      assert.equal(handle.sample().inflight, 0);
    } finally {
      handle.stop();
    }
  } finally {
    for (const s of [server, tls]) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  }
});

test("requests: 'auto' tracks requests only where AsyncLocalStorage is cheap or already in use; true and false force it", async () => {
  const { AsyncLocalStorage } = require('node:async_hooks');
  const onHooks = typeof AsyncLocalStorage.prototype._propagate === 'function';
  let reported = 0;
  // Scope 'request': the requests published here have no connection, so only a frame each can carry them.
  let handle = startThreadAttribution({ requests: 'auto', requestScope: 'request', onUntrackedRequest: () => reported++ });
  try {
    assert.equal(handle.tracksRequests, !onHooks, 'auto: tracked on AsyncContextFrame, not on async_hooks');
    publish('/a').emit('close');
    // The request context is entered exactly when requests are tracked (it holds for the rest of this synchronous run).
    assert.equal(handle.sample().inRequest, !onHooks);
    publish('/b').emit('close');
    assert.equal(reported, onHooks ? 1 : 0, 'an untracked request is reported once');
    // Untracked, after that report, nothing listens per request any more (node:http then builds no message at all).
    assert.equal(channel.hasSubscribers, !onHooks, 'subscribed exactly while requests are tracked');
    if (onHooks) {
      // An OpenTelemetry context manager makes AsyncLocalStorage paid for: requests are tracked from the next
      // heartbeat on (refresh() is what the agent calls on every beat; nothing is looked up per request).
      const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
      api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
      try {
        publish('/b2').emit('close');
        assert.equal(handle.tracksRequests, false, 'not looked up on every request');
        handle.refresh();
        assert.equal(handle.tracksRequests, true);
        assert.equal(channel.hasSubscribers, true, 'subscribed again once requests are tracked');
        publish('/c').emit('close');
        assert.equal(handle.sample().inRequest, true, 'the first request after the beat is tracked');
      } finally {
        api.context.disable();
      }
    }
  } finally {
    handle.stop();
  }
  for (const requests of [true, false]) {
    handle = startThreadAttribution({ requests, requestScope: 'request', onUntrackedRequest: () => reported++ });
    try {
      assert.equal(handle.tracksRequests, requests);
      assert.equal(channel.hasSubscribers, requests, 'requests: false never listens per request');
      publish('/d').emit('close');
      assert.equal(handle.sample().inRequest, requests);
    } finally {
      handle.stop();
    }
  }
  assert.equal(reported, onHooks ? 1 : 0, 'forced on or off: nothing to report');
});

test('a server that started listening before the attribution is counted too', async () => {
  const server = await listening(() => {});
  const client = await connect(server);
  client.write('GET /hang HTTP/1.1\r\nHost: x\r\n\r\n');
  const handle = startThreadAttribution({});
  try {
    await until(() => handle.sample().inflight === 1);
    assert.equal(handle.sample().inflight, 1);
    client.destroy();
    await until(() => handle.sample().inflight === 0);
    assert.equal(handle.sample().inflight, 0);
  } finally {
    handle.stop();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

test("servers that are not a handle of their own are counted through their connections: unref()'d, closed with requests in flight, a cluster worker's under round-robin", async () => {
  const handle = startThreadAttribution({});
  const server = await listening(() => {});
  try {
    server.unref();
    const a = await connect(server);
    a.write('GET /hang HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => handle.sample().inflight === 1);
    assert.equal(handle.sample().inflight, 1, "an unref()'d server");
    // Graceful shutdown: no longer listening, its requests still in flight.
    const closed = new Promise((r) => server.close(r));
    assert.equal(handle.sample().inflight, 1, 'a server closed with a request in flight');
    a.destroy();
    await closed;
    await until(() => handle.sample().inflight === 0);
    assert.equal(handle.sample().inflight, 0);
  } finally {
    handle.stop();
    server.closeAllConnections();
  }
  const { spawnSync } = await import('node:child_process');
  const fixture = new URL('./fixtures/cluster-inflight.cjs', import.meta.url);
  const r = spawnSync(process.execPath, [fixture.pathname], { encoding: 'utf8', timeout: 30_000 });
  const line = JSON.parse(r.stdout.trim().split('\n').pop() || '{}');
  assert.equal(line.policy, 2, `round-robin scheduling (SCHED_RR): ${r.stdout}${r.stderr}`);
  assert.equal(line.inflight, 2, `a cluster worker's two hanging requests: ${r.stdout}${r.stderr}`);
});

test('route patterns name paths no framework names, in order, before the id heuristics', () => {
  const handle = startThreadAttribution({ requests: true, requestScope: 'request', routePatterns: ['/users/:name', '/static/*'] });
  try {
    publish('/users/alice?tab=orders');
    assert.equal(handle.sample().route, 'GET /users/:name', 'a letters-only id the heuristics cannot see');
    publish('/static/css/site.css');
    assert.equal(handle.sample().route, 'GET /static/*');
    publish('/orders/42');
    assert.equal(handle.sample().route, 'GET /orders/:id', 'no pattern: the heuristics');
  } finally {
    handle.stop();
  }
});

// This file runs with node:http's parser callbacks forced off (above), so 'connection' counts no requests per
// connection: a read after an await is 'keep-alive' (in a request, which one unknown) even on a connection's first
// request — the fallback is never a guess; the synchronous handler, as the parser called it, is still named.
test("request scope 'connection' without the parser internal: a real request's sample says 'keep-alive' after an await, never a route it cannot be sure of; nothing listens per request once every connection has its frame", async () => {
  let sampled;
  const handle = startThreadAttribution({ requests: true, requestScope: 'connection' });
  let syncSampled;
  const server = await listening(async (req, res) => {
    syncSampled = handle.sample();
    await new Promise((r) => setImmediate(r));
    sampled = handle.sample();
    res.end('ok');
  });
  try {
    const res = await fetch(`http://127.0.0.1:${server.address().port}/orders/42?token=secret`);
    assert.equal(await res.text(), 'ok');
    assert.equal(sampled.inRequest, true);
    assert.equal(sampled.route, undefined);
    assert.equal(sampled.unknownRequest, 'keep-alive');
    assert.equal(syncSampled.route, 'GET /orders/:id', 'the handler as the parser called it');
    handle.refresh();
    assert.equal(channel.hasSubscribers, false, 'no diagnostics_channel subscriber per request');
  } finally {
    handle.stop();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});
