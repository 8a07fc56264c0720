// A small node:http service whose endpoints stall the event loop the ways
// real services do. Run it with the agent attached:
//   node --import loopwatch/register demo/server.mjs
// Env: PORT (default 3000).
import { createServer } from 'node:http';
import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { getAgent } from 'loopwatch';
import { createPoolDemo } from './pools.mjs';

const port = Number(process.env.PORT ?? 3000);

// Fixtures built once at start-up so each request pays only for the blocking call.
const bigJson = JSON.stringify(Array.from({ length: 300_000 }, (_, i) => ({ id: i, name: `user-${i}`, tags: ['a', 'b'], score: i / 7 })));
// The 64 MB blob lives in a folder named after this process: removed at exit, and a folder left by a demo that
// was killed (SIGKILL runs no exit handler) is removed by the next demo once its process is gone.
for (const name of readdirSync(tmpdir())) {
  const pid = Number(/^loopwatch-demo-(\d+)-/.exec(name)?.[1]);
  if (pid && !alive(pid)) rmSync(join(tmpdir(), name), { recursive: true, force: true });
}
const dataDir = mkdtempSync(join(tmpdir(), `loopwatch-demo-${process.pid}-`));
process.on('exit', () => rmSync(dataDir, { recursive: true, force: true }));

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM'; // someone else's process: alive
  }
}
const bigFile = join(dataDir, 'blob.bin');
writeFileSync(bigFile, randomBytes(64 * 1024 * 1024));

function busy(ms) {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

function fib(n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

/** Each handler is a named function so stalls can be attributed to it. */
const routes = {
  'GET /': (req, res) => send(res, 200, { endpoints: Object.keys(routes) }),
  'GET /fast': async function fast(req, res) {
    await sleep(2);
    send(res, 200, { ok: true });
  },
  'GET /stall/busy': function busyLoop(req, res, url) {
    const ms = Math.min(Number(url.searchParams.get('ms') ?? 200), 60_000);
    busy(ms);
    send(res, 200, { blockedMs: ms });
  },
  'GET /stall/crypto': function hashPassword(req, res) {
    const key = pbkdf2Sync('correct horse battery staple', 'salt', 200_000, 64, 'sha512');
    send(res, 200, { key: key.toString('hex').slice(0, 16) });
  },
  'GET /stall/json': function parseBigPayload(req, res) {
    const rows = JSON.parse(bigJson);
    send(res, 200, { rows: rows.length });
  },
  'GET /stall/readfile': function loadBlobSync(req, res) {
    let bytes = 0;
    for (let i = 0; i < 4; i++) bytes += readFileSync(bigFile).length;
    send(res, 200, { bytes });
  },
  'GET /stall/after-await': async function scoreAfterAwait(req, res) {
    await sleep(5);
    const value = fib(30);
    send(res, 200, { value });
  },
};

// Pool endpoints: saturate the libuv threadpool and a PostgreSQL pool (max 2), reported by loopwatch.
const poolDemo = createPoolDemo({
  monitorPool: (pool, options) => getAgent()?.monitorPool(pool, options) ?? { detach() {} },
});
for (const [path, handler] of Object.entries(poolDemo.routes)) routes[`GET ${path}`] = handler;

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const handler = routes[`${req.method} ${url.pathname}`];
  if (!handler) return send(res, 404, { error: 'not found' });
  Promise.resolve()
    .then(() => handler(req, res, url))
    .catch((err) => send(res, 500, { error: err.message }));
});
server.listen(port, () => {
  process.stdout.write(JSON.stringify({ type: 'listening', port: server.address().port }) + '\n');
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    server.close();
    // Bounded: a pool that will not close must not keep the demo running.
    setTimeout(() => process.exit(0), 2000).unref();
    poolDemo.close().finally(() => process.exit(0));
  });
}
