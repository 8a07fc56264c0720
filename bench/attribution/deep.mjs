// Cost of deep attribution: baseline (no agent) vs the agent as shipped (attribution on) vs the agent with
// attribution: 'deep' vs blocked-at, at a FIXED request rate (autocannon overallRate), so every variant serves
// the same load and server CPU per request is comparable. Interleaved rounds (the variant order rotates each
// round), a fresh server child per variant and round (bench/attribution/server.mjs), 1 s warm-up.
// Usage: node bench/attribution/deep.mjs [rounds=5] [seconds=5] [rate=1000]   (MODES=…, HANDLERS=…, OUT=file.json)
// Reports per handler and variant: server CPU µs/request and its ratio to the same round's baseline (median and
// per-round min…max), p99 latency, achieved rate.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
const require = createRequire(import.meta.url);
const autocannon = require('autocannon');
const rounds = Number(process.argv[2] ?? 5), secs = Number(process.argv[3] ?? 5), rate = Number(process.argv[4] ?? 1000);
const modes = (process.env.MODES ?? 'baseline,agent,agent-deep,blocked-at').split(',');
const handlers = (process.env.HANDLERS ?? 'simple,promise').split(',');

async function one(mode, handler) {
  const child = spawn(process.execPath, [new URL('./server.mjs', import.meta.url).pathname, mode, handler], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise((res, rej) => {
      child.stdout.once('data', (d) => res(JSON.parse(String(d)).port));
      child.once('exit', (code) => rej(new Error(`${mode} server exited ${code}`)));
    });
    const url = `http://127.0.0.1:${port}/`;
    const cpu = async () => JSON.parse(await (await fetch(url + '__cpu')).text());
    await autocannon({ url, connections: 10, duration: 1, overallRate: rate }); // warm-up
    const c0 = await cpu();
    const r = await autocannon({ url, connections: 10, duration: secs, overallRate: rate });
    const c1 = await cpu();
    return { usPerReq: (c1.user + c1.system - c0.user - c0.system) / r.requests.total, p99: r.latency.p99, rps: r.requests.average, errors: r.errors + r.non2xx };
  } finally {
    child.kill();
  }
}

const results = {};
for (let i = 0; i < rounds; i++) {
  for (const handler of handlers) {
    const order = modes.map((_, k) => modes[(k + i) % modes.length]);
    const round = {};
    for (const mode of order) {
      round[mode] = await one(mode, handler);
      console.error(`round ${i} ${handler}/${mode}: ${round[mode].usPerReq.toFixed(1)} µs/req p99 ${round[mode].p99} ms rps ${round[mode].rps}`);
    }
    for (const mode of modes) (results[`${handler}/${mode}`] ??= []).push({ ...round[mode], ratio: round[mode].usPerReq / round.baseline.usPerReq });
  }
}
const med = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor((s.length - 1) / 2)]; };
const f = (x, d = 2) => x.toFixed(d);
const rows = [];
for (const handler of handlers) for (const mode of modes) {
  const rs = results[`${handler}/${mode}`];
  const ratios = rs.map((r) => r.ratio);
  rows.push(`| ${handler} | ${mode} | ${f(med(rs.map((r) => r.usPerReq)), 1)} | ${f(med(ratios))} (${f(Math.min(...ratios))}…${f(Math.max(...ratios))}) | ${med(rs.map((r) => r.p99))} | ${Math.round(med(rs.map((r) => r.rps)))} |`);
}
console.log(`Node ${process.version}, ${rounds} rounds × ${secs} s at ${rate} req/s (10 connections)\n`);
console.log('| handler | variant | CPU µs/req (median) | ratio to baseline: median (per-round min…max) | p99 ms (median) | rps (median) |');
console.log('|---|---|---:|---|---:|---:|');
console.log(rows.join('\n'));
if (process.env.OUT) writeFileSync(process.env.OUT, JSON.stringify({ node: process.version, rounds, secs, rate, results }, null, 2));
