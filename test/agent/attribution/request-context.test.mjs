// Which request the running code serves (agent/src/attribution/request-context.ts), on real node:http(s) servers:
// one AsyncLocalStorage frame per connection, none per request, and the request named when asked — or why not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dc from 'node:diagnostics_channel';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { AsyncLocalStorage, AsyncResource } from 'node:async_hooks';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';
import { createRequire } from 'node:module';
import { close, countingFrames, listen } from '../helpers/frames.mjs';

const require = createRequire(import.meta.url);
const { createRequestContext } = require('../../../agent/dist/attribution/request-context.js');

const errors = [];
const onError = (what, err) => errors.push([what, err]);

/** The agent's per-request call (thread.ts does it from this channel). */
function entering(ctx) {
  const onStart = ({ request }) => ctx.enter(request);
  dc.subscribe('http.server.request.start', onStart);
  return () => dc.unsubscribe('http.server.request.start', onStart);
}


/** GETs over one keep-alive connection, one after another. */
function client(port, { secure = false } = {}) {
  const mod = secure ? https : http;
  const agent = new mod.Agent({ keepAlive: true, maxSockets: 1, ...(secure ? { rejectUnauthorized: false } : {}) });
  return {
    get: (path) =>
      new Promise((resolve, reject) => {
        mod
          .get({ host: '127.0.0.1', port, path, agent }, (res) => {
            let body = '';
            res.on('data', (c) => (body += c)).on('end', () => resolve(body));
          })
          .on('error', reject);
      }),
    close: () => agent.destroy(),
  };
}

/**
 * A handler that reports what `ctx.current()` says of its request, synchronously (the parser called it) and after
 * two awaits: 'named' (both its request), else what the later read returned ('keep-alive', another request…).
 */
function naming(ctx, seen) {
  return async (req, res) => {
    const sync = ctx.current(true) === req;
    await tick();
    await new Promise((r) => setTimeout(r, 1));
    const later = ctx.current();
    seen.push(sync && later === req ? 'named' : sync && typeof later === 'string' ? later : 'wrong');
    res.end(req.url);
  };
}

test("connection scope: one frame per connection and none per request; the first request and everything it awaits is named, later ones where the parser called the code (after an await: 'keep-alive', never a guess)", async () => {
  for (const [scope, framesPerRequest] of [
    ['connection', 0],
    ['request', 1],
  ]) {
    const ctx = createRequestContext(scope, onError);
    const unsubscribe = entering(ctx);
    const seen = [];
    // Listening after the context exists: watched from listen() on.
    const server = await listen(http.createServer(naming(ctx, seen)));
    const c = client(server.address().port);
    try {
      await c.get('/warm');
      const frames = await countingFrames(async () => {
        for (let i = 0; i < 4; i++) assert.equal(await c.get(`/r${i}`), `/r${i}`);
      });
      assert.equal(frames, 4 * framesPerRequest, `${scope}: frames entered for 4 requests on one open connection`);
      const later = scope === 'connection' ? 'keep-alive' : 'named';
      assert.deepEqual(seen, ['named', later, later, later, later], `${scope}: each request, before and after its awaits`);
      // A new connection: one frame when it opens, and one to give the accepting code its own context back.
      const c2 = client(server.address().port);
      const onNew = await countingFrames(() => c2.get('/new'));
      c2.close();
      assert.equal(onNew, scope === 'connection' ? 2 : 1, `${scope}: frames for a new connection's first request`);
    } finally {
      c.close();
      unsubscribe();
      ctx.stop();
      await close(server);
    }
  }
  assert.deepEqual(errors, []);
});

test('a server listening before the context is made is watched too (HTTPS on its TLS socket); a connection it accepted before gets a frame per request', async () => {
  const seen = [];
  let ctx;
  const handler = (req, res) => (ctx ? naming(ctx, seen)(req, res) : res.end('before'));
  const fixtures = join(import.meta.dirname, '..', 'fixtures', 'tls');
  const plain = await listen(http.createServer(handler));
  const tls = await listen(https.createServer({ key: readFileSync(join(fixtures, 'key.pem')), cert: readFileSync(join(fixtures, 'cert.pem')) }, handler));
  // Opened before loopwatch looks: its requests run in no frame of ours.
  const early = client(plain.address().port);
  await early.get('/before');
  ctx = createRequestContext('connection', onError);
  const unsubscribe = entering(ctx);
  try {
    const earlyFrames = await countingFrames(async () => {
      await early.get('/e1');
      await early.get('/e2');
    });
    assert.equal(earlyFrames, 2, 'a connection accepted before: one frame per request');
    for (const [server, secure] of [
      [plain, false],
      [tls, true],
    ]) {
      const c = client(server.address().port, { secure });
      await c.get('/open');
      const frames = await countingFrames(async () => {
        await c.get('/a');
        await c.get('/b');
      });
      c.close();
      assert.equal(frames, 0, `${secure ? 'HTTPS' : 'HTTP'}: no frame per request on a connection accepted since`);
    }
    // 2 on the early connection (a frame each: exact), 3 each over HTTP and HTTPS (past the first, after an await:
    // which request is unknown).
    const kept = ['named', 'keep-alive', 'keep-alive'];
    assert.deepEqual(seen, ['named', 'named', ...kept, ...kept], 'every request named where it can be told');
  } finally {
    early.close();
    unsubscribe();
    ctx.stop();
    await close(plain);
    await close(tls);
  }
  assert.deepEqual(errors, []);
});

