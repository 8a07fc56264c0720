// Request bookkeeping for attribution (agent/src/attribution/requests.ts), on real node:http and node:https servers
// and real sockets: the in-flight count, and which request the running code serves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AsyncLocalStorage } from 'node:async_hooks';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { trackRequests, ALS_ON_ASYNC_HOOKS } = require('../../../agent/dist/attribution/requests.js');

const noError = (what, err) => assert.fail(`${what}: ${err}`);

async function until(ok, what) {
  const deadline = Date.now() + 5000;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
async function listen(server) {
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return server.address().port;
}
async function close(server) {
  server.closeAllConnections?.();
  await new Promise((r) => server.close(r));
}
async function connect(port) {
  const c = net.connect(port, '127.0.0.1');
  await new Promise((r) => c.once('connect', r));
  return c;
}
/** GETs `paths` one after another on one keep-alive connection; resolves to the bodies. */
async function sequential(mod, port, paths, extra = {}) {
  const agent = new mod.Agent({ keepAlive: true, maxSockets: 1 });
  const bodies = [];
  try {
    for (const path of paths) {
      bodies.push(
        await new Promise((resolve, reject) => {
          mod
            .get({ host: '127.0.0.1', port, path, agent, ...extra }, (res) => {
              let body = '';
              res.setEncoding('utf8');
              res.on('data', (d) => (body += d));
              res.on('end', () => resolve(body));
            })
            .on('error', reject);
        }),
      );
    }
  } finally {
    agent.destroy();
  }
  return bodies;
}
/** Counts AsyncLocalStorage#enterWith calls (every instance) while `fn` runs. */
async function countingEnters(fn) {
  const original = AsyncLocalStorage.prototype.enterWith;
  let n = 0;
  AsyncLocalStorage.prototype.enterWith = function (store) {
    n++;
    return original.call(this, store);
  };
  try {
    await fn();
  } finally {
    AsyncLocalStorage.prototype.enterWith = original;
  }
  return n;
}

/** A handler reporting which request the tracker sees in the handler, after a timer, and after a promise chain. */
function seeing(tracker) {
  return async (req, res) => {
    const seen = [tracker.current()?.url];
    await new Promise((r) => setTimeout(r, 2));
    seen.push(tracker.current()?.url);
    await Promise.resolve();
    seen.push(tracker.current()?.url);
    res.end(seen.join(' '));
  };
}

test('in-flight count: requests count until their response finishes or their connection closes, pipelined ones included', async () => {
  const tracker = trackRequests({ mode: false, onError: noError });
  const server = http.createServer((req, res) => {
    if (req.url.startsWith('/answer')) res.end('ok');
    // '/hang…' never answers.
  });
  try {
    const port = await listen(server);
    // Another connection's request stays in flight throughout: a request ended twice would take it down with it.
    const other = await connect(port);
    other.write('GET /hang-other HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => tracker.inflight === 1, 'the first request');
    assert.deepEqual(await sequential(http, port, ['/answer1', '/answer2']), ['ok', 'ok']);
    assert.equal(tracker.inflight, 1, 'answered requests no longer count');
    const client = await connect(port);
    // The second is queued behind the first, which never answers.
    client.write('GET /hang1 HTTP/1.1\r\nHost: x\r\n\r\nGET /hang2 HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => tracker.inflight === 3, 'both pipelined requests');
    client.destroy();
    // Node 22 never emits 'close' on the queued response: the connection's 'close' ends both.
    await until(() => tracker.inflight === 1, 'the dropped connection to end its requests');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(tracker.inflight, 1, 'settled: nothing ends late and takes the other request with it');
    other.destroy();
    await until(() => tracker.inflight === 0, 'the last request');
  } finally {
    tracker.stop();
    await close(server);
  }
});

test('request context: one frame per connection, entered before node:http sets up the connection, none per request', async (t) => {
  if (ALS_ON_ASYNC_HOOKS) t.diagnostic('AsyncLocalStorage on async_hooks here');
  // A server already listening when tracking starts: its first connection arrives before loopwatch knows the server.
  const early = http.createServer();
  const earlyPort = await listen(early);
  const tracker = trackRequests({ mode: true, onError: noError });
  early.on('request', seeing(tracker));
  // A server that starts listening afterwards is known from its first connection on.
  const server = http.createServer(seeing(tracker));
  try {
    const port = await listen(server);
    let bodies;
    const enters = await countingEnters(async () => {
      bodies = await sequential(http, port, ['/b/1', '/b/2', '/b/3']);
    });
    assert.deepEqual(bodies, ['/b/1 /b/1 /b/1', '/b/2 /b/2 /b/2', '/b/3 /b/3 /b/3']);
    // One frame entered when the connection arrives and one when node:http's listener is done; none per request.
    assert.equal(enters, 2, 'two per connection, none per request');
    const firstEnters = await countingEnters(async () => {
      bodies = await sequential(http, earlyPort, ['/a/1', '/a/2']);
    });
    assert.deepEqual(bodies, ['/a/1 /a/1 /a/1', '/a/2 /a/2 /a/2']);
    assert.equal(firstEnters, 2, 'a frame per request on a connection accepted before the server was known');
    const laterEnters = await countingEnters(async () => {
      bodies = await sequential(http, earlyPort, ['/c/1', '/c/2', '/c/3']);
    });
    assert.deepEqual(bodies, ['/c/1 /c/1 /c/1', '/c/2 /c/2 /c/2', '/c/3 /c/3 /c/3']);
    assert.equal(laterEnters, 2, 'known from its first request on: two per connection');
    assert.equal(tracker.current(), undefined, 'outside any request');
  } finally {
    tracker.stop();
    await Promise.all([close(server), close(early)]);
  }
});

test('request context over TLS: the connection frame reaches the requests of the TLS socket on top', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'loopwatch-tls-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' });
  const tracker = trackRequests({ mode: true, onError: noError });
  const server = https.createServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, seeing(tracker));
  try {
    const port = await listen(server);
    let bodies;
    const enters = await countingEnters(async () => {
      bodies = await sequential(https, port, ['/tls/1', '/tls/2'], { rejectUnauthorized: false });
    });
    assert.deepEqual(bodies, ['/tls/1 /tls/1 /tls/1', '/tls/2 /tls/2 /tls/2']);
    assert.equal(enters, 2, 'two per connection, none per request');
  } finally {
    tracker.stop();
    await close(server);
  }
});

