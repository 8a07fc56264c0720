// Benchmark server for attribution mechanisms. Usage: node server.mjs <mode> <handler>
// Prints {"port":N} on stdout; GET /__cpu returns process.cpuUsage() (µs).
import http from 'node:http';
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const [mode = 'baseline', handler = 'simple'] = process.argv.slice(2);

async function install() {
  switch (mode) {
    case 'baseline': return;
    case 'loopwatch': {
      // The shipped default on the monitored thread: diagnostics_channel request bookkeeping + AsyncLocalStorage.
      // (The watchdog connects an inspector session only while a stall lasts, so it costs nothing here.)
      const attr = require('../../agent/dist/attribution/index.js');
      attr.startThreadAttribution({});
      return;
    }
    case 'agent': // the whole agent as shipped (attribution on), its own endpoint off
      require('../../agent').start({ prometheus: false });
      return;
    case 'agent-deep': // the same with deep attribution (async_hooks timing of every callback)
      require('../../agent').start({ prometheus: false, attribution: 'deep' });
      return;
    case 'inspector-idle': { // an inspector session from a worker kept connected to the main thread
      const w = new Worker(new URL('./watchdog-idle.mjs', import.meta.url), { execArgv: [] });
      await new Promise((r) => w.once('message', r)); w.unref(); return;
    }
    case 'profiler-10ms': {
      const inspector = require('node:inspector');
      const s = new inspector.Session(); s.connect();
      s.post('Profiler.enable'); s.post('Profiler.setSamplingInterval', { interval: 10000 }); s.post('Profiler.start');
      // restart every 10 s so the profile stays bounded (as a real agent would have to)
      setInterval(() => { s.post('Profiler.stop', () => s.post('Profiler.start')); }, 10000).unref();
      return;
    }
    case 'async-hooks': { // before/after timing of every callback, promises not tracked where supported
      const ah = require('node:async_hooks');
      const types = new Map(); let t0 = 0n; let worst = 0n;
      const hook = ah.createHook({
        init(id, type) { types.set(id, type); },
        before() { t0 = process.hrtime.bigint(); },
        after(id) { const d = process.hrtime.bigint() - t0; if (d > worst) worst = d; },
        destroy(id) { types.delete(id); },
        trackPromises: false,
      });
      hook.enable();
      return;
    }
    case 'blocked-at': {
      const blocked = require('blocked-at');
      blocked(() => {}, { threshold: 100 });
      return;
    }
    default: throw new Error('unknown mode ' + mode);
  }
}
await install();
const tick = () => new Promise((r) => setImmediate(r));
async function promiseHeavy() { let x = 0; for (let i = 0; i < 20; i++) { x += await Promise.resolve(i); } await tick(); return x; }
const server = http.createServer(async (req, res) => {
  if (req.url === '/__cpu') { res.end(JSON.stringify(process.cpuUsage())); return; }
  if (handler === 'promise') { const x = await promiseHeavy(); res.end(String(x)); return; }
  res.setHeader('content-type', 'text/plain'); res.end('hello world');
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port })));
