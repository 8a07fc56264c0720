// bench/direct.mjs samples a loaded server's main thread with Linux perf and counts the samples whose stack passes
// through the agent. Smoke test on a fresh clone: the bench runs, and its classification finds the agent in a
// server running it and nothing in a server without it (the control: a classifier that matched everything, or
// nothing, fails one of the two). No timing is asserted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('../../bench/direct.mjs', import.meta.url));

async function runBench(variant) {
  const args = ['--rounds', '1', '--warmup', '1', '--duration', '3', '--connections', '8', '--hz', '4999', '--variant', variant, '--all-threads'];
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const code = await new Promise((r) => child.once('exit', r));
  return { code, out, err };
}

const OTHER_ALL = /^\| \*\*all other threads\*\* \| ([\d.]+) \(/m;
const MAIN_SCALE = /^\| main thread, for scale \| ([\d.]+) \(/m;
const ALL = /^\| \*\*all of the agent\*\* \| ([\d.]+) % \([\d.]+ % … [\d.]+ %\) \| ([\d.]+) \|$/m;
const COMPONENT = /^\| (agent JS: [\w/.-]+\.js|addon \(loop meter, deadline, GC timer\)|Node's GC observer machinery) \| [\d.]+ % \([\d.]+ % … [\d.]+ %\) \| [\d.]+ \|$/gm;

test('bench/direct.mjs: the agent is found on the sampled main thread of a server running it, by component', async () => {
  const { code, out, err } = await runBench('loopwatch');
  assert.equal(code, 0, err);
  assert.match(err, /round 1: \d+ main-thread samples, \d+ requests, agent [\d.]+ % of the main thread/);
  const all = ALL.exec(out);
  assert.ok(all, out);
  assert.ok(Number(all[1]) > 0, `no sample through the agent: ${out}`);
  // The loop meter's prepare hook runs on every loop iteration: the addon is always on some stacks.
  const components = [...out.matchAll(COMPONENT)].map((m) => m[1]);
  assert.ok(components.includes('addon (loop meter, deadline, GC timer)'), out);
  // --all-threads: the other threads are reported next to the main one, which served the requests.
  assert.ok(Number(MAIN_SCALE.exec(out)?.[1]) > 1, out);
  assert.ok(OTHER_ALL.test(out), out);
});

test('bench/direct.mjs: nothing is counted for a server without the agent (control)', async () => {
  const { code, out, err } = await runBench('baseline');
  assert.equal(code, 0, err);
  const all = ALL.exec(out);
  assert.ok(all, out);
  assert.equal(Number(all[1]), 0, out);
  assert.deepEqual([...out.matchAll(COMPONENT)], [], out);
  // Off the main thread too: no agent frames where there is no agent.
  assert.ok(OTHER_ALL.test(out), out);
  assert.doesNotMatch(out, /^\| (agent JS \(the watchdog thread\)|addon) \|/m, out);
});
