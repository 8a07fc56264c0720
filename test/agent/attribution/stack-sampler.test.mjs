import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { WatchdogAttribution, workerThreadIdFromTitle } = require('../../../agent/dist/attribution/stack-sampler.js');

test('workerThreadIdFromTitle reads the threadId Node puts in a worker target title', () => {
  assert.equal(workerThreadIdFromTitle('[worker 2] cruncher'), 2);
  assert.equal(workerThreadIdFromTitle('[worker 13]'), 13);
  assert.equal(workerThreadIdFromTitle('[worker 1] WorkerThread'), 1);
  assert.equal(workerThreadIdFromTitle('[worker 3] [worker 9] evil'), 3);
  assert.equal(workerThreadIdFromTitle('[worker 12x]'), undefined);
  assert.equal(workerThreadIdFromTitle('cruncher'), undefined);
  assert.equal(workerThreadIdFromTitle(undefined), undefined);
});

/** A fake inspector session whose NodeWorker domain reports workers whose inspector workerId differs from their threadId. */
function fakeSession(workers, frames) {
  const listeners = new Map();
  const posted = [];
  const emit = (event, params) => (listeners.get(event) ?? []).forEach((l) => l({ params }));
  return {
    posted,
    connectToMainThread() {},
    disconnect() {},
    on(event, l) {
      listeners.set(event, [...(listeners.get(event) ?? []), l]);
    },
    post(method, params, cb) {
      posted.push({ method, params });
      if (method === 'NodeWorker.enable') {
        for (const w of workers) {
          emit('NodeWorker.attachedToWorker', { sessionId: w.sessionId, workerInfo: { workerId: w.workerId, type: 'worker', title: w.title }, waitingForDebugger: false });
        }
      } else if (method === 'NodeWorker.sendMessageToWorker') {
        const msg = JSON.parse(params.message);
        const value = params.sessionId === frames.sessionId ? { frames: frames.frames, inflight: 0, inRequest: false } : null;
        setImmediate(() => emit('NodeWorker.receivedMessageFromWorker', { sessionId: params.sessionId, message: JSON.stringify({ id: msg.id, result: { result: { type: 'object', value } } }) }));
      }
      setImmediate(() => cb(null, {}));
    },
  };
}

test('a worker is sampled through the NodeWorker session whose title carries its threadId, not its workerId', async () => {
  const frame = { functionName: 'crunchNumbers', fileName: '/app/w.js', lineNumber: 7, columnNumber: 3 };
  // threadId 2 got inspector workerId "1"; the watchdog (threadId 1) got workerId "2".
  const session = fakeSession(
    [
      { sessionId: 's1', workerId: '1', title: '[worker 2] cruncher' },
      { sessionId: 's2', workerId: '2', title: '[worker 1] loopwatch-watchdog' },
    ],
    { sessionId: 's1', frames: [frame] },
  );
  const wa = new WatchdogAttribution({ mainThreadId: 0, sampleIntervalMs: 5, session: () => session });
  wa.start();
  wa.onStallStart(2);
  await new Promise((r) => setTimeout(r, 30));
  const res = await wa.onStallEnd(2);
  wa.stop();
  assert.equal(res?.stack?.[0]?.functionName, 'crunchNumbers', JSON.stringify(res));
  const sent = session.posted.filter((p) => p.method === 'NodeWorker.sendMessageToWorker');
  assert.ok(sent.length > 0);
  assert.ok(sent.every((p) => p.params.sessionId === 's1'), 'only the stalled worker is evaluated');
  assert.deepEqual(session.posted.filter((p) => p.method === 'NodeWorker.detach').map((p) => p.params.sessionId), ['s2']);
});

test('a session that failed at one stall is tried again at the next, and its failure is no longer reported once it works', async () => {
  let fail = true;
  const wa = new WatchdogAttribution({
    mainThreadId: 0,
    sampleIntervalMs: 5,
    session: () => {
      if (fail) throw new Error('a debugger is attached');
      return fakeSession([], { sessionId: 'main', frames: [] });
    },
  });
  wa.start();
  wa.onStallStart(0);
  assert.match(wa.unavailable, /a debugger is attached/);
  await wa.onStallEnd(0);
  fail = false;
  wa.onStallStart(0);
  assert.equal(wa.unavailable, undefined);
  await wa.onStallEnd(0);
  wa.stop();
});

test('the number of connected sessions is reported as it changes; disconnectAll() closes them and keeps the samples', async () => {
  const counts = [];
  const frame = { functionName: 'crunch', fileName: '/app/main.js', lineNumber: 3, columnNumber: 1 };
  const session = fakeSession([], { sessionId: 'main', frames: [frame] });
  let disconnected = 0;
  session.disconnect = () => disconnected++;
  const wa = new WatchdogAttribution({ mainThreadId: 0, sampleIntervalMs: 5, session: () => session, onConnected: (n) => counts.push(n) });
  wa.start();
  wa.onStallStart(0);
  assert.deepEqual(counts, [1]);
  wa.disconnectAll();
  assert.deepEqual(counts, [1, 0]);
  assert.equal(disconnected, 1);
  wa.disconnectAll();
  assert.deepEqual(counts, [1, 0], 'nothing left to close');
  await wa.onStallEnd(0);
  wa.stop();
});
