// The directory's memory of ended threads is bounded: past 1024 it forgets the oldest, so a process that starts and
// ends workers for days does not grow it, and the ones it still remembers stay gone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { ThreadDirectory } = require('../../../agent/dist/channel/directory.js');
const { ThreadState } = require('../../../agent/dist/channel/thread-state.js');

const buffer = new ThreadState().buffer;
const thread = (id) => ({ type: 'thread', id, name: `w${id}`, buffer });
const ids = (d) => [...d.threads()].map((t) => t.id).sort((a, b) => a - b);

test('past 1024 ended threads the oldest is forgotten and the rest stay gone', () => {
  const d = new ThreadDirectory();
  for (let id = 1; id <= 1025; id++) {
    d.apply(thread(id));
    d.apply({ type: 'thread-gone', id, exited: true });
  }
  // A late announcement of thread 1 (forgotten) is taken; those of 2 and 1025 (remembered) are not.
  d.apply(thread(1));
  d.apply(thread(2));
  d.apply(thread(1025));
  assert.deepEqual(ids(d), [1]);
});

test('more than 64 live threads: the 65th is not added and its name is reported', () => {
  const overflowed = [];
  const d = new ThreadDirectory((name) => overflowed.push(name));
  for (let id = 1; id <= 65; id++) d.apply(thread(id));
  assert.equal(ids(d).length, 64);
  assert.deepEqual(overflowed, ['w65']);
});
