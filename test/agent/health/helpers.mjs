// Shared by the health tests: the fixture app in a child process, and probes over real HTTP from this process.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'node:http';
import { runChild } from '../helpers/child.mjs';

export const APP = fileURLToPath(new URL('./fixtures/app.mjs', import.meta.url));

export function startApp(mode, arg, env = {}) {
  return runChild(APP, { args: arg === undefined ? [mode] : [mode, String(arg)], env: { LOOPWATCH_LOG: 'off', ...env } });
}

export const tempFile = (name) => join(mkdtempSync(join(tmpdir(), 'lw-health-')), name);

/** GET with a fresh connection; resolves { status, body, json, headers, ms } (ms: request sent to response complete). */
export function get(url, { timeoutMs = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => {
        let json;
        try {
          json = JSON.parse(body);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode, body, json, headers: res.headers, ms: performance.now() - t0 });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** Probes `url` until `pred(answer)` holds or the deadline passes; returns every answer seen and the matching one. */
export async function pollUntil(url, pred, { timeoutMs = 15_000, everyMs = 100 } = {}) {
  const seen = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const a = await get(url);
    a.at = Date.now();
    seen.push(a);
    if (pred(a)) return { match: a, seen };
    if (Date.now() > deadline) throw new Error(`${url}: condition not met in ${timeoutMs} ms; last ${a.status} ${a.body}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export const base = (metricsUrl) => metricsUrl.replace(/\/metrics$/, '');
