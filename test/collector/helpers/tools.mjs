// Locating the Debian Prometheus tools, child processes, free ports and
// polling with a deadline (tests never sleep for a fixed time).
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..');

const INSTALL_HINT = {
  promtool: 'apt-get install prometheus',
  prometheus: 'apt-get install prometheus',
  amtool: 'apt-get install prometheus-alertmanager',
  'prometheus-alertmanager': 'apt-get install prometheus-alertmanager',
  alertmanager: 'apt-get install prometheus-alertmanager',
  'docker-compose': 'apt-get install docker-compose',
};

/** Absolute path of a tool on PATH, or null. */
export function which(name) {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** The Alertmanager binary: Debian names it prometheus-alertmanager. */
export function alertmanagerBin() {
  return which('prometheus-alertmanager') ?? which('alertmanager');
}

/** Returns the tool path, or calls t.skip with an install hint and returns null. */
export function requireTool(t, name) {
  const path = name === 'alertmanager' ? alertmanagerBin() : which(name);
  if (!path) t.skip(`${name} not installed: ${INSTALL_HINT[name] ?? 'install it'}`);
  return path;
}

/** Runs a tool synchronously; returns {status, out} with stdout+stderr merged. */
export function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', cwd: ROOT, ...opts });
  return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Polls fn until it returns a truthy value or the deadline passes. */
export async function waitFor(fn, { timeoutMs = 30_000, intervalMs = 200, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let lastErr;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      lastErr = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}${lastErr ? `: ${lastErr.message}` : ''}`);
}

/** Child processes started by a test; stop() kills exactly those. */
export class Procs {
  #children = [];
  start(name, cmd, args, opts = {}) {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    child.name = name;
    child.log = '';
    const keep = (c) => {
      child.log = (child.log + c.toString()).slice(-20_000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    this.#children.push(child);
    return child;
  }
  logs() {
    return this.#children.map((c) => `--- ${c.name} (exit ${c.exitCode})\n${c.log.slice(-3000)}`).join('\n');
  }
  async stop() {
    await Promise.all(
      this.#children.map(
        (c) =>
          new Promise((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const timer = setTimeout(() => c.kill('SIGKILL'), 5000);
            c.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            c.kill('SIGTERM');
          }),
      ),
    );
  }
}

export const hasFile = (p) => existsSync(join(ROOT, p));
