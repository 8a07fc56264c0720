// The direct cost per request of the ways a request's own context frame can be entered, without a server. Each
// "request" is what node:http's parser does for a GET: its headers callback calls the connection's
// `parser.onIncoming(req, keepAlive)` (node:http's `parserOnIncoming`, bound to the connection: it publishes
// `http.server.request.start` if anyone subscribes, then the handler runs and leaves a promise continuation in the
// current frame), then its end-of-message callback — each inside the parser's async scope, as node:http's parser
// callbacks are, so each starts from the parser's frame. Up to 64 requests are in flight (their continuations
// pending, holding their frames) before the loop lets them finish. A variant's "on" side adds one mechanism; its
// "off" side is the same loop without it. Rounds alternate (off, on, on, off, …) so the machine's drift cancels;
// the per-round difference is reported as a median with a 95 % CI of the median (order statistics). Each variant
// runs in a process of its own. It cannot see indirect costs beyond this loop's (JIT decisions in a real server,
// GC of a real request's objects): bench/paired.mjs is the headline.
//
//   node_modules/node24/bin/node bench/request-frame.mjs [--rounds 30] [--n 200000] [--variant NAME[,NAME…]|all]
//   node_modules/node22/bin/node --experimental-async-context-frame bench/request-frame.mjs --variant all
//
// Variants ("-conn": the parser's frame already holds an entry — a frame per connection, as under requestScope
// 'connection', or any other AsyncLocalStorage in use; otherwise the parser's frame is empty):
//   both         the `http.server.request.start` subscriber calling enterWith (requestScope 'request' before run 24;
//                still its fallback where node:http's parser cannot be reached): node:http builds and publishes the
//                message, the subscriber enters the frame
//   publish      the channel alone, to a subscriber that does nothing
//   enter        enterWith(req) called directly in parserOnIncoming, empty parser frame: what the frame itself costs
//   enter-conn   the same, the parser's frame holding an entry (enterWith copies it)
//   parser       requestScope 'request' since run 24 (attribution/request-frames.ts): the connection's onIncoming
//                replaced by a closure that enters the frame and calls node:http's, and the end-of-message callback
//                by one that reads `incoming.readableFlowing` (null for a GET nobody reads) and calls node:http's
//   parser-conn  the same, the parser's frame holding an entry (a frame per connection kept as well)
//   run          the onIncoming replacement calling node:http's inside als.run(req, …) instead of after enterWith
//   wrap-only    both replacements, entering nothing: the calls' own cost
import { AsyncLocalStorage, AsyncResource } from 'node:async_hooks';
import { spawnSync } from 'node:child_process';
import dc from 'node:diagnostics_channel';
import { fileURLToPath } from 'node:url';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const ROUNDS = Number(arg('rounds', 30));
const N = Number(arg('n', 200_000));
const IN_FLIGHT = 64;
const VARIANTS = ['both', 'publish', 'enter', 'enter-conn', 'parser', 'parser-conn', 'run', 'wrap-only'];
const chosen = arg('variant', 'both');
const list = chosen === 'all' ? VARIANTS : chosen.split(',');
for (const v of list) if (!VARIANTS.includes(v)) throw new Error(`--variant ${v}: one of ${VARIANTS.join(', ')}, or all`);
// Several variants: each in a process of its own, so that one's JIT feedback (the shared functions below turn
// polymorphic) and heap cannot change another's numbers.
if (list.length > 1) {
  for (const v of list) {
    const args = process.argv.slice(2);
    const i = args.indexOf('--variant');
    args.splice(i, 2, '--variant', v);
    const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...args], { stdio: 'inherit' });
    if (r.status !== 0) process.exit(r.status ?? 1);
  }
  process.exit(0);
}
const variant = list[0];

const channel = dc.channel('http.server.request.start');
const als = new AsyncLocalStorage();
// The connection's entry in "-conn" variants: another storage, as a frame per connection or an app's own ALS.
const other = new AsyncLocalStorage();
const server = {};
const state = {};
let sink = 0;
let direct = false;
// The replacements' own check (the agent's `running`), read per call as theirs is.
let running = true;

/** An IncomingMessage as far as the parser's callbacks read it. */
class Request {
  constructor(i) {
    this.i = i;
    this.complete = false;
    this._flowing = null;
  }
  get readableFlowing() {
    return this._flowing;
  }
}

