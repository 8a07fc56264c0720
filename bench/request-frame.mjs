// The direct cost of scope 'request' per request, without a server: what node:http does per request once
// loopwatch subscribes (build the `http.server.request.start` message and publish it) plus what the subscriber does
// (one AsyncLocalStorage#enterWith), run inside an async resource's scope as node:http's parser callback is, against
// the same loop with no subscriber. Rounds alternate (off, on, on, off, …) so the machine's drift cancels; the
// per-round difference is reported as a median with a 95 % CI of the median (order statistics).
// It cannot see indirect costs (GC of the frame and message, JIT decisions): bench/paired.mjs is the headline.
//
//   node_modules/node24/bin/node bench/request-frame.mjs [--rounds 30] [--n 200000] [--variant both|publish|enter]
// --variant publish: the subscriber does nothing (the channel's own cost); enter: enterWith called directly, no
// channel (what a frame costs however it is entered).
//   node_modules/node22/bin/node --experimental-async-context-frame bench/request-frame.mjs
import { AsyncLocalStorage, AsyncResource } from 'node:async_hooks';
import dc from 'node:diagnostics_channel';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const ROUNDS = arg('rounds', 30);
const vi = process.argv.indexOf('--variant');
const VARIANT = vi > 0 ? process.argv[vi + 1] : 'both';
const N = arg('n', 200_000);
const channel = dc.channel('http.server.request.start');
const als = new AsyncLocalStorage();
const onStart = VARIANT === 'publish' ? () => {} : (msg) => als.enterWith(msg.request);
let direct = false;
const parser = new AsyncResource('HTTPINCOMINGMESSAGE');
const socket = {};
const server = {};
let sink = 0;

// One "request": node:http's own publish (only when subscribed), then a promise and a timer-like callback object
// created in whatever frame is current, as a handler would.
function request(i) {
  const req = { i };
  const res = { req };
  if (channel.hasSubscribers) channel.publish({ request: req, response: res, socket, server });
  else if (direct) als.enterWith(req);
  sink += i & 1;
  return Promise.resolve(req);
}
function run() {
  const t0 = process.hrtime.bigint();
  parser.runInAsyncScope(() => {
    for (let i = 0; i < N; i++) request(i);
  });
  return Number(process.hrtime.bigint() - t0) / N;
}
const on = () => {
  if (VARIANT === 'enter') direct = true;
  else dc.subscribe('http.server.request.start', onStart);
  try {
    return run();
  } finally {
    direct = false;
    if (VARIANT !== 'enter') dc.unsubscribe('http.server.request.start', onStart);
  }
};
const off = () => run();

for (let i = 0; i < 3; i++) (off(), on()); // warm-up
const diffs = [];
const offs = [];
for (let r = 0; r < ROUNDS; r++) {
  const [a, b] = r % 2 === 0 ? [off(), on()] : [on(), off()].reverse();
  offs.push(a);
  diffs.push(b - a);
  await new Promise((resolve) => setImmediate(resolve));
}
diffs.sort((x, y) => x - y);
offs.sort((x, y) => x - y);
const median = (xs) => xs[Math.floor(xs.length / 2)];
// 95 % CI of the median: order statistics n/2 ± 1.96·√n/2.
const half = Math.ceil((1.96 * Math.sqrt(ROUNDS)) / 2);
const lo = diffs[Math.max(0, Math.floor(ROUNDS / 2) - half)];
const hi = diffs[Math.min(ROUNDS - 1, Math.floor(ROUNDS / 2) + half)];
console.log(
  `request-frame (${VARIANT}): Node ${process.version}${process.execArgv.length ? ' ' + process.execArgv.join(' ') : ''}, ${ROUNDS} rounds × ${N} requests; ` +
    `loop without subscriber ${median(offs).toFixed(0)} ns/request; on adds ${median(diffs).toFixed(0)} ns/request ` +
    `(95 % CI ${lo.toFixed(0)} … ${hi.toFixed(0)})` + (sink < 0 ? '' : ''),
);
