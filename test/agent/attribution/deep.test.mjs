// Deep attribution (opt-in): with LOOPWATCH_ATTRIBUTION=deep, stalls in a timer, an immediate, a promise
// continuation and an fs callback carry their exact async resource type and an `origin` whose first frame is
// the line that scheduled the callback (marked `// origin: <kind>` in fixtures/deep.cjs). Without deep mode,
// no stall carries an origin.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { runStallFixture } from '../helpers/stall-child.mjs';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
const file = join(fixtures, 'deep.cjs');
const lines = readFileSync(file, 'utf8').split('\n');
const lineOf = (kind) => lines.findIndex((l) => l.includes(`// origin: ${kind}`)) + 1;

const run = (env) => runStallFixture(file, { env });

const expected = [
  ['timer', 'Timeout'],
  ['immediate', 'Immediate'],
  ['promise', 'PROMISE'],
  ['fs', 'FSREQCALLBACK'],
];

test('deep mode: exact resource type and the scheduling line of every stall', async () => {
  const { code, err, stalls } = await run({ LOOPWATCH_ATTRIBUTION: 'deep' });
  assert.equal(code, 0, err);
  const mine = stalls.filter((s) => s.culprit?.startsWith('busy '));
  assert.equal(mine.length, expected.length, JSON.stringify(stalls, null, 1));
  for (const [kind, type] of expected) {
    const line = lineOf(kind);
    assert.ok(line > 0, kind);
    const s = mine.find((x) => x.origin?.[0]?.lineNumber === line);
    assert.ok(s, `no stall with its origin at deep.cjs:${line} (${kind}); origins: ${JSON.stringify(mine.map((x) => [x.resourceType, x.origin?.[0]]))}`);
    assert.equal(s.resourceType, type, kind);
    assert.match(s.origin[0].fileName, /deep\.cjs$/);
    assert.ok(s.origin.length <= 10, 'a few frames');
    assert.ok(s.durationMs >= 270 && s.durationMs < 600, `${kind}: ${s.durationMs}`);
  }
});

test('default mode: no origin (deep mode is opt-in)', async () => {
  const { code, err, stalls } = await run({ LOOPWATCH_ATTRIBUTION: 'on' });
  assert.equal(code, 0, err);
  const mine = stalls.filter((s) => s.culprit?.startsWith('busy '));
  assert.equal(mine.length, expected.length, JSON.stringify(stalls, null, 1));
  for (const s of mine) assert.equal(s.origin, undefined);
});

test('invalid LOOPWATCH_ATTRIBUTION: one line listing the accepted values; the default (on) is used and the app runs', async () => {
  const { code, err, stalls } = await run({ LOOPWATCH_ATTRIBUTION: 'deeper' });
  assert.equal(code, 0, err);
  assert.equal(err.match(/LOOPWATCH_ATTRIBUTION="deeper" is not valid \(accepted: [^)]*deep[^)]*\); using the default "on"/g)?.length, 1, err);
  assert.ok(stalls.length >= 1, 'the agent runs with the default and reports the stall');
  assert.ok(stalls.every((s) => s.origin === undefined), 'not deep mode');
});
