// Memory over a long run with a stall every second (attribution on, default config).
//
//   node scripts/run.mjs build && node_modules/node24/bin/node --expose-gc bench/attribution/memory.mjs [--minutes 10] [--control]
//
// An HTTP server gets one request per second on one of 30 routes whose handlers
// block for 150 ms in one of 30 distinct functions (more culprits and routes than
// the metric label budget of 20, so the `other` bucket and the per-culprit limiter
// are exercised). Every minute the process reports heap used after a full GC and
// RSS; the last minute is compared with the second (after warm-up).
import { createServer } from 'node:http';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const loopwatch = require('../../agent/dist/index.js');

const minutes = Math.max(2, Number(process.argv[process.argv.indexOf('--minutes') + 1] || 10));
// --control: the same load without loopwatch, to tell the agent's growth from the process's own.
const control = process.argv.includes('--control');
const agent = control ? null : loopwatch.start({ prometheus: { port: 0 } });
let stalls = 0;
agent?.on('stall', () => stalls++);

// 30 distinct culprit functions (named culprit0 … culprit29; one source line, so the name tells them apart).
// The loop is inline: the culprit is the innermost application frame, which must differ per function.
const handlers = Array.from({ length: 30 }, (_, i) =>
  ({
    [`culprit${i}`]: () => {
      const end = performance.now() + 150;
      while (performance.now() < end);
    },
  })[`culprit${i}`],
);
const server = createServer((req, res) => {
  const i = Number(new URL(req.url, 'http://x').pathname.split('/')[2]) % 30;
  handlers[i]();
  res.end('ok');
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const { port } = server.address();
const { prometheusUrl } = agent ? await agent.ready() : {};

const gcAndMeasure = () => {
  globalThis.gc?.();
  const m = process.memoryUsage();
  return { heapMB: m.heapUsed / 1048576, rssMB: m.rss / 1048576 };
};
const samples = [];
let n = 0;
const load = setInterval(() => {
  fetch(`http://127.0.0.1:${port}/route/${n++}?q=${n}`).then((r) => r.text()).catch(() => {});
  if (n % 10 === 0 && prometheusUrl) fetch(prometheusUrl).then((r) => r.text()).catch(() => {});
}, 1000);
for (let m = 1; m <= minutes; m++) {
  await new Promise((r) => setTimeout(r, 60_000));
  const s = { minute: m, stalls, ...gcAndMeasure() };
  samples.push(s);
  console.log(`minute ${m}: ${stalls} stall events, heap ${s.heapMB.toFixed(1)} MB after GC, RSS ${s.rssMB.toFixed(1)} MB`);
}
clearInterval(load);
const body = prometheusUrl ? await (await fetch(prometheusUrl)).text() : '';
const culpritSeries = body.split('\n').filter((l) => l.startsWith('loopwatch_eventloop_stall_culprit_count_total{')).length;
const count = body.match(/loopwatch_eventloop_stall_duration_seconds_count\{thread_name="main"\} (\d+)/)?.[1];
const first = samples[Math.min(1, samples.length - 1)];
const last = samples.at(-1);
console.log(`\nstalls counted in metrics: ${count}; events emitted (per-culprit cap): ${stalls}; culprit series: ${culpritSeries}`);
console.log(`heap after GC: minute ${first.minute} ${first.heapMB.toFixed(1)} MB → minute ${last.minute} ${last.heapMB.toFixed(1)} MB (${(last.heapMB - first.heapMB).toFixed(2)} MB)`);
console.log(`RSS: ${first.rssMB.toFixed(1)} → ${last.rssMB.toFixed(1)} MB`);
await agent?.stop();
server.close();
