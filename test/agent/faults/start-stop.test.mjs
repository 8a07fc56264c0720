// After stop() nothing of the agent remains, and 100 start()/stop() cycles cost no memory to speak of.
// Memory is read after V8's memory-reducing collection (the fixture says why): with a plain gc() the main thread's
// young generation, grown by V8 once enough bytes survived scavenges, stays in RSS and reads as a leak that is not
// the agent's (docs/performance.md, "Start/stop cycles"). Both under MALLOC_ARENA_MAX=2: with glibc's default of 8
// arenas per core, each Worker's thread-local arena holds freed memory that RSS keeps counting, and that is the
// allocator's, not a leak.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fixture, runChild } from '../helpers/child.mjs';

const CYCLES = 100;
const BUDGET_MB = 5;

function cycles(mode) {
  const c = runChild(fixture('start-stop-cycles.cjs'), { args: [String(CYCLES), mode], execArgv: ['--expose-gc'], env: { MALLOC_ARENA_MAX: '2' } });
  return { c, done: c.waitFor(() => c.messages.find((m) => m.type === 'done'), { timeoutMs: 160_000, what: `the ${mode} cycles` }) };
}

let agentRun;
/** One run of the agent's cycles serves both tests. */
function agentCycles(t) {
  agentRun ??= cycles('agent');
  t.after(() => agentRun.c.kill());
  return agentRun.done;
}

test(`${CYCLES} start()/stop() cycles: nothing left behind (wrapped functions, listeners, subscribers, globals, handles, threads, the agents)`, { timeout: 170_000 }, async (t) => {
  const r = await agentCycles(t);
  assert.deepEqual(r.restored, { readFile: true, pbkdf2: true }, 'wrapped functions restored');
  assert.deepEqual(r.listeners, r.listenersBefore, 'no process listener left');
  assert.deepEqual(r.subscribed, r.subscribedBefore, 'no diagnostics_channel subscriber left');
  assert.deepEqual(r.globals, r.globalsBefore, 'no global of the agent left (only its say-once flags)');
  assert.deepEqual(r.resources, r.resourcesBefore, 'no handle left');
  assert.equal(r.threads, r.threadsBefore, 'no thread left (each watchdog joined)');
  // Nothing holds a stopped agent: not the global it was registered under, not a closure kept by a module.
  assert.equal(r.agentsAlive, 0, `${r.agentsAlive} of ${CYCLES} stopped agents still reachable`);
  const { code } = await agentRun.c.exited;
  assert.equal(code, 0);
});

test(`${CYCLES} start()/stop() cycles: RSS after the last is within +${BUDGET_MB} MB of RSS after the 5th`, { timeout: 170_000 }, async (t) => {
  const r = await agentCycles(t);
  const mb = (bytes) => (bytes / 2 ** 20).toFixed(1);
  const grown = (r.last.rss - r.first.rss) / 2 ** 20;
  const what =
    `RSS ${mb(r.first.rss)} → ${mb(r.last.rss)} MB (+${grown.toFixed(1)}) over ${CYCLES - 5} cycles; heap used ` +
    `${mb(r.first.heapUsed)} → ${mb(r.last.heapUsed)} MB; young generation ${r.first.youngMb} → ${r.last.youngMb} MB`;
  t.diagnostic(what);
  assert.ok(grown <= BUDGET_MB, what);
});
