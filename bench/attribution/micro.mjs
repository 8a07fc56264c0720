// Micro-benchmark of the per-request cost of the thread-side bookkeeping, without network noise:
// publishes `http.server.request.start` for a fake request and runs a promise-heavy (20 awaits) handler.
// Usage: node micro.mjs [off|on|als|deep] [iterations]
import dc from 'node:diagnostics_channel';
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const [mode = 'off', n = '200000'] = process.argv.slice(2);
if (mode === 'on') require('../../agent/dist/attribution/index.js').startThreadAttribution({});
// Deep attribution: async_hooks init/before/after on every resource, origin captured at init.
if (mode === 'deep') require('../../agent/dist/attribution/index.js').startThreadAttribution({ deep: { thresholdMs: 100 } });
if (mode === 'als') { const { AsyncLocalStorage } = await import('node:async_hooks'); const a = new AsyncLocalStorage(); dc.subscribe('http.server.request.start', () => a.enterWith({})); }
const ch = dc.channel('http.server.request.start');
async function handler() { let x = 0; for (let i = 0; i < 20; i++) x += await Promise.resolve(i); return x; }
async function one() {
  const request = { method: 'GET', url: '/users/1' };
  const response = new EventEmitter(); response.req = request;
  if (ch.hasSubscribers) ch.publish({ request, response, socket: null, server: null });
  await handler();
  response.emit('close');
}
for (let i = 0; i < 20000; i++) await one();
const c0 = process.cpuUsage(); const t0 = performance.now();
for (let i = 0; i < Number(n); i++) await one();
const c1 = process.cpuUsage(c0);
console.log(JSON.stringify({ mode, node: process.version, nsPerReq: Math.round(((c1.user + c1.system) * 1000) / Number(n)), wallNsPerReq: Math.round(((performance.now() - t0) * 1e6) / Number(n)) }));
