// Runs a fixture in a child process and lets a test read its JSON lines and
// stderr while it runs; the observer is never the process that stalls.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

/** A TCP port free on 127.0.0.1 now (for a child's metrics endpoint, or a port some test needs taken). */
export async function freePort() {
  const s = createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

export const fixture = (name) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));

export function runChild(file, { env = {}, args = [], execArgv = [] } = {}) {
  const child = spawn(process.execPath, [...execArgv, file, ...args], {
    env: { ...process.env, LOOPWATCH_PROMETHEUS_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const messages = [];
  let stderr = '';
  let buf = '';
  const waiters = new Set();
  const notify = () => { for (const w of waiters) w(); };
  child.stdout.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try { messages.push(JSON.parse(line)); } catch { messages.push({ text: line }); }
    }
    notify();
  });
  child.stderr.on('data', (d) => { stderr += d; notify(); });
  const exited = once(child, 'exit').then(([code, signal]) => ({ code, signal }));
  exited.then(notify);
  return {
    child,
    messages,
    get stderr() { return stderr; },
    exited,
    /** Polls until `pred()` returns truthy or the deadline passes. */
    async waitFor(pred, { timeoutMs = 20_000, what = 'condition' } = {}) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const v = pred();
        if (v) return v;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; stderr:\n${stderr}\nmessages: ${JSON.stringify(messages).slice(0, 2000)}`);
        await new Promise((resolve) => {
          waiters.add(resolve);
          setTimeout(() => { waiters.delete(resolve); resolve(); }, 50);
        });
      }
    },
    message(type) { return this.waitFor(() => messages.find((m) => m.type === type), { what: `message ${type}` }); },
    kill() { if (child.exitCode === null) child.kill('SIGKILL'); },
  };
}

/** Parses Prometheus text exposition into [{ name, labels, value }]. */
export function parseMetrics(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/);
    if (!m) continue;
    const labels = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v;
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

export function sample(metrics, name, labels = {}) {
  return metrics.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}
