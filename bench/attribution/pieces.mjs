// What each piece of attribution's per-request bookkeeping costs, in process, paired: the same harness as
// paired.mjs (node:http's own IncomingMessage/ServerResponse published on `http.server.request.start`, an async
// handler with one await and one trip through the check phase, then the response's 'close'), with a subscriber
// that does only part of the work. Each block with a subscriber is paired with the blocks without one around
// it; the median of the per-pair differences is printed.
// Usage: node bench/attribution/pieces.mjs [noop] [close] [als] [full]    (no build needed)
//   noop:  a subscriber that does nothing (the channel's own cost: node:http builds the message object)
//   close: count the request and listen for its response's 'close'
//   als:   AsyncLocalStorage#enterWith(request)
//   full:  close + als (what agent/src/attribution/thread.ts does per request without span events)
import dc from 'node:diagnostics_channel';
import http from 'node:http';
import net from 'node:net';
import { AsyncLocalStorage } from 'node:async_hooks';

const ch = dc.channel('http.server.request.start');
const socket = new net.Socket();
const server = {};
const payload = { a: 1, b: 'x'.repeat(100) };
async function handler() {
  await Promise.resolve();
  const v = await new Promise((r) => setImmediate(r, payload));
  return JSON.stringify(v).length;
}
async function one() {
  const req = new http.IncomingMessage(socket);
  req.method = 'GET';
  req.url = '/users/42?x=1';
  const res = new http.ServerResponse(req);
  if (ch.hasSubscribers) ch.publish({ request: req, response: res, socket, server });
  await handler();
  res.emit('close');
}
async function timed(n) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await one();
  return Number(process.hrtime.bigint() - t0) / n;
}
const als = new AsyncLocalStorage();
let inflight = 0;
function onClose() {
  inflight--;
}
const subscribers = {
  noop: () => {},
  close: (m) => {
    inflight++;
    m.response.on('close', onClose);
  },
  als: (m) => {
    als.enterWith(m.request);
  },
  full: (m) => {
    inflight++;
    m.response.on('close', onClose);
    als.enterWith(m.request);
  },
};
const modes = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(subscribers);
for (const m of modes) if (!subscribers[m]) throw new Error(`unknown piece ${m} (${Object.keys(subscribers).join(', ')})`);
const PAIRS = 30;
const BLOCK = 5000;
const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];

await timed(20000); // warm-up (JIT)
const diffs = Object.fromEntries(modes.map((m) => [m, []]));
let base = 0;
for (let p = 0; p < PAIRS; p++) {
  for (const m of modes) {
    const before = await timed(BLOCK);
    dc.subscribe('http.server.request.start', subscribers[m]);
    const t = await timed(BLOCK);
    dc.unsubscribe('http.server.request.start', subscribers[m]);
    // Node 22: the first enterWith turns on an async_hooks hook that stays on until the store is disabled, and
    // would make every later "without" block pay for it too.
    als.disable();
    const after = await timed(BLOCK);
    base += (before + after) / 2;
    diffs[m].push(t - (before + after) / 2);
  }
}
console.log(`Node ${process.version}: ${PAIRS} pairs × ${BLOCK} requests; one request ≈ ${(base / PAIRS / modes.length / 1000).toFixed(2)} µs without a subscriber`);
for (const m of modes) console.log(`${m.padEnd(6)} +${(median(diffs[m]) / 1000).toFixed(3)} µs/request (median of the paired differences)`);
