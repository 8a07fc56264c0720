// The per-request bookkeeping of the thread side (agent/src/attribution/thread.ts), driven through the real
// `http.server.request.start` channel with span events live (a real tracer provider registered).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dc from 'node:diagnostics_channel';
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
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

test('in-flight count follows responses closing, never below zero; a response without its request cannot throw into the app', () => {
  const handle = startThreadAttribution({ spanEvents: true });
  try {
    const [a, b, c] = ['/a', '/b', '/c'].map(publish);
    assert.equal(handle.sample().inflight, 3);
    // A framework replaced or removed `res.req`: closing it must neither throw (this runs in the app's emit) nor
    // disturb the others.
    delete b.req;
    assert.doesNotThrow(() => b.emit('close'));
    assert.equal(handle.sample().inflight, 2);
    a.emit('close');
    c.emit('close');
    assert.equal(handle.sample().inflight, 0);
    c.emit('close');
    assert.equal(handle.sample().inflight, 0);
    // Still counting afterwards.
    const d = publish('/d');
    assert.equal(handle.sample().inflight, 1);
    d.emit('close');
  } finally {
    handle.stop();
  }
});

test('a pipelined request queued behind an unanswered one stops counting when the client drops the connection', async () => {
  const http = require('node:http');
  const net = require('node:net');
  const handle = startThreadAttribution({});
  const server = http.createServer(() => {
    // Never answers: the second request stays queued behind the first.
  });
  try {
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    const connect = async () => {
      const c = net.connect(server.address().port, '127.0.0.1');
      await new Promise((r) => c.once('connect', r));
      return c;
    };
    const deadline = Date.now() + 5000;
    const until = async (ok) => {
      while (!ok() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    };
    // Another connection's request stays in flight throughout: a response ended twice (by its own 'close' and by
    // its socket's) would take it down with it.
    const other = await connect();
    other.write('GET /other HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => handle.sample().inflight === 1);
    const client = await connect();
    client.write('GET /first HTTP/1.1\r\nHost: x\r\n\r\nGET /second HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => handle.sample().inflight === 3);
    assert.equal(handle.sample().inflight, 3, 'all three requests started');
    client.destroy();
    await until(() => handle.sample().inflight <= 1);
    // Before the fix, Node 22 never closed the queued response: the count stayed one too high for good.
    assert.equal(handle.sample().inflight, 1);
    // Settled: nothing closes late and takes the other request's count.
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(handle.sample().inflight, 1);
    other.destroy();
    await until(() => handle.sample().inflight === 0);
    assert.equal(handle.sample().inflight, 0);
  } finally {
    handle.stop();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

test("requests: 'auto' tracks requests only where AsyncLocalStorage is cheap or already in use; true and false force it", async () => {
  const { AsyncLocalStorage } = require('node:async_hooks');
  const onHooks = typeof AsyncLocalStorage.prototype._propagate === 'function';
  let reported = 0;
  let handle = startThreadAttribution({ requests: 'auto', onUntrackedRequest: () => reported++ });
  try {
    assert.equal(handle.tracksRequests, !onHooks, 'auto: tracked on AsyncContextFrame, not on async_hooks');
    publish('/a').emit('close');
    // The request context is entered exactly when requests are tracked (it holds for the rest of this synchronous run).
    assert.equal(handle.sample().inRequest, !onHooks);
    publish('/b').emit('close');
    assert.equal(reported, onHooks ? 1 : 0, 'an untracked request is reported once');
    if (onHooks) {
      // An OpenTelemetry context manager makes AsyncLocalStorage paid for: the next request starts tracking.
      const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
      api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
      try {
        publish('/c').emit('close');
        assert.equal(handle.tracksRequests, true);
        assert.equal(handle.sample().inRequest, true, 'the first request after the context manager is tracked');
      } finally {
        api.context.disable();
      }
    }
  } finally {
    handle.stop();
  }
  for (const requests of [true, false]) {
    handle = startThreadAttribution({ requests, onUntrackedRequest: () => reported++ });
    try {
      assert.equal(handle.tracksRequests, requests);
      publish('/d').emit('close');
      assert.equal(handle.sample().inRequest, requests);
    } finally {
      handle.stop();
    }
  }
  assert.equal(reported, onHooks ? 1 : 0, 'forced on or off: nothing to report');
});

test('pipelined requests after the attribution was stopped and started again on the same keep-alive connection still end with it', async () => {
  const http = require('node:http');
  const net = require('node:net');
  let handle = startThreadAttribution({});
  const server = http.createServer((req, res) => {
    if (req.url.startsWith('/answered')) res.end('ok');
    // '/hang…' never answers.
  });
  try {
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    const client = net.connect(server.address().port, '127.0.0.1');
    await new Promise((r) => client.once('connect', r));
    const deadline = Date.now() + 5000;
    const until = async (ok) => {
      while (!ok() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    };
    let answers = '';
    client.on('data', (d) => (answers += d));
    // A pipelined pair, both answered: the first instance leaves its queue and socket listener on this socket.
    client.write('GET /answered1 HTTP/1.1\r\nHost: x\r\n\r\nGET /answered2 HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => (answers.match(/HTTP\/1\.1 200/g) ?? []).length === 2);
    assert.equal(handle.sample().inflight, 0);
    handle.stop();
    handle = startThreadAttribution({});
    client.write('GET /hang1 HTTP/1.1\r\nHost: x\r\n\r\nGET /hang2 HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => handle.sample().inflight === 2);
    assert.equal(handle.sample().inflight, 2, 'both requests started');
    client.destroy();
    await until(() => handle.sample().inflight === 0);
    // With the queue shared between instances, the stopped one's socket listener ended the queued response on its
    // own count and this one stayed at 1 (Node 22).
    assert.equal(handle.sample().inflight, 0);
  } finally {
    handle.stop();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});
