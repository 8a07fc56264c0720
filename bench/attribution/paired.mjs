// Per-request event-loop cost of attribution's bookkeeping, paired: one process alternates blocks of requests
// with the thread side started and stopped (order alternating), so the VM's drift hits both sides alike, and
// reports the median of the per-pair differences. The requests are node:http's own IncomingMessage and
// ServerResponse objects, published on `http.server.request.start` as node:http does, with an async handler
// (one await, one trip through the check phase) and the response's 'close'.
// Usage: node paired.mjs [pairs=40] [block=10000]     (run `npm run build` first)
import dc from 'node:diagnostics_channel';
import http from 'node:http';
import net from 'node:net';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { startThreadAttribution } = require('../../agent/dist/attribution/index.js');
const [pairs = 40, block = 10000] = process.argv.slice(2).map(Number);
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
const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
const run = async (on) => {
  const h = on ? startThreadAttribution({}) : undefined;
  try {
    return await timed(block);
  } finally {
    h?.stop();
  }
};
await run(true);
await run(false);
const off = [], on = [];
for (let i = 0; i < pairs; i++) {
  if (i % 2) { off.push(await run(false)); on.push(await run(true)); }
  else { on.push(await run(true)); off.push(await run(false)); }
}
const diff = on.map((v, i) => v - off[i]);
console.log(JSON.stringify({ node: process.version, pairs, block, offNsPerReq: Math.round(median(off)), onNsPerReq: Math.round(median(on)), pairedDiffNs: Math.round(median(diff)), diffMinNs: Math.round(Math.min(...diff)), diffMaxNs: Math.round(Math.max(...diff)) }));
