// Issue #21 item 1: a stall's route is the request whose async context the blocking callback runs in — on
// keep-alive and pipelined connections, where the connection's *next* request is in flight when work a request
// left behind blocks. Each case runs this file again as a child process (KA_CASE names the case): a real express
// (or node:http / https) server with the real agent under requestScope 'request' (the exact scope: the default
// configuration once 'request' is the default, else `LOOPWATCH_REQUEST_SCOPE=request`; the default 'connection'
// cannot name this work and says so — its cases are below, docs/attribution.md), a raw `net`/`tls` client that keeps one connection
// and sends `GET /health` on it after the first response (or pipelined with the first request), and deferred work
// of one kind that blocks ~300 ms while `/health` is in flight. Each case asserts the exact route of every stall,
// or its documented absence.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { runStallFixture } from '../helpers/stall-child.mjs';

const self = fileURLToPath(import.meta.url);
// Which block a stall was: the named function under the spin loop on its stack.
const blockedIn = (stall, fn) => (stall.stack ?? []).some((f) => f.functionName === fn);
const major = Number(process.versions.node.split('.')[0]);
// Under the default configuration where the default scope is the exact one; else it is asked for.
const { resolveConfig } = createRequire(import.meta.url)('../../../agent/dist/config/config.js');
const byDefault = resolveConfig({}, {}).requestScope === 'request';
const scopeEnv = byDefault ? {} : { LOOPWATCH_REQUEST_SCOPE: 'request' };
const scopeLabel = byDefault ? 'default configuration' : "requestScope 'request'";
// Node 22 runs AsyncLocalStorage on async_hooks unless --experimental-async-context-frame; there the default tracks
// no requests (requestContext 'auto', docs/attribution.md), so it is asked for. With the flag, the defaults apply.
const runs =
  major < 24
    ? [
        { label: `${scopeLabel}, LOOPWATCH_REQUEST_CONTEXT=on (async_hooks)`, execArgv: [], env: { LOOPWATCH_REQUEST_CONTEXT: 'on' } },
        { label: `${scopeLabel}, --experimental-async-context-frame`, execArgv: ['--experimental-async-context-frame'], env: {} },
      ]
    : [{ label: scopeLabel, execArgv: [], env: {} }];

