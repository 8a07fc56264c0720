// The threadpool monitor with graceful-fs, mock-fs and the OpenTelemetry fs/dns instrumentations, each loaded
// before and after it (fixtures/coexist.cjs, one child per case: these libraries patch process-wide state).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const fixture = fileURLToPath(new URL('./fixtures/coexist.cjs', import.meta.url));

function run(lib, order) {
  const r = spawnSync(process.execPath, [fixture, lib, order], { encoding: 'utf8', timeout: 60_000 });
  const line = r.stdout.trim().split('\n').pop();
  assert.equal(r.status, 0, `child failed: ${r.stderr}\n${line}`);
  return JSON.parse(line);
}

const ALL_RESTORED = { stat: true, readFile: true, close: true, open: true, read: true, promisesReadFile: true, lookup: true };

function common(r) {
  assert.deepEqual(r.errors, []);
  assert.equal(r.statOk, true, 'fs.stat works');
  assert.equal(r.readFileOk, true, 'fs.readFile works');
  assert.equal(r.promisesOk, true, 'fs.promises.readFile works');
  assert.equal(r.counted['fs.stat'], true, 'fs.stat counted while in flight');
  assert.equal(r.counted['fs.readFile'], true);
  assert.equal(r.counted['fs.promises.readFile'], true);
  assert.equal(r.inFlightAfter, 0, 'counts return to 0');
  assert.equal(r.stoppedCounts, 0, 'after stop, a wrapper still in a chain counts nothing');
  assert.equal(r.statAfterStopOk, true, 'and passes calls through');
}

for (const order of ['before', 'after']) {
  test(`graceful-fs loaded ${order} the monitor: both work, counts return to 0, stop restores`, () => {
    const r = run('graceful-fs', order);
    common(r);
    assert.equal(r.gracefulOk, true, 'graceful-fs readFile works');
    // graceful-fs reads fs through a copy made when it loads: loaded before, its calls bypass the wrappers.
    assert.equal(r.counted['gfs.readFile'], order === 'after');
    if (order === 'before') assert.deepEqual(r.restoredToBeforeStart, ALL_RESTORED);
    // Loaded after, graceful-fs replaced fs.close with its own wrapper of ours: that one is left in place.
    else assert.deepEqual(r.restoredToBeforeStart, { ...ALL_RESTORED, close: false });
  });

  // mock-fs 5.5 patches Node's internal ReadFileContext at load, which Node 26 no longer has: it cannot load there at all.
  const mockFsLoads = Number(process.versions.node.split('.')[0]) < 26 || 'mock-fs 5.5 does not load on Node 26 (it patches an internal Node 26 removed)';
  test(`mock-fs loaded ${order} the monitor: mocked files read through the wrappers, restore works, stop restores`, { skip: mockFsLoads === true ? false : mockFsLoads }, () => {
    const r = run('mock-fs', order);
    common(r);
    assert.equal(r.mockEnoent, true, 'a path missing from the mock is ENOENT');
    assert.equal(r.afterMockRestore, true, 'the real fs is back after mock.restore()');
    assert.deepEqual(r.restoredToBeforeStart, ALL_RESTORED);
  });

  test(`OTel fs and dns instrumentations enabled ${order} the monitor: spans and counts, stop and disable`, () => {
    const r = run('otel', order);
    common(r);
    assert.equal(r.lookupOk, true);
    assert.equal(r.counted['dns.lookup'], true);
    for (const s of ['fs stat', 'fs readFile', 'dns.lookup']) assert.ok(r.spans.includes(s), `span ${s} in ${r.spans}`);
    assert.equal(r.statAfterDisableOk, true);
    if (order === 'before') {
      assert.deepEqual(r.restoredToBeforeStart, ALL_RESTORED);
      assert.deepEqual(r.afterOtelDisable, { stat: true, readFile: true, promisesReadFile: true, lookup: true });
    } else {
      // The instrumentation wrapped our wrappers: stop leaves them (they pass through), and disabling it puts
      // back what it found — our pass-through wrappers. Documented in docs/pools.md.
      assert.equal(r.restoredToBeforeStart.stat, false);
      assert.equal(r.afterOtelDisable.stat, false);
    }
  });
}
