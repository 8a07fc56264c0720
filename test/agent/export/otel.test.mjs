import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fixture, runChild } from '../helpers/child.mjs';

const sumCount = (m) => m.points.reduce((s, p) => s + p.value.count, 0);

for (const order of ['before', 'after']) {
  test(`an OpenTelemetry SDK registered ${order} loopwatch starts gets loopwatch's metrics`, async (t) => {
    const app = runChild(fixture('otel-sdk.cjs'), { args: [order], execArgv: ['--expose-gc'] });
    t.after(() => app.kill());
    const { otel } = await app.message('result');
    const byName = new Map(otel.map((m) => [m.name, m]));
    const stall = byName.get('loopwatch.eventloop.stall.duration');
    assert.ok(stall, `no stall histogram; exported: ${[...byName.keys()]}`);
    // Our 250 ms block lands in the (0.2, 0.5] bucket (a loaded machine may add a short start-up stall).
    const { boundaries, counts } = stall.points[0].value.buckets;
    assert.equal(counts[boundaries.indexOf(0.5)], 1, JSON.stringify(stall.points[0].value));
    assert.ok(sumCount(stall) >= 1);
    assert.equal(stall.points[0].attributes['thread.name'], 'main');
    assert.ok(sumCount(byName.get('loopwatch.eventloop.delay')) > 10);
    assert.ok(byName.get('nodejs.eventloop.delay.p99').points[0].value >= 0);
    const util = byName.get('nodejs.eventloop.utilization').points[0].value;
    assert.ok(util > 0 && util <= 1, `utilization ${util}`);
    const states = byName.get('nodejs.eventloop.time').points.map((p) => p.attributes['nodejs.eventloop.state']).sort();
    assert.deepEqual(states, ['active', 'idle']);
    assert.ok(byName.get('v8js.gc.duration'), 'GC durations exported');
  });
}
