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
