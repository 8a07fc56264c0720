// Demo endpoints that saturate the libuv threadpool and a database pool.
// Framework-agnostic: each route is a plain (req, res) handler for
// node:http; the demo server mounts them.
//
//   import { createPoolDemo } from './pools.mjs';
//   const pools = createPoolDemo({ monitorPool: (pool, opts) => agent.monitorPool(pool, opts) });
//   // in the request handler:
//   const route = pools.routes[new URL(req.url, 'http://x').pathname];
//   if (route) return route(req, res);
//   // on shutdown: await pools.close();
//
// GET /pool/threadpool?n=16  n concurrent ~200 ms crypto.pbkdf2 calls (n ≤ 256)
// GET /pool/db?n=20          n concurrent clients on a pg Pool of max 2, each
//                            holding its connection ~100 ms (SELECT pg_sleep(0.1));
//                            503 with a clear message when PostgreSQL is unreachable.
import crypto from 'node:crypto';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

const PG = { host: '127.0.0.1', port: 5432, user: process.env.PGUSER ?? 'postgres', database: process.env.PGDATABASE ?? 'test' };

function json(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body, null, 2) + '\n');
}

function intParam(req, name, dflt, max) {
  const v = Number(new URL(req.url, 'http://localhost').searchParams.get(name) ?? dflt);
  return Number.isInteger(v) && v > 0 ? Math.min(v, max) : dflt;
}

let pbkdf2Iterations = 0;
/** Iterations for a ~200 ms pbkdf2 on this machine (measured once, synchronously, on the main thread). */
function iterationsFor200ms() {
  if (pbkdf2Iterations) return pbkdf2Iterations;
  let iter = 20000;
  for (;;) {
    const t = performance.now();
    crypto.pbkdf2Sync('demo', 'salt', iter, 32, 'sha256');
    const ms = performance.now() - t;
    if (ms > 30) return (pbkdf2Iterations = Math.round((iter * 200) / ms));
    iter *= 4;
  }
}

export function createPoolDemo({ monitorPool, pgConfig = PG, log = console.log } = {}) {
  let pgPool = null;
  let pgError = null;

  async function getPgPool() {
    if (pgPool) return pgPool;
    let pg;
    try {
      pg = require('pg');
    } catch (err) {
      pgError = `pg module not installed: ${err.message}`;
      return null;
    }
    const probe = new pg.Client({ ...pgConfig, connectionTimeoutMillis: 2000 });
    try {
      await probe.connect();
      await probe.end();
    } catch (err) {
      pgError = `PostgreSQL not reachable on ${pgConfig.host}:${pgConfig.port}: ${err.message}`;
      return null;
    }
    if (pgPool) return pgPool; // a concurrent request created it meanwhile
    pgPool = new pg.Pool({ ...pgConfig, max: 2 });
    pgPool.on('error', (err) => log(`[pools demo] idle pg client error: ${err.message}`));
    if (monitorPool) monitorPool(pgPool, { name: 'demo-pg' });
    pgError = null;
    return pgPool;
  }

  async function threadpool(req, res) {
    const n = intParam(req, 'n', 16, 256);
    const iterations = iterationsFor200ms();
    const t0 = performance.now();
    const done = await Promise.all(
      Array.from(
        { length: n },
        () =>
          new Promise((resolve, reject) =>
            crypto.pbkdf2('demo', 'salt', iterations, 32, 'sha256', (err) => (err ? reject(err) : resolve(performance.now() - t0))),
          ),
      ),
    );
    const body = {
      endpoint: 'threadpool',
      jobs: n,
      jobCostMs: 200,
      threadpoolSize: Number(process.env.UV_THREADPOOL_SIZE ?? 4) || 4,
      firstDoneMs: Math.round(Math.min(...done)),
      lastDoneMs: Math.round(Math.max(...done)),
      note: 'jobs beyond the threadpool size queue: lastDoneMs ≈ ceil(jobs / size) × 200 ms',
    };
    log(`[pools demo] /pool/threadpool n=${n}: last job done after ${body.lastDoneMs} ms`);
    json(res, 200, body);
  }

  async function db(req, res) {
    const n = intParam(req, 'n', 20, 200);
    const pool = await getPgPool();
    if (!pool) {
      log(`[pools demo] /pool/db skipped: ${pgError}`);
      return json(res, 503, { endpoint: 'db', skipped: pgError });
    }
    const t0 = performance.now();
    const waits = await Promise.all(
      Array.from({ length: n }, async () => {
        const t = performance.now();
        const client = await pool.connect();
        const waited = performance.now() - t;
        try {
          await client.query('SELECT pg_sleep(0.1)');
        } finally {
          client.release();
        }
        return waited;
      }),
    );
    waits.sort((a, b) => a - b);
    const body = {
      endpoint: 'db',
      clients: n,
      poolMax: 2,
      holdMs: 100,
      totalMs: Math.round(performance.now() - t0),
      maxWaitMs: Math.round(waits[waits.length - 1]),
      note: 'with max 2 and 100 ms holds, the last clients wait ≈ (n/2 − 1) × 100 ms for a connection',
    };
    log(`[pools demo] /pool/db n=${n}: max wait for a connection ${body.maxWaitMs} ms`);
    json(res, 200, body);
  }

  const wrap = (fn) => (req, res) =>
    fn(req, res).catch((err) => {
      if (!res.headersSent) json(res, 500, { error: err.message });
      else res.end();
    });

  return {
    routes: { '/pool/threadpool': wrap(threadpool), '/pool/db': wrap(db) },
    async close() {
      const p = pgPool;
      pgPool = null;
      if (p) await p.end();
    },
  };
}
