// SIGTERM while the main thread is stalled: the agent adds no SIGTERM handler, so the app's own handler runs once the
// loop turns and the process exits with the app's code; without a handler of the app's, SIGTERM kills the process as it
// would without the agent. Either way nothing is left behind: the metrics endpoint (the watchdog thread's) is gone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { freePort, runChild } from '../helpers/child.mjs';

const APP = fileURLToPath(new URL('./fixtures/host-app.cjs', import.meta.url));
const STALL_MS = 1500;

async function endpointGone(port) {
  try {
    await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(2000) });
    return false;
  } catch (err) {
    return err.cause?.code === 'ECONNREFUSED';
  }
}

for (const appHandler of [true, false]) {
  test(`SIGTERM during a ${STALL_MS} ms stall, ${appHandler ? "the app's handler exits 42" : 'no handler of the app'}: ${appHandler ? 'it runs, exit code 42' : 'killed by SIGTERM'}, nothing left`, async (t) => {
    const metricsPort = await freePort();
    const app = runChild(APP, {
      execArgv: ['--require', 'loopwatch/register'],
      env: { HOST_SIGTERM: appHandler ? '1' : '0', LOOPWATCH_LOG: 'stderr', LOOPWATCH_PROMETHEUS_PORT: String(metricsPort), LOOPWATCH_PROMETHEUS_HOST: '127.0.0.1', LOOPWATCH_REQUEST_CONTEXT: 'off' },
    });
    t.after(() => app.kill());
    const { port, sigtermListeners } = await app.message('listening');
    assert.equal(sigtermListeners, appHandler ? 1 : 0, 'the agent adds no SIGTERM listener');
    assert.equal(await (await fetch(`http://127.0.0.1:${port}/`)).text(), 'ok');
    const stalled = fetch(`http://127.0.0.1:${port}/stall?ms=${STALL_MS}`).then((r) => r.text(), (err) => err);
    const { at } = await app.message('stalling');
    // Well inside the stall: the signal waits for the loop.
    await new Promise((r) => setTimeout(r, Math.max(0, at + STALL_MS / 3 - Date.now())));
    app.child.kill('SIGTERM');
    const exited = await Promise.race([app.exited, new Promise((r) => setTimeout(() => r(undefined), STALL_MS + 8000))]);
    assert.ok(exited, `still running after SIGTERM; messages ${JSON.stringify(app.messages)}`);
    if (appHandler) {
      assert.deepEqual(exited, { code: 42, signal: null });
      assert.equal(app.messages.find((m) => m.type === 'sigterm')?.listeners, 1, "the app's handler ran, the only SIGTERM listener");
      assert.equal(await stalled, 'stalled', 'the stalled request was answered before the handler closed the server');
      assert.equal(app.messages.find((m) => m.type === 'exit')?.code, 42);
    } else {
      assert.deepEqual(exited, { code: null, signal: 'SIGTERM' });
      assert.equal(app.messages.find((m) => m.type === 'exit'), undefined, "killed by the signal: no 'exit' event, as without the agent");
    }
    assert.ok(await endpointGone(metricsPort), 'the metrics endpoint went with the process');
    // LOOPWATCH_LOG's lines and nothing else: the watchdog's "in progress" line (the stall reaches 1 s), and the stall's
    // own line once the loop has turned — before the app's handler runs, so always there with a handler.
    const lines = app.stderr.split('\n').filter((l) => l.startsWith('[loopwatch]'));
    const inProgress = lines.filter((l) => /^\[loopwatch\] thread "main" has been blocked for \d+\.\d s \(stall in progress\) \| stall id [0-9a-f]+ \| culprit block \(test\/agent\/faults\/fixtures\/host-app\.cjs:\d+\)/.test(l));
    const stall = lines.filter((l) => /^\[loopwatch\] stall \d+ ms on main \| culprit block \(test\/agent\/faults\/fixtures\/host-app\.cjs:\d+\)/.test(l));
    assert.equal(inProgress.length + stall.length, lines.length, `only LOOPWATCH_LOG lines, got:\n${app.stderr}`);
    assert.ok(inProgress.length <= 1, `stderr:\n${app.stderr}`);
    if (appHandler) assert.equal(stall.length, 1, `stderr:\n${app.stderr}`);
    else assert.ok(stall.length <= 1, `stderr:\n${app.stderr}`);
  });
}
