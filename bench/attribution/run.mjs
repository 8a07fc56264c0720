// Interleaved benchmark: for each round, for each mode, start a fresh server, warm up, run autocannon,
// and record server CPU µs per request and latency p99. Usage: node run.mjs [rounds] [seconds] [node binary]
// Env: MODES, HANDLERS (comma lists), PIN=1 (server on its own CPU).
import { spawn, spawnSync } from 'node:child_process';
import os from 'node:os';
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
const require = createRequire(import.meta.url);
const autocannon = require('autocannon');
const rounds = Number(process.argv[2] ?? 3), secs = Number(process.argv[3] ?? 5);
const nodeBin = process.argv[4] ?? process.execPath;
const modes = (process.env.MODES ?? 'baseline,loopwatch,inspector-idle,debugger-enabled,profiler-10ms,async-hooks,blocked-at').split(',');
const handlers = (process.env.HANDLERS ?? 'simple,promise').split(',');
const pin = process.env.PIN === '1';
const lastCpu = os.cpus().length - 1;
if (pin) spawnSync('taskset', ['-p', '-c', lastCpu > 0 ? `0-${lastCpu - 1}` : '0', String(process.pid)], { stdio: 'ignore' });
const results = {};
async function one(mode, handler) {
  const args = [nodeBin, new URL('./server.mjs', import.meta.url).pathname, mode, handler];
  // PIN=1: the server on the last CPU, this process (autocannon) on the others, as bench/overhead.mjs --pin.
  const child = pin ? spawn('taskset', ['-c', String(lastCpu), ...args], { stdio: ['ignore', 'pipe', 'inherit'] }) : spawn(args[0], args.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((res) => child.stdout.once('data', (d) => res(JSON.parse(String(d)).port)));
  const url = `http://127.0.0.1:${port}/`;
  const cpu = async () => JSON.parse(await (await fetch(url + '__cpu')).text());
  await autocannon({ url, connections: 10, duration: 1 }); // warm-up
  const c0 = await cpu();
  const r = await autocannon({ url, connections: 10, duration: secs });
  const c1 = await cpu();
  child.kill();
  const us = (c1.user + c1.system - c0.user - c0.system) / r.requests.total;
  return { usPerReq: us, p99: r.latency.p99, rps: r.requests.average };
}
for (let i = 0; i < rounds; i++) {
  for (const handler of handlers) for (const mode of modes) {
    const r = await one(mode, handler);
    (results[`${handler}/${mode}`] ??= []).push(r);
    console.error(`round ${i} ${handler}/${mode}: ${r.usPerReq.toFixed(1)} µs/req p99 ${r.p99} ms rps ${r.rps}`);
  }
}
const med = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
const summary = {};
for (const handler of handlers) {
  const base = results[`${handler}/baseline`];
  for (const mode of modes) {
    const rs = results[`${handler}/${mode}`];
    const cpu = med(rs.map((r) => r.usPerReq)), p99 = med(rs.map((r) => r.p99));
    summary[`${handler}/${mode}`] = { usPerReq: +cpu.toFixed(2), cpuRatio: +(cpu / med(base.map((r) => r.usPerReq))).toFixed(3), p99, p99Ratio: +(p99 / Math.max(1, med(base.map((r) => r.p99)))).toFixed(3), rps: med(rs.map((r) => r.rps)) };
  }
}
console.log(JSON.stringify({ node: nodeBin, rounds, secs, summary }, null, 2));
if (process.env.OUT) writeFileSync(process.env.OUT, JSON.stringify({ node: nodeBin, rounds, secs, summary, results }, null, 2));