test("what connection scope cannot tell apart, and 'request' can: work a request leaves running after its response, once the connection's next request started, is 'keep-alive' (unknown, not the next request) or exact", async () => {
  for (const scope of ['connection', 'request']) {
    const ctx = createRequestContext(scope, onError);
    const unsubscribe = entering(ctx);
    const requests = {};
    let release;
    const held = new Promise((r) => (release = r));
    let late;
    const lateDone = new Promise((r) => (late = r));
    const server = await listen(
      http.createServer((req, res) => {
        requests[req.url] = req;
        if (req.url === '/first') {
          res.end('first');
          // Left running after the response: looks once the connection's next request has started.
          held.then(() => late(ctx.current()));
        } else if (req.url === '/second') {
          release();
          lateDone.then(() => res.end('second'));
        } else res.end('other');
      }),
    );
    const c = client(server.address().port);
    try {
      await c.get('/first');
      await c.get('/second');
      const named = await lateDone;
      if (scope === 'connection') assert.equal(named, 'keep-alive', 'connection scope: which request unknown (never the next one)');
      else assert.equal(named, requests['/first'], 'request scope: exact');
    } finally {
      c.close();
      unsubscribe();
      ctx.stop();
      await close(server);
    }
  }
  assert.deepEqual(errors, []);
});

test("connection scope, left-over work: once the response is sent and no next request has started, it is in a request whose name is unknown ('finished'), connection open or closed", async () => {
  const ctx = createRequestContext('connection', onError);
  const unsubscribe = entering(ctx);
  let firstReq;
  let probe;
  let during;
  const server = await listen(
    http.createServer((req, res) => {
      firstReq = req;
      // Work left behind, in the request's context: run later.
      probe = AsyncResource.bind(() => ctx.current());
      during = probe();
      res.end('x');
    }),
  );
  const c = client(server.address().port);
  try {
    await c.get('/only');
    const socket = firstReq.socket;
    assert.equal(during, firstReq, 'before its response: the request');
    assert.equal(firstReq.socket.destroyed, false);
    assert.equal(probe(), 'finished', 'response sent, connection open');
    c.close();
    await new Promise((r) => (socket.destroyed ? r() : socket.once('close', r)));
    await new Promise((r) => setImmediate(r));
    assert.equal(probe(), 'finished', 'connection closed');
  } finally {
    unsubscribe();
    ctx.stop();
    await close(server);
  }
  assert.deepEqual(errors, []);
});

test("stop() takes its listeners off the servers; code that emits 'connection' itself gets its own context back", async () => {
  const ctx = createRequestContext('connection', onError);
  const seen = [];
  const unsubscribe = entering(ctx);
  const server = await listen(http.createServer(naming(ctx, seen)));
  const proxy = net.createServer((socket) => {
    const als = new AsyncLocalStorage();
    als.run('proxy', () => {
      server.emit('connection', socket);
      proxyContext.push(als.getStore(), ctx.current());
    });
  });
  const proxyContext = [];
  await listen(proxy);
  try {
    assert.equal(server.listeners('connection').length, 3, "node:http's listener between loopwatch's two");
    const c = client(proxy.address().port);
    assert.equal(await c.get('/via-proxy'), '/via-proxy');
    c.close();
    assert.deepEqual(proxyContext, ['proxy', undefined], "the proxy's code goes on in its own context, not the connection's");
    assert.deepEqual(seen, ['named'], 'a request over a handed-over socket is named');
  } finally {
    unsubscribe();
    ctx.stop();
  }
  assert.equal(server.listeners('connection').length, 1, "stopped: only node:http's listener is left");
  await close(server);
  await new Promise((r) => proxy.close(r));
  assert.deepEqual(errors, []);
});

/** Polls `fn` until it returns true or `ms` pass (needsPerRequest() looks again at most once a second). */
async function until(fn, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!fn() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return fn();
}

