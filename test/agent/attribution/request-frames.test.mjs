// requestScope 'request' through node:http's parser (agent/src/attribution/request-frames.ts), on real node:http(s)
// servers and raw keep-alive clients: a frame per request entered by the parser itself, none from the
// diagnostics channel — so nothing here subscribes to `http.server.request.start`, and whatever is named, the
// parser named. Each request is asked for at the points where a wrong mechanism names another request or none:
// its handler, after its awaits, its body events from later segments, work it left running while the connection's
// next request is in flight, and the second of two pipelined requests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dc from 'node:diagnostics_channel';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';
import { createRequire } from 'node:module';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { close, countingFrames, listen } from '../helpers/frames.mjs';

const require = createRequire(import.meta.url);
const { createRequestContext } = require('../../../agent/dist/attribution/request-context.js');

const errors = [];
const onError = (what, err) => errors.push([what, err]);
const fixtures = join(import.meta.dirname, '..', 'fixtures', 'tls');
const tlsOptions = { key: readFileSync(join(fixtures, 'key.pem')), cert: readFileSync(join(fixtures, 'cert.pem')) };
const requestStart = dc.channel('http.server.request.start');


/** One raw keep-alive connection: write what you like, wait for text to arrive. */
async function connection(port, secure) {
  const socket = secure ? tls.connect(port, '127.0.0.1', { rejectUnauthorized: false }) : net.connect(port, '127.0.0.1');
  await once(socket, secure ? 'secureConnect' : 'connect');
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (d) => (text += d));
  return {
    write: (s) => socket.write(s),
    async until(part) {
      const deadline = Date.now() + 5000;
      while (!text.includes(part) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      assert.ok(text.includes(part), `response ${part} arrived: ${JSON.stringify(text)}`);
    },
    close: () => socket.destroy(),
  };
}
const get = (path) => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;

/**
 * A server whose handlers record what `ctx.current()` names (true: the request itself) at each point:
 * `/left` answers, then looks again from a timer once `/next` (the connection's next request) is in flight;
 * `/body` reads a body sent after its headers and looks in its 'data' and 'end' listeners and after an await
 * there; `/a` and `/b` come pipelined in one segment, `/a` answering after `/b` has run.
 */
function recordingServer(ctx, seen, secure) {
  let nextStarted;
  const nextInFlight = new Promise((r) => (nextStarted = r));
  let releaseA;
  const aHeld = new Promise((r) => (releaseA = r));
  const handler = async (req, res) => {
    const path = req.url;
    const is = () => ctx.current() === req;
    seen[`${path} handler`] = is();
    await tick();
    seen[`${path} after await`] = is();
    if (path === '/left') {
      res.end('left-done');
      await nextInFlight;
      setTimeout(() => (seen['/left timer while /next is in flight'] = is()), 1);
    } else if (path === '/next') {
      nextStarted();
      setTimeout(() => res.end('next-done'), 50);
    } else if (path === '/body') {
      let body = '';
      req.on('data', (d) => {
        body += d;
        seen['/body data'] = is();
      });
      req.on('end', async () => {
        seen['/body end'] = is();
        await tick();
        seen['/body after end'] = is();
        res.end(`body-done ${body}`);
      });
    } else if (path === '/a') {
      await aHeld;
      seen['/a after /b ran'] = is();
      res.end('a-done');
    } else if (path === '/b') {
      releaseA();
      res.end('b-done');
    } else res.end(`${path}-done`);
  };
  return listen(secure ? https.createServer(tlsOptions, handler) : http.createServer(handler));
}

for (const secure of [false, true]) {
  test(`${secure ? 'HTTPS' : 'HTTP'}: the parser enters one frame per request, no channel subscriber; handler, awaits, body events, left-over work and pipelined requests each name their own request`, async () => {
    const ctx = createRequestContext('request', onError);
    assert.equal(ctx.mechanism, 'parser');
    const seen = {};
    const server = await recordingServer(ctx, seen, secure);
    const c = await connection(server.address().port, secure);
    try {
      assert.equal(requestStart.hasSubscribers, false, 'nothing subscribes to the per-request channel');
      const frames = await countingFrames(async () => {
        c.write(get('/left'));
        await c.until('left-done');
        c.write(get('/next'));
        await c.until('next-done');
      });
      assert.equal(frames, 2, 'one frame per request (GETs: nothing more at their end of message)');
      c.write(`POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n`);
      await new Promise((r) => setTimeout(r, 50));
      c.write('hello');
      await new Promise((r) => setTimeout(r, 50));
      c.write('world');
      await c.until('body-done helloworld');
      c.write(get('/a') + get('/b'));
      await c.until('a-done');
      assert.deepEqual(seen, {
        '/left handler': true,
        '/left after await': true,
        '/next handler': true,
        '/next after await': true,
        '/left timer while /next is in flight': true,
        '/body handler': true,
        '/body after await': true,
        '/body data': true,
        '/body end': true,
        '/body after end': true,
        '/a handler': true,
        '/a after await': true,
        '/b handler': true,
        '/b after await': true,
        '/a after /b ran': true,
      });
    } finally {
      c.close();
      ctx.stop();
      await close(server);
    }
    assert.deepEqual(errors, []);
  });
}

