// `npm run demo`: starts the demo service with loopwatch attached
// (`--import loopwatch/register`, every stall printed), drives load at it,
// and every few seconds prints what loopwatch's /metrics says.
// Options: --duration=SECONDS (default: until Ctrl-C), --port, --metrics-port.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { request } from 'node:http';

const arg = (name, fallback) => {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  return hit ? hit.split('=')[1] : fallback;
};
const duration = Number(arg('duration', 0));
const port = Number(arg('port', process.env.PORT ?? 3000));
const metricsPort = Number(arg('metrics-port', process.env.LOOPWATCH_PROMETHEUS_PORT ?? 9464));

const server = spawn(process.execPath, ['--import', 'loopwatch/register', fileURLToPath(new URL('./server.mjs', import.meta.url))], {
  env: { ...process.env, PORT: String(port), LOOPWATCH_PROMETHEUS_PORT: String(metricsPort), LOOPWATCH_LOG: process.env.LOOPWATCH_LOG ?? 'stderr', LOOPWATCH_THREADPOOL: process.env.LOOPWATCH_THREADPOOL ?? 'count' },
  stdio: ['ignore', 'pipe', 'inherit'],
});
let stopping = false;
const stop = (code = 0) => {
  if (stopping) return;
  stopping = true;
  server.kill('SIGTERM');
  setTimeout(() => process.exit(code), 500).unref();
};
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => stop(0));
server.on('exit', (code) => {
  if (!stopping) {
    console.error(`demo: the service exited (code ${code})`);
    process.exit(1);
  }
});

await new Promise((resolve) => server.stdout.once('data', resolve));
console.log(`demo: service on http://127.0.0.1:${port}  —  loopwatch metrics on http://127.0.0.1:${metricsPort}/metrics, probes on /livez and /readyz there`);
console.log('demo: sending steady traffic to /fast and a stalling request every 2 s; stalls are printed as loopwatch reports them.\n');

const get = (path, p = port) =>
  new Promise((resolve) => {
    const t0 = performance.now();
    const req = request({ host: '127.0.0.1', port: p, path, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, ms: performance.now() - t0, body }));
    });
    req.on('error', () => resolve({ status: 0, ms: performance.now() - t0, body: '' }));
    req.end();
  });

const latencies = [];
// Steady load: 4 concurrent clients on the fast endpoint.
for (let c = 0; c < 4; c++) {
  (async () => {
    while (!stopping) latencies.push((await get('/fast')).ms);
  })();
}
const stallers = ['/stall/crypto', '/stall/json', '/stall/busy?ms=300', '/pool/threadpool?n=16', '/stall/readfile', '/stall/after-await', '/pool/db?n=20'];
let n = 0;
const stallTimer = setInterval(() => void get(stallers[n++ % stallers.length]), 2000);

const report = setInterval(async () => {
  const { body } = await get('/metrics', metricsPort);
  // The watchdog's health probes (docs/health.md): what a kubelet would see now.
  const [livez, readyz] = await Promise.all([get('/livez', metricsPort), get('/readyz', metricsPort)]);
  const why = (r) => (r.status === 503 ? ` (${/"reason":"(\w+)"/.exec(r.body)?.[1] ?? /"state":"(\w+)"/.exec(r.body)?.[1]})` : '');
  const value = (re) => body.split('\n').filter((l) => re.test(l)).reduce((s, l) => s + Number(l.split(' ').at(-1)), 0);
  const lat = latencies.splice(0).sort((a, b) => a - b);
  const p99 = lat.length ? lat[Math.floor(lat.length * 0.99)] : 0;
  console.log(
    `demo: ${lat.length} fast requests in 5 s, their p99 ${p99.toFixed(0)} ms | loopwatch: ` +
      `${value(/^loopwatch_eventloop_stall_duration_seconds_count\{/)} stalls, ` +
      `${value(/^loopwatch_eventloop_stall_seconds_total\{/).toFixed(2)} s stalled, ` +
      `loop p99 delay ${(value(/^nodejs_eventloop_delay_p99_seconds\{thread_name="main"/) * 1000).toFixed(0)} ms | ` +
      `threadpool ${value(/^loopwatch_pool_used\{pool_name="libuv"/)}/${value(/^loopwatch_pool_max\{pool_name="libuv"/)} busy, ` +
      `${value(/^loopwatch_pool_pending\{pool_name="libuv"/)} queued | ` +
      `db pool pending ${value(/^loopwatch_pool_pending\{pool_name="demo-pg"/)} | ` +
      `/livez ${livez.status}${why(livez)}, /readyz ${readyz.status}${why(readyz)}`,
  );
}, 5000);

if (duration > 0) {
  setTimeout(() => {
    clearInterval(stallTimer);
    clearInterval(report);
    stop(0);
  }, duration * 1000);
}
