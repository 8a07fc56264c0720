// Runs a stall fixture (it prints `STALL {json}` per stall event and `BLOCK {json}` per block it caused) in a child
// process and collects what it printed; killed after 60 s.
import { spawn } from 'node:child_process';
import { dirname } from 'node:path';

export function runStallFixture(path, { execArgv = [], env = {} } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...execArgv, path], { stdio: ['ignore', 'pipe', 'pipe'], cwd: dirname(path), env: { ...process.env, ...env } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const lines = (prefix) => out.split('\n').filter((l) => l.startsWith(prefix)).map((l) => JSON.parse(l.slice(prefix.length)));
      resolve({ code, stalls: lines('STALL '), blocks: lines('BLOCK '), out, err });
    });
  });
}