// node:http's parserOnIncoming, reduced to what differs between the variants.
function parserOnIncoming(srv, socket, st, req, keepAlive) {
  if (channel.hasSubscribers) channel.publish({ request: req, response: { req }, socket, server: srv });
  else if (direct) als.enterWith(req);
  sink += keepAlive ? 1 : 0;
  return Promise.resolve(req).then(noop);
}
function noop() {}
// node:http's parserOnMessageComplete, reduced: marks the request complete.
function parserOnMessageComplete() {
  const stream = this.incoming;
  if (stream !== null) stream.complete = true;
}
// _http_common's parserOnHeadersComplete, reduced to its last line.
function parserOnHeadersComplete(req) {
  return this.onIncoming(req, true);
}

/** A parser as node:http sets one up for a connection: its async resource made in the connection's frame or none. */
function makeParser(withEntry) {
  const make = () => new AsyncResource('HTTPINCOMINGMESSAGE');
  const socket = {};
  const resource = withEntry ? other.run(socket, make) : make();
  return { resource, socket, incoming: null, onIncoming: parserOnIncoming.bind(undefined, server, socket, state), onMessageComplete: parserOnMessageComplete };
}

// The replacements (attribution/request-frames.ts), installed on the "on" side's parser.
function enteringOnIncoming(original) {
  return function enterRequestFrame(req, keepAlive) {
    if (running) als.enterWith(req);
    return original.call(this, req, keepAlive);
  };
}
function runningOnIncoming(original) {
  return function runRequestFrame(req, keepAlive) {
    return als.run(req, original, req, keepAlive);
  };
}
function passingOnIncoming(original) {
  return function passOn(req, keepAlive) {
    return original.call(this, req, keepAlive);
  };
}
function enteringOnMessageComplete() {
  const req = this.incoming;
  if (req !== null && req.readableFlowing != null && running) als.enterWith(req);
  return parserOnMessageComplete.call(this);
}
function passingOnMessageComplete() {
  return parserOnMessageComplete.call(this);
}

async function run(parser) {
  const { resource } = parser;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    const req = new Request(i);
    parser.incoming = req;
    resource.runInAsyncScope(parserOnHeadersComplete, parser, req);
    resource.runInAsyncScope(parser.onMessageComplete, parser);
    parser.incoming = null;
    // The requests in flight finish: their continuations run (and release their frames).
    if (i % IN_FLIGHT === IN_FLIGHT - 1) await undefined;
  }
  return Number(process.hrtime.bigint() - t0) / N;
}

const withEntry = variant.endsWith('-conn');
const offParser = makeParser(withEntry);
const onParser = makeParser(withEntry);
const wrap = { parser: enteringOnIncoming, 'parser-conn': enteringOnIncoming, run: runningOnIncoming, 'wrap-only': passingOnIncoming }[variant];
if (wrap) {
  onParser.onIncoming = wrap(onParser.onIncoming);
  onParser.onMessageComplete = variant === 'wrap-only' ? passingOnMessageComplete : enteringOnMessageComplete;
}
const onStart = variant === 'publish' ? () => {} : (msg) => als.enterWith(msg.request);
const off = () => run(offParser);
async function on() {
  if (variant === 'both' || variant === 'publish') dc.subscribe('http.server.request.start', onStart);
  else if (variant === 'enter' || variant === 'enter-conn') direct = true;
  try {
    return await run(onParser);
  } finally {
    direct = false;
    if (variant === 'both' || variant === 'publish') dc.unsubscribe('http.server.request.start', onStart);
  }
}

for (let i = 0; i < 3; i++) (await off(), await on()); // warm-up
const diffs = [];
const offs = [];
for (let r = 0; r < ROUNDS; r++) {
  let a;
  let b;
  if (r % 2 === 0) {
    a = await off();
    b = await on();
  } else {
    b = await on();
    a = await off();
  }
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
  `request-frame (${variant}): Node ${process.version}${process.execArgv.length ? ' ' + process.execArgv.join(' ') : ''}, ${ROUNDS} rounds × ${N} requests; ` +
    `loop without it ${median(offs).toFixed(0)} ns/request; on adds ${median(diffs).toFixed(0)} ns/request ` +
    `(95 % CI ${lo.toFixed(0)} … ${hi.toFixed(0)})` + (sink < 0 || !running ? '' : ''),
);
