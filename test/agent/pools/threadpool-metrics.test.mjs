// The per-family threadpool breakdown as exported metrics, and lazy wrapping of zlib/dns,
// observed through the agent's real Prometheus endpoint in a child process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runChild } from '../helpers/child.mjs';
import { fileURLToPath } from 'node:url';

const fixture = fileURLToPath(new URL('./fixtures/threadpool-families.cjs', import.meta.url));

/** Value of one Prometheus sample line, or undefined. */
function sample(text, name, labels = {}) {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([^{ ]+)(\{[^}]*\})? (\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}
const fam = (text, metric, family) => sample(text, metric, { loopwatch_threadpool_family: family });
const IN_FLIGHT = 'loopwatch_threadpool_in_flight';
const OPS = 'loopwatch_threadpool_operations_total';

test('8 concurrent pbkdf2 + 4 gzip on 2 threads: in flight crypto 8, zlib 4, used 2, pending 10; then 0, with 8 and 4 submitted', async (t) => {
  const c = runChild(fixture, { args: ['families'], env: { UV_THREADPOOL_SIZE: '2' } });
  t.after(() => c.child.kill());
  const during = await c.waitFor(() => c.messages.find((m) => m.type === 'during'), { timeoutMs: 60_000, what: 'scrape during the jobs' });
  assert.equal(during.settledBeforeScrape, 0, 'no job finished before the scrape (jobs too short on this machine)');
  const d = during.text;
  assert.equal(fam(d, IN_FLIGHT, 'crypto'), 8, d);
  assert.equal(fam(d, IN_FLIGHT, 'zlib'), 4);
  assert.equal(fam(d, IN_FLIGHT, 'fs'), 0);
  assert.equal(fam(d, IN_FLIGHT, 'dns'), 0);
  assert.equal(fam(d, OPS, 'crypto'), 8);
  assert.equal(fam(d, OPS, 'zlib'), 4);
  assert.equal(sample(d, 'loopwatch_pool_used', { pool_name: 'libuv' }), 2);
  assert.equal(sample(d, 'loopwatch_pool_pending', { pool_name: 'libuv' }), 10);
  const done = await c.waitFor(() => c.messages.find((m) => m.type === 'done'), { timeoutMs: 120_000, what: 'jobs done' });
  // Poll the endpoint to a deadline: the gauges go back to 0, the counters stay.
  const deadline = Date.now() + 20_000;
  let text;
  for (;;) {
    text = await (await fetch(done.url)).text();
    if (fam(text, IN_FLIGHT, 'crypto') === 0 && fam(text, IN_FLIGHT, 'zlib') === 0) break;
    if (Date.now() > deadline) assert.fail(`in-flight gauges not back to 0:\n${text}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(fam(text, OPS, 'crypto'), 8, 'the probe (unwrapped randomFill) is not counted');
  assert.equal(fam(text, OPS, 'zlib'), 4);
  assert.equal(sample(text, 'loopwatch_pool_pending', { pool_name: 'libuv' }), 0);
});

test('zlib and dns are not loaded by the agent; wrapped when the app loads them (require destructuring, import())', async (t) => {
  const c = runChild(fixture, { args: ['lazy'] });
  t.after(() => c.child.kill());
  const r = await c.waitFor(() => c.messages.find((m) => m.type === 'lazy' || m.type === 'error'), { timeoutMs: 30_000, what: 'lazy result' });
  assert.equal(r.type, 'lazy', r.message);
  assert.deepEqual(r.before, { zlib: false, dns: false }, 'precondition: a fresh process has neither');
  assert.deepEqual(r.afterStart, { zlib: false, dns: false }, 'starting the agent loads neither');
  assert.equal(fam(r.text, OPS, 'zlib'), 1, 'gzip destructured at require time is counted');
  assert.equal(fam(r.text, OPS, 'dns'), 1, 'dns.lookup of an import()ed dns is counted');
});

test('a builtin loaded without module hooks (process.getBuiltinModule) is wrapped at the next probe', async (t) => {
  const c = runChild(fixture, { args: ['getBuiltinModule'] });
  t.after(() => c.child.kill());
  const r = await c.waitFor(() => c.messages.find((m) => m.type === 'lazy' || m.type === 'error'), { timeoutMs: 30_000, what: 'result' });
  assert.equal(r.type, 'lazy', r.message);
  assert.equal(fam(r.text, OPS, 'zlib'), 1);
});