test('the per-request check runs only while needed: a connection accepted before, a request without a frame, a server whose connections node:http does not set up', async () => {
  const plain = await listen(http.createServer((req, res) => res.end('x')));
  const early = client(plain.address().port);
  await early.get('/before');
  // Looks every 100 ms, walks the connections every 200 ms, probes every 2 s (defaults: 1 s, 10 s, 10 s).
  const ctx = createRequestContext('connection', onError, { lookMs: 100, walkMs: 200, probeEveryMs: 2000 });
  try {
    assert.equal(ctx.needsPerRequest(), true, 'a connection accepted before the context has no frame');
    const fresh = client(plain.address().port);
    await fresh.get('/new');
    early.close();
    assert.equal(await until(() => !ctx.needsPerRequest()), true, 'once it is closed, every connection has its frame');
    // A request published without a frame of its own (here: no socket at all) turns the check back on.
    ctx.enter({ method: 'GET', url: '/x', socket: null });
    assert.equal(await until(() => ctx.needsPerRequest()), true, 'a request arrived without a frame');
    assert.equal(await until(() => !ctx.needsPerRequest()), true, 'and off again once none did for a second');
    fresh.close();
    // A server whose connections are handed to node:http by a listener of its own cannot be framed.
    const wrapped = http.createServer((req, res) => res.end(String(ctx.current() === req)));
    wrapped.removeListener('connection', http._connectionListener);
    wrapped.on('connection', (socket) => http._connectionListener.call(wrapped, socket));
    await listen(wrapped);
    const c = client(wrapped.address().port);
    try {
      await c.get('/w');
      assert.equal(await until(() => ctx.needsPerRequest()), true, 'a server loopwatch cannot frame keeps the check on');
      const unsubscribe = entering(ctx);
      try {
        assert.equal(await c.get('/w2'), 'true', 'and its requests are named by a frame each');
      } finally {
        unsubscribe();
      }
    } finally {
      c.close();
      await close(wrapped);
    }
  } finally {
    early.close();
    ctx.stop();
    await close(plain);
  }
  assert.deepEqual(errors, []);
});

/** What thread.ts does: the per-request subscriber only while `needsPerRequest()` says so, asked on every beat. */
function subscribedWhileNeeded(ctx) {
  let unsubscribe;
  const beat = setInterval(() => {
    const need = ctx.needsPerRequest();
    if (need && !unsubscribe) unsubscribe = entering(ctx);
    else if (!need && unsubscribe) {
      unsubscribe();
      unsubscribe = undefined;
    }
  }, 20);
  return () => {
    clearInterval(beat);
    unsubscribe?.();
  };
}

test('a server that never listens (handed its sockets) is found by the periodic probe: its requests get named, and its later connections framed', async () => {
  const ctx = createRequestContext('connection', onError, { lookMs: 100, walkMs: 200, probeEveryMs: 500 });
  const stopBeats = subscribedWhileNeeded(ctx);
  const named = [];
  const hidden = http.createServer((req, res) => {
    // The handler, as the parser called it.
    named.push(ctx.current(true) === req);
    res.end('h');
  });
  const front = await listen(net.createServer((socket) => hidden.emit('connection', socket)));
  try {
    const deadline = Date.now() + 5000;
    while (!named.includes(true) && Date.now() < deadline) {
      const c = client(front.address().port);
      await c.get('/h');
      c.close();
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(named.at(-1), true, 'named once the probe found it');
    // Its next connection has a frame of its own: no frame per request.
    const c = client(front.address().port);
    await c.get('/open');
    const frames = await countingFrames(async () => {
      await c.get('/a');
      await c.get('/b');
    });
    c.close();
    assert.equal(frames, 0);
    assert.deepEqual(named.slice(-3), [true, true, true]);
  } finally {
    stopBeats();
    ctx.stop();
    await new Promise((r) => front.close(r));
    hidden.closeAllConnections?.();
  }
  assert.deepEqual(errors, []);
});

test('an HTTP upgrade (WebSocket) is no request once its socket is handed on; pipelined requests in flight name none', async () => {
  const ctx = createRequestContext('connection', onError);
  let upgraded;
  const server = await listen(http.createServer((req, res) => res.end('x')));
  server.on('upgrade', (req, socket) => {
    setImmediate(() => {
      upgraded = ctx.current();
      socket.end('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n');
    });
  });
  try {
    await new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: server.address().port, headers: { Connection: 'Upgrade', Upgrade: 'test' } });
      req.on('upgrade', (res, socket) => {
        socket.destroy();
        resolve();
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(upgraded, undefined, 'upgraded socket: not in a request');
  } finally {
    ctx.stop();
    await close(server);
  }
  // Pipelining: /b is read while /a still waits for its response.
  const ctx2 = createRequestContext('connection', onError);
  const seen = {};
  let releaseA;
  const aHeld = new Promise((r) => (releaseA = r));
  const pipelined = await listen(
    http.createServer(async (req, res) => {
      if (req.url === '/a') {
        await aHeld;
        seen.a = ctx2.current();
        res.end('a');
      } else {
        seen.b = ctx2.current();
        seen.bByParser = ctx2.current(true) === req;
        releaseA();
        res.end('b');
      }
    }),
  );
  try {
    const socket = net.connect(pipelined.address().port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    socket.write('GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n');
    let body = '';
    socket.on('data', (d) => (body += d));
    const deadline = Date.now() + 5000;
    while (!(seen.a !== undefined && body.includes('\r\n\r\nb')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    socket.destroy();
    assert.equal(seen.b, 'pipelined', "/b's handler, /a in flight: which request is unknown");
    assert.equal(seen.bByParser, true, "/b's handler as the parser called it: /b");
    assert.equal(seen.a, 'pipelined', '/a after its await, /b read: which request is unknown (not /b)');
  } finally {
    ctx2.stop();
    await close(pipelined);
  }
  assert.deepEqual(errors, []);
});