if (process.env.KA_CASE) {
  await runCase(process.env.KA_CASE);
} else {
  // case → [culprit function, expected route] for every block the case causes.
  const catalogue = {
    timer: [['blockTimer', 'GET /timer/:id']],
    immediate: [['blockImmediate', 'GET /immediate/:id']],
    'tick-pipelined': [['blockTick', 'GET /tick/:id']],
    'tick-after-timer': [['blockTick', 'GET /tick/:id']],
    promise: [['blockPromise', 'GET /promise/:id']],
    listener: [['blockListener', 'GET /listener/:id']],
    'pipelined-handler': [
      ['blockHealth', 'GET /health'],
      ['blockTimer', 'GET /timer/:id'],
    ],
    'plain-http': [['blockTimer', 'GET /plain/:id']],
    // The body arrives after the handler ran: 'data' and 'end' come from the parser, the work from the 'end' listener.
    body: [['blockBody', 'POST /body/:id']],
    https: [['blockTimer', 'GET /timer/:id']],
    // The app's own 'connection' listener hands the socket to node:http's.
    'own-connection-listener': [['blockTimer', 'GET /plain/:id']],
    // node:http's parser callbacks unreachable: the frame is entered from the diagnostics channel, still exact here.
    'fallback-channel': [['blockTimer', 'GET /timer/:id']],
    'no-request': [['blockOutside', undefined]],
    concurrent: [
      ['blockTimer', 'GET /timer/:id'],
      ['blockImmediate', 'GET /immediate/:id'],
      ['blockPromise', 'GET /promise/:id'],
      ['blockListener', 'GET /listener/:id'],
    ],
  };
  for (const { label, execArgv, env: runEnv } of runs)
  for (const [name, expected] of Object.entries(catalogue)) {
    test(`keep-alive deferred work, ${label}: ${name}`, async () => {
      const env = { ...runEnv, ...scopeEnv, KA_CASE: name, KA_BLOCKS: expected.map(([fn]) => fn).join(','), LOOPWATCH_STALL_THRESHOLD_MS: '100' };
      if (name === 'plain-http' || name === 'own-connection-listener') env.LOOPWATCH_ROUTE_PATTERNS = '/plain/:id';
      if (name === 'fallback-channel') env.LOOPWATCH_TEST_DISABLE_INTERNALS = 'http.parserCallbacks';
      // A stall the watchdog could not sample (no stack: the thread was descheduled on this shared machine) says
      // nothing about its route; such a run is repeated, up to 3 runs. A sampled stall must have the exact route.
      let run;
      for (let attempt = 1; attempt <= 3; attempt++) {
        run = await runStallFixture(self, { env, execArgv });
        const missed = expected.some(([fn]) => !run.stalls.some((x) => blockedIn(x, fn)));
        if (!missed || !run.stalls.some((x) => (x.stack ?? []).length === 0)) break;
      }
      const { code, stalls, blocks, err, out } = run;
      assert.equal(code, 0, err);
      // How the frames were entered: through node:http's parser, or (that internal off) from the channel.
      const mechanism = out.split('\n').find((l) => l.startsWith('MECHANISM '))?.slice('MECHANISM '.length);
      assert.equal(mechanism, name === 'fallback-channel' ? 'channel' : 'parser', `frames entered by: ${mechanism}\n${err}`);
      if (name === 'fallback-channel') assert.match(err, /private internal http\.parserCallbacks unavailable \(disabled by LOOPWATCH_TEST_DISABLE_INTERNALS/);
      for (const [fn, route] of expected) {
        assert.ok(blocks.some((b) => b.fn === fn), `the case blocked in ${fn}: ${JSON.stringify(blocks)} ${err}`);
        const s = stalls.filter((x) => blockedIn(x, fn));
        assert.equal(s.length, 1, `one stall blocked in ${fn}: ${JSON.stringify(stalls)}`);
        assert.equal(s[0].route, route, `route of the stall in ${fn}: ${JSON.stringify(s[0])}`);
      }
    });
  }
  // requestScope 'connection' cannot tell a request's deferred work from the next request's code on a keep-alive
  // connection: it must say so (no route, `unknownRequest`), never name the next request. Code the parser called
  // (pipelined-handler's /health handler) it names exactly. One run of a few cases (the mechanism is the same on every Node).
  const connectionCases = {
    timer: [['blockTimer', 'keep-alive']],
    promise: [['blockPromise', 'keep-alive']],
    // /health blocks in its own handler, called by the parser: named. /timer's timer fires after /timer's response,
    // with /health alone in flight: past the connection's first request, 'keep-alive'.
    'pipelined-handler': [
      ['blockHealth', 'GET /health'],
      ['blockTimer', 'keep-alive'],
    ],
    listener: [['blockListener', 'keep-alive']],
    'no-request': [['blockOutside', undefined]],
  };
  for (const [name, expected] of Object.entries(connectionCases)) {
    test(`keep-alive deferred work, requestScope 'connection': ${name} — the exact route or why there is none, never another request's`, async () => {
      const env = { ...runs[runs.length - 1].env, LOOPWATCH_REQUEST_SCOPE: 'connection', KA_CASE: name, KA_BLOCKS: expected.map(([fn]) => fn).join(','), LOOPWATCH_STALL_THRESHOLD_MS: '100' };
      const execArgv = runs[runs.length - 1].execArgv;
      let run;
      for (let attempt = 1; attempt <= 3; attempt++) {
        run = await runStallFixture(self, { env, execArgv });
        const missed = expected.some(([fn]) => !run.stalls.some((x) => blockedIn(x, fn)));
        if (!missed || !run.stalls.some((x) => (x.stack ?? []).length === 0)) break;
      }
      const { code, stalls, blocks, err } = run;
      assert.equal(code, 0, err);
      for (const [fn, want] of expected) {
        assert.ok(blocks.some((b) => b.fn === fn), `the case blocked in ${fn}: ${JSON.stringify(blocks)} ${err}`);
        const s = stalls.filter((x) => blockedIn(x, fn));
        assert.equal(s.length, 1, `one stall blocked in ${fn}: ${JSON.stringify(stalls)}`);
        const said = s[0].route ?? s[0].unknownRequest;
        assert.equal(said, want, `route (or why none) of the stall in ${fn}: ${JSON.stringify(s[0])}`);
        if (s[0].unknownRequest) assert.equal(s[0].route, undefined);
      }
    });
  }
}

async function runCase(name) {
  const { createRequire } = await import('node:module');
  const require = createRequire(import.meta.url);
  const net = require('node:net');
  const http = require('node:http');
  const https = require('node:https');
  const tls = require('node:tls');
  const { readFileSync } = require('node:fs');
  const { join } = require('node:path');
  const { EventEmitter, once } = require('node:events');
  const express = require('express');
  const agent = require('../../../agent').start({ prometheus: false });
  const stallEvents = [];
  agent.on('stall', (e) => {
    stallEvents.push(e);
    process.stdout.write('STALL ' + JSON.stringify(e) + '\n');
  });
  // The blocks this case causes (KA_BLOCKS, from the parent's catalogue): `/health` stays in flight until all of
  // them have run, and the child exits once each has its stall event (or after a deadline: an unsampled block's
  // stall has no stack, and the parent runs the case again).
  const expectedBlocks = (process.env.KA_BLOCKS ?? '').split(',').filter(Boolean);
  const blocked = new Set();
  let allRan;
  const allBlocked = new Promise((r) => (allRan = r));
  const until = async (cond, ms) => {
    const deadline = Date.now() + ms;
    while (!cond() && Date.now() < deadline) await sleep(20);
  };
  // Frames entered from the parser leave node:http's per-request channel without a subscriber (no stall has
  // happened yet at the first request, and the periodic probe starts 10 s after the agent).
  const requestStart = require('node:diagnostics_channel').channel('http.server.request.start');
  let mechanismSaid = false;
  const noteMechanism = () => {
    if (mechanismSaid) return;
    mechanismSaid = true;
    process.stdout.write('MECHANISM ' + (requestStart.hasSubscribers ? 'channel' : 'parser') + '\n');
  };
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const spin = (fn, ms) => {
    const t0 = performance.now();
    const end = Date.now() + ms;
    while (Date.now() < end);
    const t1 = performance.now();
    process.nextTick(() => {
      process.stdout.write('BLOCK ' + JSON.stringify({ fn, ms: t1 - t0 }) + '\n');
      blocked.add(fn);
      if (expectedBlocks.every((f) => blocked.has(f))) allRan();
    });
  };
  // Named functions: the stall's culprit says which block it was.
  function blockTimer() { spin('blockTimer', 300); }
  function blockImmediate() { spin('blockImmediate', 300); }
  function blockTick() { spin('blockTick', 300); }
  function blockPromise() { spin('blockPromise', 300); }
  function blockListener() { spin('blockListener', 300); }
  function blockHealth() { spin('blockHealth', 300); }
  function blockOutside() { spin('blockOutside', 300); }
  function blockBody() { spin('blockBody', 300); }

  // `/health` requests that have arrived, per connection id (the `c` query parameter), and who waits for one.
  const arrived = new EventEmitter();
  const seen = new Set();
  const healthArrived = (c) => (seen.has(c) ? Promise.resolve() : once(arrived, c).then(() => undefined));
  const isArrived = (c) => seen.has(c);
  // Extra wait after `/health` arrived, per connection: the concurrent case spaces its blocks apart.
  const gap = (req) => Number(req.query?.gap ?? new URL(req.url, 'http://x').searchParams.get('gap') ?? 0);
  const conn = (req) => new URL(req.url, 'http://x').searchParams.get('c');

  // A side server the listener case reads from: it writes when told (from the `/health` handler's context).
  const feeds = new Map();
  const side = net.createServer((s) =>
    s.once('data', (d) => {
      const c = String(d).slice('feed-'.length);
      if (seen.has(c)) s.end('go');
      else feeds.set(c, s);
    }),
  );
  await new Promise((r) => side.listen(0, '127.0.0.1', r));

  // Polls with a timer chain (every callback of it in the scheduling request's context) until `/health` arrived.
  function afterHealth(c, extraMs, then) {
    const poll = () => (isArrived(c) ? setTimeout(then, extraMs) : setTimeout(poll, 5));
    setTimeout(poll, 5);
  }
  function immediateAfterHealth(c, extraMs, then) {
    let until = 0;
    const poll = () => {
      if (!isArrived(c)) return setImmediate(poll);
      if (until === 0) until = Date.now() + extraMs;
      if (Date.now() < until) return setImmediate(poll);
      then();
    };
    setImmediate(poll);
  }
  const handlers = {
    timer(req, res) {
      res.end('ok');
      afterHealth(conn(req), gap(req), blockTimer);
    },
    immediate(req, res) {
      res.end('ok');
      immediateAfterHealth(conn(req), gap(req), blockImmediate);
    },
    tick(req, res) {
      res.end('ok');
      if (name === 'tick-pipelined') {
        // `/health` is in the same TCP segment: node:http parses it (and runs its handler) before these ticks run.
        process.nextTick(() => process.nextTick(() => process.nextTick(blockTick)));
      } else {
        afterHealth(conn(req), gap(req), () => process.nextTick(() => process.nextTick(blockTick)));
      }
    },
    async promise(req, res) {
      res.end('ok');
      // Resolved from the `/health` handler: the continuation still runs in this request's context.
      await healthArrived(conn(req));
      await sleep(gap(req));
      await Promise.resolve();
      blockPromise();
    },
    listener(req, res) {
      res.end('ok');
      const c = conn(req);
      const s = net.connect(side.address().port, '127.0.0.1', () => s.write(`feed-${c}`));
      // Fired by the side server's write, which the `/health` handler triggers.
      s.on('data', () => {
        s.destroy();
        setTimeout(blockListener, gap(req));
      });
    },
    body(req, res) {
      let text = '';
      req.setEncoding('utf8');
      req.on('data', (d) => (text += d));
      // Runs from the parser's end of message (the body came in a later segment than the headers).
      req.on('end', () => {
        res.end(text === 'hello' ? 'ok' : 'bad body');
        afterHealth(conn(req), 0, blockBody);
      });
    },
    health(req, res) {
      const c = conn(req);
      seen.add(c);
      arrived.emit(c);
      // The listener case's side connection writes now (or as soon as it is connected, if it is not yet).
      feeds.get(c)?.end('go');
      if (name === 'pipelined-handler') blockHealth();
      // In flight while the deferred work blocks: answered once every block of the case has run (2.5 s at most).
      Promise.race([allBlocked, sleep(2500)]).then(() => res.end('healthy'));
    },
  };

  let server;
  let secure = false;
  if (name === 'plain-http' || name === 'own-connection-listener') {
    server = http.createServer((req, res) => {
      noteMechanism();
      if (req.url.startsWith('/plain/')) return handlers.timer(req, res);
      if (req.url.startsWith('/health')) return handlers.health(req, res);
      res.statusCode = 404;
      res.end();
    });
    handlers.timer = (req, res) => {
      res.end('ok');
      afterHealth(conn(req), 0, blockTimer);
    };
    if (name === 'own-connection-listener') {
      // As some apps do (to set socket options first): node:http's listener is called by the app's own.
      const nodeListener = server.listeners('connection')[0];
      server.removeListener('connection', nodeListener);
      server.on('connection', (socket) => {
        socket.setNoDelay(true);
        nodeListener.call(server, socket);
      });
    }
  } else {
    const app = express();
    app.use((req, res, next) => {
      noteMechanism();
      next();
    });
    app.get('/timer/:id', handlers.timer);
    app.get('/immediate/:id', handlers.immediate);
    app.get('/tick/:id', handlers.tick);
    app.get('/promise/:id', handlers.promise);
    app.get('/listener/:id', handlers.listener);
    app.post('/body/:id', handlers.body);
    app.get('/health', handlers.health);
    if (name === 'https') {
      const dir = join(process.cwd(), '..', 'fixtures', 'tls');
      server = https.createServer({ keepAliveTimeout: 10_000, key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, app);
      secure = true;
    } else server = http.createServer({ keepAliveTimeout: 10_000 }, app);
  }
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  await sleep(300); // the watchdog attaches

  const get = (path) => `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n`;
  // One keep-alive connection: `first`, then — after its response, or pipelined with it — `GET /health` on the same one.
  async function keepAlive(first, c, { pipelined = false, gapMs = 0, post = false } = {}) {
    const socket = secure ? tls.connect(port, '127.0.0.1', { rejectUnauthorized: false }) : net.connect(port, '127.0.0.1');
    await once(socket, secure ? 'secureConnect' : 'connect');
    const path = `${first}?c=${c}&gap=${gapMs}`;
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (d) => (text += d));
    if (pipelined) {
      socket.write(get(path) + get(`/health?c=${c}`));
    } else if (post) {
      // The headers first, the body once the handler has run.
      socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\n`);
      await sleep(100);
      socket.write('hello');
      while (!text.includes('ok')) await once(socket, 'data');
      socket.write(get(`/health?c=${c}`));
    } else {
      socket.write(get(path));
      while (!text.includes('ok')) await once(socket, 'data');
      socket.write(get(`/health?c=${c}`));
    }
    while (!text.includes('healthy')) await once(socket, 'data');
    socket.destroy();
  }

  switch (name) {
    case 'timer':
    case 'https':
    case 'fallback-channel':
      await keepAlive('/timer/1', 'a');
      break;
    case 'body':
      await keepAlive('/body/1', 'a', { post: true });
      break;
    case 'immediate':
      await keepAlive('/immediate/1', 'a');
      break;
    case 'tick-pipelined':
      await keepAlive('/tick/1', 'a', { pipelined: true });
      break;
    case 'tick-after-timer':
      await keepAlive('/tick/1', 'a');
      break;
    case 'promise':
      await keepAlive('/promise/1', 'a');
      break;
    case 'listener':
      await keepAlive('/listener/1', 'a');
      break;
    case 'pipelined-handler':
      // The second of two pipelined requests blocks in its own handler: its route, not the first's.
      await keepAlive('/timer/1', 'p', { pipelined: true, gapMs: 1200 });
      break;
    case 'plain-http':
    case 'own-connection-listener':
      await keepAlive('/plain/1', 'a');
      break;
    case 'no-request': {
      // A request on a keep-alive connection, then a block from a timer armed outside any request.
      const s = net.connect(port, '127.0.0.1');
      await once(s, 'connect');
      s.write(get('/health?c=z'));
      await sleep(200);
      await new Promise((r) => setTimeout(() => r(blockOutside()), 50));
      await Promise.race([allBlocked, sleep(2500)]);
      s.destroy();
      break;
    }
    case 'concurrent':
      // Four connections at once, each with its own kind; blocks spaced 700 ms apart after each `/health` arrives.
      await Promise.all([
        keepAlive('/timer/1', 'a', { gapMs: 0 }),
        keepAlive('/immediate/2', 'b', { gapMs: 700 }),
        keepAlive('/promise/3', 'c', { gapMs: 1400 }),
        keepAlive('/listener/4', 'd', { gapMs: 2100 }),
      ]);
      break;
    default:
      throw new Error(`unknown case ${name}`);
  }
  // Each block's stall event (its stack names the block), 3 s at most.
  const blockedIn = (e, fn) => (e.stack ?? []).some((f) => f.functionName === fn);
  await until(() => [...blocked].every((fn) => stallEvents.some((e) => blockedIn(e, fn))), 3000);
  server.closeAllConnections();
  server.close();
  side.close();
  agent.stop?.();
  process.exit(0);
}
