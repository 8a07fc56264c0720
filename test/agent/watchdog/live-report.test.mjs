// The watchdog reports a stall while it lasts: a real express app in a child process (default configuration through
// loopwatch/register, LOOPWATCH_LOG=stderr, OTLP to a real HTTP receiver here that decodes the protobuf). A request
// runs a named function that never returns; the child is SIGKILLed mid-stall, and what it left behind is read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request } from 'node:http';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { runChild } from '../helpers/child.mjs';
import { decodeLogsRequest } from '../helpers/otlp-proto.mjs';

const app = fileURLToPath(new URL('./fixtures/live-stall-app.cjs', import.meta.url));
const FIXTURE_FILE = 'test/agent/watchdog/fixtures/live-stall-app.cjs';
const ROUTE = 'GET /spin/:n';
/**
 * Node 22 without --experimental-async-context-frame: by default requests are not tracked, so no route — its
 * documented absence, said once on stderr (attribution/request-tracking.ts). Node 24 and later: the route.
 */
const ROUTES = Number(process.versions.node.split('.')[0]) >= 24;
const NO_ROUTE_NOTICE = 'stalls will name their code but not their HTTP route';
/** The app's own start-up (loading express and the OTLP SDK on a loaded machine) can stall too: told apart by the culprit. */
const ofFn = (name) => (r) => r.attributes['code.function.name'] === name;
const lineOf = (stderr, name) => stderr.split('\n').map((l) => liveLine.exec(l)).find((x) => x && x[4].startsWith(`${name} (`));
function assertRoute(record, line, stderr) {
  if (ROUTES) {
    assert.equal(record.attributes['http.route'], ROUTE);
    assert.equal(line[3], ROUTE);
  } else {
    assert.equal(record.attributes['http.route'], undefined);
    assert.equal(line[3], undefined);
    assert.ok(stderr.includes(NO_ROUTE_NOTICE), `the missing route is explained:\n${stderr}`);
  }
}
const inProgress = (r) => r.attributes['loopwatch.stall.state'] === 'in_progress';

/** An OTLP/HTTP receiver: every decoded log record, in arrival order. */
async function receiver(t) {
  const records = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/v1/logs') for (const rl of decodeLogsRequest(Buffer.concat(chunks))) for (const r of rl.records) records.push({ ...r, resource: rl.resource });
      res.writeHead(200, { 'content-type': 'application/x-protobuf' });
      res.end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }));
  return { url: `http://127.0.0.1:${server.address().port}`, records };
}

/** Fires a request and forgets it (the app may never answer). */
function hit(port, path) {
  const req = request({ host: '127.0.0.1', port, path });
  req.on('error', () => {});
  req.end();
}

async function start(t, otlp, env = {}) {
  const c = runChild(app, {
    execArgv: ['--require', 'loopwatch/register'],
    env: { LOOPWATCH_LOG: 'stderr', OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url, OTEL_SERVICE_NAME: 'live-test', ...env },
  });
  t.after(() => c.kill());
  const { port } = await c.message('listening');
  // The OTLP pipeline binds and hands the watchdog its push settings right after start: give it a moment.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  return { c, port };
}

const liveLine = /thread "main" has been blocked for (\d+\.\d) s \(stall in progress\) \| stall id ([0-9a-f]+)(?: \| route (.+?))? \| culprit (.+?) \| at (.+)/;

test('SIGKILL mid-stall: the in-progress report is on stderr and at the OTLP receiver, naming the route and the function', async (t) => {
  const otlp = await receiver(t);
  const { c, port } = await start(t, otlp);
  hit(port, '/spin/42');
  const sent = Date.now();
  await c.waitFor(() => lineOf(c.stderr, 'spinForever'), { timeoutMs: 10_000, what: 'the in-progress stderr line' });
  await c.waitFor(() => otlp.records.some((r) => inProgress(r) && ofFn('spinForever')(r)), { timeoutMs: 10_000, what: 'the in-progress log record' });
  // Killed ~3 s into the stall, as a liveness probe would: nothing of the main thread's runs after this.
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, 3000 - (Date.now() - sent))));
  c.kill();
  const { signal } = await c.exited;
  assert.equal(signal, 'SIGKILL');

  const m = lineOf(c.stderr, 'spinForever');
  assert.ok(Number(m[1]) >= 1, `first report at 1 s blocked or later: ${m[0]}`);
  const id = m[2];
  assert.equal(m[4], `spinForever (${FIXTURE_FILE}:7)`);
  assert.match(m[5], /^spinForever \(.*live-stall-app\.cjs:7:\d+\)/, 'top frame first');

  const r = otlp.records.find((x) => inProgress(x) && ofFn('spinForever')(x));
  assertRoute(r, m, c.stderr);
  assert.equal(r.eventName, 'loopwatch.stall');
  assert.equal(r.scope, 'loopwatch');
  assert.equal(r.resource['service.name'], 'live-test');
  assert.equal(r.attributes['loopwatch.stall.id'], id, 'the stderr line and the record name the same stall');
  assert.equal(r.attributes['loopwatch.culprit'], m[4]);
  assert.equal(r.attributes['code.function.name'], 'spinForever');
  assert.equal(r.attributes['thread.name'], 'main');
  assert.ok(r.attributes['loopwatch.stall.duration_ms'] >= 1000, `duration so far: ${r.attributes['loopwatch.stall.duration_ms']}`);
  assert.ok(!otlp.records.some((x) => x.attributes['loopwatch.stall.id'] === id && !inProgress(x)), 'a killed stall never ends');
});

test('a stall that ends: in-progress record(s), then the ended one with the same stall id, culprit and route', async (t) => {
  const otlp = await receiver(t);
  const { c, port } = await start(t, otlp);
  hit(port, '/spin/7?ms=2500');
  const live = await c.waitFor(() => otlp.records.find((r) => inProgress(r) && ofFn('spinFor')(r)), { timeoutMs: 10_000, what: 'the in-progress log record' });
  const id = live.attributes['loopwatch.stall.id'];
  await c.waitFor(() => otlp.records.some((r) => r.attributes['loopwatch.stall.id'] === id && !inProgress(r)), { timeoutMs: 15_000, what: 'the ended log record' });
  const stalls = otlp.records.filter((r) => r.eventName === 'loopwatch.stall' && r.attributes['loopwatch.stall.id'] === id);
  assert.deepEqual(stalls.map((r) => r.attributes['loopwatch.stall.state']), ['in_progress', 'ended'], 'one in-progress report (at 1 s; the next is due at 6 s), then the end');
  const ended = stalls[1];
  assert.match(live.attributes['loopwatch.stall.id'], /^[0-9a-f]+$/);
  assert.equal(ended.attributes['loopwatch.stall.id'], live.attributes['loopwatch.stall.id']);
  assert.equal(ended.attributes['http.route'], live.attributes['http.route']);
  assert.equal(live.attributes['loopwatch.culprit'], `spinFor (${FIXTURE_FILE}:12)`);
  assert.equal(ended.attributes['loopwatch.culprit'], live.attributes['loopwatch.culprit']);
  assert.ok(ended.attributes['loopwatch.stall.duration_ms'] >= 2500);
  const m = lineOf(c.stderr, 'spinFor');
  assert.ok(m, `in-progress line on stderr:\n${c.stderr}`);
  assert.equal(m[2], id);
  assertRoute(live, m, c.stderr);
  assert.match(c.stderr, new RegExp(`stall \\d+ ms on main${ROUTES ? ' \\| route GET /spin/:n' : ''} \\| culprit spinFor .*\\| stall id ${id}\n`));
});