test("post-response work on a keep-alive connection: a frame per connection names the connection's next request, 'request' the right one", async () => {
  for (const mode of [true, 'request']) {
    const tracker = trackRequests({ mode, onError: noError });
    const late = [];
    let release;
    const released = new Promise((r) => (release = r));
    const server = http.createServer(async (req, res) => {
      res.end('ok');
      if (req.url === '/first') {
        // Work left running after the response, resumed while the connection serves '/second'.
        await released;
        late.push(tracker.current()?.url);
      } else if (req.url === '/second') release();
    });
    try {
      const port = await listen(server);
      await sequential(http, port, ['/first', '/second']);
      await until(() => late.length === 1, 'the late work');
      assert.equal(late[0], mode === 'request' ? '/first' : '/second', `mode ${mode}`);
    } finally {
      tracker.stop();
      await close(server);
    }
  }
});

test("code that hands a socket to a server itself (emit('connection')) keeps its own request context", async () => {
  const tracker = trackRequests({ mode: true, onError: noError });
  const inner = http.createServer((req, res) => res.end('inner'));
  let handed;
  const front = net.createServer((s) => (handed = s));
  const outer = http.createServer((req, res) => {
    const before = tracker.current()?.url;
    if (req.url === '/outer') inner.emit('connection', handed);
    res.end(`${before} ${tracker.current()?.url}`);
  });
  try {
    const [outerPort, frontPort] = [await listen(outer), await listen(front)];
    await listen(inner);
    const toFront = await connect(frontPort);
    await until(() => handed !== undefined, 'the front connection');
    assert.deepEqual(await sequential(http, outerPort, ['/outer']), ['/outer /outer']);
    toFront.write('GET /handed HTTP/1.1\r\nHost: x\r\n\r\n');
    let answer = '';
    toFront.on('data', (d) => (answer += d));
    await until(() => answer.includes('inner'), 'the handed-over connection to be served');
    toFront.destroy();
  } finally {
    tracker.stop();
    await Promise.all([close(outer), close(inner), new Promise((r) => front.close(r))]);
  }
});

test("mode 'auto' tracks where AsyncLocalStorage is cheap and reports the first untracked request once; false only counts", async () => {
  let reported = 0;
  for (const mode of ['auto', false]) {
    const tracker = trackRequests({ mode, onUntracked: () => reported++, onError: noError });
    const server = http.createServer(seeing(tracker));
    try {
      const port = await listen(server);
      const tracked = mode === 'auto' && !ALS_ON_ASYNC_HOOKS;
      assert.equal(tracker.tracking, tracked);
      const expected = tracked ? '/x /x /x' : '  ';
      assert.deepEqual(await sequential(http, port, ['/x', '/x']), [expected, expected]);
      assert.equal(tracker.inflight, 0);
    } finally {
      tracker.stop();
      await close(server);
    }
  }
  assert.equal(reported, ALS_ON_ASYNC_HOOKS ? 1 : 0);
});

test('after stop(): nothing counted, no context, and the servers drop its listeners at their next connection', async () => {
  const tracker = trackRequests({ mode: true, onError: noError });
  const server = http.createServer(seeing(tracker));
  try {
    const port = await listen(server);
    assert.equal(server.listenerCount('connection'), 3, "node:http's listener and the tracker's two, from listen() on");
    await sequential(http, port, ['/a']);
    tracker.stop();
    assert.deepEqual(await sequential(http, port, ['/b']), ['  ']);
    assert.equal(tracker.inflight, 0);
    assert.equal(server.listenerCount('connection'), 1);
  } finally {
    await close(server);
  }
});