test("a connection accepted before the context is framed by its first look; a server whose own 'connection' listener calls node:http's is framed too", async () => {
  const named = [];
  let ctx;
  const handler = (req, res) => {
    if (ctx) named.push(`${req.url} ${ctx.current() === req}`);
    res.end(`${req.url}-done`);
  };
  const early = await listen(http.createServer(handler));
  const own = http.createServer(handler);
  const nodeListener = own.listeners('connection')[0];
  own.removeListener('connection', nodeListener);
  own.on('connection', (socket) => nodeListener.call(own, socket));
  await listen(own);
  const before = await connection(early.address().port, false);
  before.write(get('/warm'));
  await before.until('/warm-done');
  ctx = createRequestContext('request', onError);
  try {
    const after = await connection(own.address().port, false);
    after.write(get('/own'));
    await after.until('/own-done');
    before.write(get('/early'));
    await before.until('/early-done');
    after.close();
    assert.deepEqual(named, ['/own true', '/early true']);
    assert.equal(ctx.needsPerRequest(), false, 'every connection framed: no per-request check');
    assert.equal(requestStart.hasSubscribers, false);
  } finally {
    before.close();
    ctx.stop();
    await close(early);
    await close(own);
  }
  assert.deepEqual(errors, []);
});

test("node:http's pooled parsers keep loopwatch's body callbacks: a client's response is never named as a request, an outgoing call from a handler is its handler's", async () => {
  const ctx = createRequestContext('request', onError);
  const backend = await listen(http.createServer((req, res) => setTimeout(() => res.end('x'.repeat(100_000)), 5)));
  const seen = {};
  const readBackend = () =>
    new Promise((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: backend.address().port, path: '/', agent: false }, (res) => {
          let n = 0;
          res.on('data', (d) => {
            n += d.length;
            seen.dataStores ??= new Set();
            seen.dataStores.add(ctx.current());
          });
          res.on('end', () => resolve({ n, store: ctx.current() }));
        })
        .on('error', reject);
    });
  const front = await listen(
    http.createServer(async (req, res) => {
      const r = await readBackend();
      seen.fromHandler = r.store === req;
      res.end('front-done');
    }),
  );
  try {
    // Parsers freed by framed connections go back to the pool and serve client responses next.
    for (let i = 0; i < 3; i++) {
      const c = await connection(front.address().port, false);
      c.write(get('/f'));
      await c.until('front-done');
      c.close();
    }
    assert.equal(seen.fromHandler, true, "the backend call made by a handler: the handler's request");
    assert.equal(seen.dataStores.size, 3, 'one store per front request');
    // A client's response is an IncomingMessage too, with no method and no URL.
    for (const store of seen.dataStores) assert.ok(store?.method === 'GET' && store.url === '/f', `response data events: the front request, not the response (${store?.constructor?.name})`);
    seen.dataStores = new Set();
    const outside = await readBackend();
    assert.equal(outside.n, 100_000);
    assert.equal(outside.store, undefined, 'a client call made outside any request: no request, not its response');
    assert.deepEqual([...seen.dataStores], [undefined]);
  } finally {
    ctx.stop();
    await close(front);
    await close(backend);
  }
  assert.deepEqual(errors, []);
});

