// A stack with no app frame (only libraries and Node): the culprit is the package and the function it was entered
// by, so one cause hot in different inner lines of a package is one culprit series (issue #21).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { runStallFixture } from '../helpers/stall-child.mjs';
const require = createRequire(import.meta.url);
const { culpritOf, culpritFrameIndex, packageOf } = require('../../../agent/dist/attribution/frames.js');
const { CulpritTally, decideCulprit } = require('../../../agent/dist/attribution/culprit.js');

const F = (functionName, fileName, lineNumber = 1) => ({ functionName, fileName, lineNumber, columnNumber: 1 });
const NM = '/srv/app/node_modules';

test('packageOf: the name after the last node_modules, scoped names whole, pnpm layouts, Windows separators', () => {
  assert.equal(packageOf(`${NM}/bcryptjs/dist/bcrypt.js`), 'bcryptjs');
  assert.equal(packageOf(`${NM}/@node-rs/bcrypt/index.js`), '@node-rs/bcrypt');
  assert.equal(packageOf(`${NM}/.pnpm/bcryptjs@2.4.3/node_modules/bcryptjs/dist/bcrypt.js`), 'bcryptjs');
  assert.equal(packageOf(`${NM}/express/node_modules/qs/lib/parse.js`), 'qs');
  assert.equal(packageOf('C:\\srv\\app\\node_modules\\@scope\\pkg\\i.js'), '@scope/pkg');
  assert.equal(packageOf('/srv/app/src/auth.js'), undefined);
});

test('library-only stacks hot in two inner lines name one culprit: the package entry the caller used', () => {
  const below = [F('hashSync', `${NM}/bcryptjs/dist/bcrypt.js`, 120), F('listOnTimeout', 'node:internal/timers', 581), F('processTimers', 'node:internal/timers', 519)];
  const a = [F('_crypt', `${NM}/bcryptjs/dist/bcrypt.js`, 947), F('_hash', `${NM}/bcryptjs/dist/bcrypt.js`, 300), ...below];
  const b = [F('_encipher', `${NM}/bcryptjs/dist/bcrypt.js`, 796), F('Array.forEach', ''), F('_crypt', `${NM}/bcryptjs/dist/bcrypt.js`, 950), F('_hash', `${NM}/bcryptjs/dist/bcrypt.js`, 300), ...below];
  assert.equal(culpritFrameIndex(a), 2);
  assert.equal(culpritFrameIndex(b), 4);
  assert.equal(culpritOf(a, '/srv/app'), 'hashSync (bcryptjs)');
  assert.equal(culpritOf(b, '/srv/app'), 'hashSync (bcryptjs)');
  assert.equal(decideCulprit(a, '/srv/app').name, 'hashSync (bcryptjs)');
  const tally = new CulpritTally();
  tally.add({ frames: a });
  tally.add({ frames: b });
  tally.add({ frames: a });
  assert.equal(tally.ranked().length, 1);
  assert.equal(tally.leader().samples, 3);
});

test('the entry stops at another package: the package of the innermost library frame, entered from the other one', () => {
  const frames = [
    F('parse', `${NM}/qs/lib/parse.js`, 10),
    F('parseValues', `${NM}/qs/lib/parse.js`, 40),
    F('parseQuery', `${NM}/qs/lib/index.js`, 5),
    F('query', `${NM}/express/lib/middleware/query.js`, 44),
    F('handle', `${NM}/express/lib/router/layer.js`, 95),
  ];
  assert.equal(culpritOf(frames), 'parseQuery (qs)');
  // The same package nested under another copy of itself elsewhere on disk is still that package.
  assert.equal(culpritOf([F('inner', `${NM}/a/node_modules/qs/x.js`), F('outer', `${NM}/qs/y.js`), F('q', `${NM}/b/i.js`)]), 'outer (qs)');
});

test('unchanged: an app frame wins; a stack of Node internals names its innermost frame; empty is unknown', () => {
  assert.equal(culpritOf([F('_crypt', `${NM}/bcryptjs/dist/bcrypt.js`, 947), F('login', '/srv/app/src/auth.js', 42)], '/srv/app'), 'login (src/auth.js:42)');
  assert.equal(culpritOf([F('readFileSync', 'node:fs', 5), F('x', 'node:internal/timers', 3)]), 'readFileSync (node:fs:5)');
  assert.equal(culpritOf([]), undefined);
});

test('a real process: a package hot in two inner loops, called from a timer, is one culprit series', async () => {
  const path = fileURLToPath(new URL('./fixtures/library-only.cjs', import.meta.url));
  const { code, stalls, err } = await runStallFixture(path, { env: { LOOPWATCH_PROMETHEUS_PORT: 'off' } });
  assert.equal(code, 0, err);
  const hashing = stalls.filter((s) => s.durationMs >= 200);
  assert.equal(hashing.length, 4, JSON.stringify(stalls.map((s) => [s.durationMs, s.culprit])));
  for (const s of hashing) assert.equal(s.culprit, 'hashPassword (slowhash-fixture)', JSON.stringify(s.stack?.slice(0, 4)));
  // The samples were in both inner loops: the stacks' innermost package lines differ.
  const innermost = new Set(hashing.map((s) => s.stack.find((f) => f.fileName.includes('slowhash-fixture'))?.functionName));
  assert.deepEqual([...innermost].sort(), ['expandKey', 'mixRounds']);
});
