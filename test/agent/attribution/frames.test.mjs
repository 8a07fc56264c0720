import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { culpritOf, isAppFrame, formatFrame, captureFrames, sourceMapFrames } = require('../../../agent/dist/attribution/frames.js');

const F = (functionName, fileName, lineNumber = 1) => ({ functionName, fileName, lineNumber, columnNumber: 1 });

test('culprit is the innermost app frame, skipping node internals and node_modules', () => {
  const frames = [F('pbkdf2Sync', 'node:internal/crypto/pbkdf2', 83), F('hash', '/srv/app/node_modules/bcryptish/index.js', 3), F('login', '/srv/app/src/auth.js', 42), F('handle', '/srv/app/src/server.js', 7)];
  assert.equal(culpritOf(frames, '/srv/app'), 'login (src/auth.js:42)');
  assert.equal(isAppFrame(frames[0]), false);
  assert.equal(isAppFrame(frames[1]), false);
  assert.equal(isAppFrame(frames[2]), true);
});

test('culprit falls back to the package a dependency frame belongs to, then the top frame', () => {
  assert.equal(culpritOf([F('x', 'node:fs'), F('dep', '/a/node_modules/d/i.js', 9)], '/a'), 'dep (d)');
  assert.equal(culpritOf([F('readFileSync', 'node:fs', 5)]), 'readFileSync (node:fs:5)');
  assert.equal(culpritOf([]), undefined);
});

test("loopwatch's own frames are never the culprit, wherever it is built (its fastify handler wrapper is on stacks)", () => {
  const own = require.resolve('../../../agent/dist/attribution/routes/fastify.js');
  // A stall inside a library's route handler, called by loopwatch's wrapper, called by fastify: the library's entry.
  const frames = [F('hash', '/srv/app/node_modules/bcryptish/index.js', 3), F('loopwatchRoute', own, 28), F('preHandlerCallbackInner', '/srv/app/node_modules/fastify/lib/handle-request.js', 190)];
  assert.equal(isAppFrame(frames[1]), false);
  assert.equal(culpritOf(frames, '/srv/app'), 'hash (bcryptish)');
});

test('file URLs become paths; paths outside cwd stay absolute', () => {
  assert.equal(formatFrame(F('f', 'file:///srv/app/x.mjs', 3), '/srv/app'), 'f (x.mjs:3)');
  assert.equal(formatFrame(F('f', '/other/x.js', 3), '/srv/app'), 'f (/other/x.js:3)');
});

test('captureFrames returns structured frames innermost first and restores Error state', () => {
  const before = Error.prepareStackTrace;
  const limit = Error.stackTraceLimit;
  function inner() { return captureFrames(inner); }
  function outer() { return inner(); }
  const frames = outer();
  assert.equal(frames[0].functionName, 'outer');
  assert.ok(frames[0].fileName.endsWith('frames.test.mjs'));
  assert.ok(frames[0].lineNumber > 0);
  assert.equal(Error.prepareStackTrace, before);
  assert.equal(Error.stackTraceLimit, limit);
});

test('sourceMapFrames leaves unmapped frames unchanged', () => {
  const frames = [F('f', '/nope/x.js', 3), F('g', 'node:fs', 1)];
  assert.deepEqual(sourceMapFrames(frames), frames);
});
