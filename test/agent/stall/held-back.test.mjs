// Stall reports the per-culprit cap held back with no later report of their culprit are said on their own, in a real
// process with LOOPWATCH_LOG=stderr: by the agent's unref'd window timer when their window closes, or at exit when the
// process ends first (the timer does not keep it up). One line each time, naming the culprit and the count.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { runChild } from '../helpers/child.mjs';

const fixture = fileURLToPath(new URL('./fixtures/held-back.cjs', import.meta.url));
const line = /^\[loopwatch\] (\d+) more stalls? of culprit (.+?) on main not reported in the last (\d+\.\d) s \(per-culprit rate cap\)$/m;
const lines = new RegExp(line.source, 'gm');

async function run(mode, t) {
  const c = runChild(fixture, { env: { LOOPWATCH_LOG: 'stderr', HELD_BACK: mode } });
  t.after(() => c.kill());
  await c.waitFor(() => c.messages.some((m) => m.type === 'held'), { timeoutMs: 45_000, what: 'the seven stalls' });
  const stalls = c.messages.filter((m) => m.type === 'stall');
  assert.equal(stalls.length, 5, `five reported, two held back: ${JSON.stringify(stalls)}\n${c.stderr}`);
  assert.match(stalls[0].culprit, /^burn \(.*held-back\.cjs:\d+\)$/);
  assert.ok(stalls.every((s) => s.culprit === stalls[0].culprit && s.suppressed === undefined), JSON.stringify(stalls));
  return { c, culprit: stalls[0].culprit };
}

test('the window closes with no later report: the timer says the two held back, once, while the process runs', async (t) => {
  const { c, culprit } = await run('window', t);
  await c.waitFor(() => line.test(c.stderr), { timeoutMs: 25_000, what: 'the held-back line' });
  const said = [...c.stderr.matchAll(lines)];
  assert.equal(c.child.exitCode, null, 'said by the timer, not at exit');
  assert.equal(said.length, 1, c.stderr);
  assert.equal(said[0][1], '2');
  assert.equal(said[0][2], culprit);
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal([...c.stderr.matchAll(lines)].length, 1, 'said once');
});

test('the process ends with the window open: it exits on its own (the window timer is unref\'d) and says the two held back at exit', async (t) => {
  const { c, culprit } = await run('exit', t);
  const { code } = await Promise.race([c.exited, new Promise((r) => setTimeout(() => r({ code: 'still running 10 s after its last stall' }), 10_000))]);
  assert.equal(code, 0, c.stderr);
  const said = [...c.stderr.matchAll(lines)];
  assert.equal(said.length, 1, c.stderr);
  assert.equal(said[0][1], '2');
  assert.equal(said[0][2], culprit);
});
