// bench/paired.mjs starts and stops the agent repeatedly inside one server under load: a smoke test that the
// benchmark runs on a fresh clone, and that the agent restarts cleanly after stop() (the server reports what
// getAgent() says after each toggle, and the bench fails on a toggle that did nothing). No timing is asserted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('../../bench/paired.mjs', import.meta.url));

async function runBench(extra) {
  const child = spawn(process.execPath, [script, '--pairs', '2', '--block', '1', '--settle', '0.2', '--connections', '4', ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const code = await new Promise((r) => child.once('exit', r));
  return { code, out, err };
}

const ROWS = ['CPU µs/request (all threads)', 'main thread µs/request', 'GC pauses µs/request', 'p50 latency ms', 'p99 latency ms', 'requests/s'];
const PCT = '[+-]?[\\d.]+ %';

function assertTable(out) {
  for (const row of ROWS) {
    // off | on | difference | median ratio (95 % CI) | interquartile range | count
    const re = new RegExp(`^\\| ${row.replace(/[()/]/g, '\\$&')} \\| [\\d.]+ \\| [\\d.]+ \\| [^|]+ \\| \\*\\*${PCT}\\*\\* \\(${PCT} … ${PCT}\\) \\| ${PCT} … ${PCT} \\| \\d of 2 \\|$`, 'm');
    assert.match(out, re, row);
  }
}

test('bench/paired.mjs --on-options: the agent (started with the options given, checked by the bench) is started and stopped between load blocks and the paired table is printed', async () => {
  const { code, out, err } = await runBench(['--on-options', '{"attribution":false}']);
  assert.equal(code, 0, err);
  assert.match(err, /realistic handler, on = agent with \{"attribution":false\}, off = no agent, /);
  assert.match(err, /pair {1,2}1: off [\d.]+ µs\/req, on [\d.]+ µs\/req/);
  assert.match(err, /pair {1,2}2: off/);
  assertTable(out);
  // Sub-millisecond latency (autocannon's own summary has whole ms only).
  assert.match(out, /^\| p50 latency ms \| \d+\.\d\d \|/m);
});

test('bench/paired.mjs --off-options --simultaneous: two servers, each side runs an agent, the off side with the options given (checked by the bench)', async () => {
  const { code, out, err } = await runBench(['--handler', 'promise', '--off-options', '{"attribution":false}', '--simultaneous']);
  assert.equal(code, 0, err);
  assert.match(err, /promise handler, on = default agent, off = agent with \{"attribution":false\}, .*two servers at once/);
  assert.match(out, /on = default agent, off = agent with \{"attribution":false\}; .*two servers at once, roles swapped within each pair/);
  assertTable(out);
});

test('bench/paired.mjs --framework fastify --simultaneous: both servers serve the handler through fastify and the paired table is printed', async () => {
  const { code, out, err } = await runBench(['--framework', 'fastify', '--simultaneous']);
  assert.equal(code, 0, err);
  assert.match(err, /realistic handler served by fastify, on = default agent, off = no agent, .*two servers at once/);
  assertTable(out);
});

test('bench/framework-server.mjs: the handler is routed and answered by the framework named (its own headers and 404s)', async () => {
  const { frameworkServer } = await import('../../bench/framework-server.mjs');
  const handle = async (req) => JSON.stringify({ path: req.url });
  for (const [name, routedBy] of [
    ['express', (res) => res.headers.get('x-powered-by') === 'Express'],
    ['express4', (res) => res.headers.get('x-powered-by') === 'Express'],
    ['fastify', async (res) => (await res.json()).message === 'Route GET:/nope not found'],
    ['http', (res) => res.status === 200],
  ]) {
    let served = 0;
    const server = await frameworkServer(name, handle, () => served++);
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${server.address().port}`;
    try {
      const ok = await fetch(`${base}/api/items`);
      assert.equal(ok.status, 200, name);
      assert.equal(ok.headers.get('content-type').split(';')[0], 'application/json', name);
      assert.deepEqual(await ok.json(), { path: '/api/items' }, name);
      assert.equal(served, 1, name);
      // Only the templated route is served by a framework: anything else is the framework's own 404.
      const probe = name === 'http' ? ok : await fetch(`${base}/nope`);
      if (name !== 'http') assert.equal(probe.status, 404, name);
      assert.ok(await routedBy(name === 'fastify' ? probe : ok), `${name}: not answered by ${name}`);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  }
  await assert.rejects(frameworkServer('koa', handle, () => {}), /unknown --framework koa/);
});
