// A worker thread that ends in the middle of a stall — terminate()d by the app, or calling process.exit() right after
// its block, before its loop turns again — stops being watched: its stall in progress leaves /metrics with the thread
// (no series stays "blocked forever"), nothing crashes, the main thread answers throughout, and the app exits 0 once done.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { freePort, parseMetrics, runChild, sample } from '../helpers/child.mjs';

const APP = fileURLToPath(new URL('./fixtures/host-app.cjs', import.meta.url));
const BLOCK_MS = 4000;
const EXIT_DEADLINE_MS = 3000;

for (const end of ['terminate', 'exit']) {
  test(`a worker ${end === 'terminate' ? 'terminate()d' : 'calling process.exit()'} while blocked: its stall in progress leaves /metrics, the main thread answers, exit 0`, { timeout: 60_000 }, async (t) => {
    const metricsPort = await freePort();
    const app = runChild(APP, {
      execArgv: ['--require', 'loopwatch/register'],
      env: { LOOPWATCH_PROMETHEUS_PORT: String(metricsPort), LOOPWATCH_PROMETHEUS_HOST: '127.0.0.1', LOOPWATCH_REQUEST_CONTEXT: 'off' },
    });
    t.after(() => app.kill());
    const { port } = await app.message('listening');
    const get = async (path) => (await fetch(`http://127.0.0.1:${port}${path}`, { headers: { connection: 'close' } })).text();
    const scrape = async () => parseMetrics(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text());
    assert.equal(await get(`/worker?ms=${BLOCK_MS}&end=${end}`), 'started');
    const { threadId } = await app.message('worker-blocking');
    const thread = `worker-${threadId}`;
    // The watchdog sees the worker's stall while it lasts (so there is something that could stay behind).
    const seen = await (async () => {
      for (const deadline = Date.now() + BLOCK_MS; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
        const v = sample(await scrape(), 'loopwatch_eventloop_stall_in_progress_seconds', { thread_name: thread })?.value ?? 0;
        if (v >= 0.5) return v;
      }
      return 0;
    })();
    assert.ok(seen >= 0.5, `stall in progress on ${thread} seen by the watchdog (${seen} s)`);
    assert.equal(await get('/'), 'ok', 'the main thread answers while the worker is blocked');
    const ending = Date.now();
    if (end === 'terminate') assert.equal(await get('/terminate'), 'terminating');
    const exit = await app.waitFor(() => app.messages.find((m) => m.type === 'worker-exit'), { timeoutMs: BLOCK_MS + 5000, what: 'the worker exit' });
    t.diagnostic(`worker exited ${Date.now() - ending} ms after ${end === 'terminate' ? 'terminate()' : 'the test asked'}`);
    assert.equal(exit.code, end === 'terminate' ? 1 : 3);
    assert.equal(app.messages.find((m) => m.type === 'worker-error'), undefined, 'no error from the worker');
    // Once the thread is gone, no series of it says it is blocked (at the next scrape already; polled for a loaded CI).
    let left;
    for (const deadline = Date.now() + 5000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
      left = (await scrape()).filter((s) => s.labels.thread_name === thread && s.name === 'loopwatch_eventloop_stall_in_progress_seconds');
      if (left.length === 0) break;
    }
    assert.deepEqual(left, [], `no stall in progress left for ${thread}`);
    assert.equal(sample(await scrape(), 'loopwatch_eventloop_stall_in_progress_seconds', { thread_name: 'main' })?.value, 0);
    for (let i = 0; i < 5; i++) assert.equal(await get('/'), 'ok');
    assert.equal(await get('/close'), 'closing');
    const closing = await app.message('closing');
    const exited = await Promise.race([app.exited, new Promise((r) => setTimeout(() => r(undefined), EXIT_DEADLINE_MS + 5000))]);
    assert.ok(exited, `still running after closing; open: ${JSON.stringify(app.messages.find((m) => m.type === 'handles'))}`);
    assert.deepEqual(exited, { code: 0, signal: null });
    assert.ok(app.messages.find((m) => m.type === 'exit').at - closing.at < EXIT_DEADLINE_MS);
    assert.deepEqual(app.stderr.split('\n').filter(Boolean), [], 'nothing on stderr');
  });
}
