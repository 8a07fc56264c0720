// What a reader of the process's threads (the watchdog, the main thread's exporters) makes of the channel's messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { ThreadDirectory } = require('../../../agent/dist/channel/directory.js');
const { ThreadState } = require('../../../agent/dist/channel/thread-state.js');

const thread = (id, name) => ({ type: 'thread', id, name, buffer: new ThreadState().buffer });
const series = (threadId, name) => ({
  type: 'series',
  add: { id: `${threadId}:${name}`, name: 'loopwatch.agent.errors', attributes: { 'loopwatch.component': name, 'thread.name': 'pool' }, buffer: new SharedArrayBuffer(8) },
});
const names = (d) => [...d.threads()].map((t) => t.name).sort();
const seriesLabels = (d) => [...d.series()].map((s) => `${s.id}=${s.attributes['thread.name']}`).sort();

test('threads sharing a name: the later one is told apart by its id, its series too (announced before or after)', () => {
  const d = new ThreadDirectory();
  d.apply(thread(1, 'pool'));
  d.apply(series(2, 'early'));
  d.apply(thread(2, 'pool'));
  d.apply(series(2, 'late'));
  d.apply(series(1, 'own'));
  assert.deepEqual(names(d), ['pool', 'pool#2']);
  assert.deepEqual(seriesLabels(d), ['1:own=pool', '2:early=pool#2', '2:late=pool#2']);
  // The first goes: a newcomer with the name takes it free; the second keeps its label.
  d.apply({ type: 'thread-gone', id: 1, exited: true });
  d.apply(thread(3, 'pool'));
  assert.deepEqual(names(d), ['pool', 'pool#2']);
});

test('a thread that ended stays gone, whatever arrives late; one whose agent only stopped can come back', () => {
  const d = new ThreadDirectory();
  d.apply(thread(5, 'w'));
  d.apply({ type: 'thread-gone', id: 5, exited: true });
  // Its announcement and series were still on their way on another channel.
  d.apply(thread(5, 'w'));
  d.apply(series(5, 'late'));
  assert.deepEqual(names(d), []);
  assert.deepEqual(seriesLabels(d), []);
  d.apply(thread(6, 'v'));
  d.apply({ type: 'thread-gone', id: 6 });
  d.apply(thread(6, 'v'));
  assert.deepEqual(names(d), ['v']);
});

test('pools of one kind and name in two threads: the later thread\'s is exported as <name>@<threadId>', () => {
  const d = new ThreadDirectory();
  const pool = (threadId, metric, extra = {}) => ({
    type: 'series',
    add: { id: `${threadId}:${metric}:pg`, name: metric, attributes: { 'pool.name': 'pg', 'pool.kind': 'pg', ...extra }, buffer: new SharedArrayBuffer(8) },
  });
  d.apply(thread(1, 'a'));
  d.apply(thread(2, 'b'));
  d.apply(pool(1, 'loopwatch.pool.max'));
  d.apply(pool(2, 'loopwatch.pool.max'));
  d.apply(pool(2, 'loopwatch.pool.errors', { 'error.type': 'timeout' }));
  const pools = () => [...d.series()].map((s) => `${s.id.split(':')[0]} ${s.attributes['pool.name']}`).sort();
  assert.deepEqual(pools(), ['1 pg', '2 pg@2', '2 pg@2']);
  // Another kind of pool may share the name.
  d.apply({ type: 'series', add: { id: '2:x', name: 'loopwatch.pool.max', attributes: { 'pool.name': 'pg', 'pool.kind': 'generic' }, buffer: new SharedArrayBuffer(8) } });
  assert.ok([...d.series()].some((s) => s.id === '2:x' && s.attributes['pool.name'] === 'pg'));
  // The first thread goes: a pool announced from now on takes the name free.
  d.apply({ type: 'thread-gone', id: 1, exited: true });
  d.apply(thread(3, 'c'));
  d.apply(pool(3, 'loopwatch.pool.max'));
  assert.ok([...d.series()].some((s) => s.id.startsWith('3:') && s.attributes['pool.name'] === 'pg'));
});