test('a request on a connection nobody framed (a server that never listens) is entered from the channel while needed, and its connection framed for the next ones', async () => {
  const ctx = createRequestContext('request', onError, { lookMs: 100, walkMs: 200, probeEveryMs: 500 });
  let unsubscribe;
  const onStart = ({ request }) => ctx.enter(request);
  const beat = setInterval(() => {
    const need = ctx.needsPerRequest();
    if (need && !unsubscribe) {
      dc.subscribe('http.server.request.start', onStart);
      unsubscribe = () => dc.unsubscribe('http.server.request.start', onStart);
    } else if (!need && unsubscribe) {
      unsubscribe();
      unsubscribe = undefined;
    }
  }, 20);
  const named = [];
  const hidden = http.createServer((req, res) => {
    named.push(ctx.current() === req);
    res.end('h');
  });
  const front = await listen(net.createServer((socket) => hidden.emit('connection', socket)));
  const c = await connection(front.address().port, false);
  try {
    const deadline = Date.now() + 5000;
    while (!named.includes(true) && Date.now() < deadline) {
      c.write(get('/h'));
      await c.until('h');
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(named.at(-1), true, 'named once the probe saw it');
    const frames = await countingFrames(async () => {
      for (let i = 0; i < 3; i++) {
        const before = named.length;
        c.write(get('/again'));
        while (named.length === before) await new Promise((r) => setTimeout(r, 5));
      }
    });
    assert.equal(frames, 3, 'one frame per request, entered once each (by the parser, or the channel while probing)');
    assert.deepEqual(named.slice(-3), [true, true, true]);
    // Its next connection is framed when it is set up (the server is watched since the probe saw it).
    unsubscribe?.();
    unsubscribe = undefined;
    clearInterval(beat);
    const c2 = await connection(front.address().port, false);
    const before = named.length;
    c2.write(get('/new'));
    while (named.length === before) await new Promise((r) => setTimeout(r, 5));
    c2.close();
    assert.equal(named.at(-1), true, 'a new connection of the found server: named with no channel subscriber');
  } finally {
    clearInterval(beat);
    unsubscribe?.();
    c.close();
    ctx.stop();
    await new Promise((r) => front.close(r));
  }
  assert.deepEqual(errors, []);
});

test('stop(): the servers lose the listener, and parsers framed before enter no frame any more', async () => {
  const ctx = createRequestContext('request', onError);
  const named = [];
  const server = await listen(
    http.createServer((req, res) => {
      named.push(ctx.current() === req);
      res.end('s-done');
    }),
  );
  const listenersBefore = server.listeners('connection').length;
  const c = await connection(server.address().port, false);
  try {
    c.write(get('/s'));
    await c.until('s-done');
    ctx.stop();
    assert.equal(server.listeners('connection').length, listenersBefore - 1, "only node:http's listener is left");
    const frames = await countingFrames(async () => {
      c.write(get('/s'));
      while (named.length < 2) await new Promise((r) => setTimeout(r, 5));
    });
    assert.equal(frames, 0);
    assert.deepEqual(named, [true, false]);
  } finally {
    c.close();
    await close(server);
  }
  assert.deepEqual(errors, []);
});

// node:http pools its parsers (a freed parser keeps the body callbacks loopwatch set) and keeps connections alive past
// stop(): neither may keep the stopped context, and through its error reporter the agent, reachable.
for (const scope of ['request', 'connection']) {
  test(`stop(), scope '${scope}': node:http's pooled parsers and a keep-alive connection framed before do not keep the stopped context reachable`, async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc');
    // Only the context's error reporter holds `marker`.
    let ctx;
    let ref;
    (() => {
      const marker = new Array(100).fill(scope);
      ref = new WeakRef(marker);
      ctx = createRequestContext(scope, (what, err) => errors.push([what, err, marker.length]));
    })();
    const server = await listen(
      http.createServer((req, res) => {
        let body = '';
        req.setEncoding('utf8');
        req.on('data', (d) => (body += d));
        req.on('end', () => res.end(`got-${body}`));
      }),
    );
    const post = (path, body) => `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    // One connection closed (its parser back in node:http's pool), one left open across stop().
    const closed = await connection(server.address().port, false);
    const open = await connection(server.address().port, false);
    try {
      closed.write(post('/a', 'one'));
      open.write(post('/b', 'two'));
      await closed.until('got-one');
      await open.until('got-two');
      closed.close();
      await new Promise((r) => setTimeout(r, 50));
      ctx.stop();
      ctx = undefined;
      for (let i = 0; i < 5 && ref.deref() !== undefined; i++) {
        await new Promise((r) => setTimeout(r, 10));
        gc();
      }
      assert.equal(ref.deref(), undefined, 'the stopped context is still reachable');
      open.write(post('/c', 'three'));
      await open.until('got-three');
    } finally {
      open.close();
      await close(server);
    }
    assert.deepEqual(errors, []);
  });
}
