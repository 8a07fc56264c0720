// What reading a route costs at stall time (inside the blocked code), per framework, and what the Koa/hapi link adds
// per request. Real framework objects, captured from a real request. Run: node test/agent/frameworks/bench-route-read.mjs
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { routeOf, normalisePath, startRouteLinking } = require('../../../agent/dist/attribution/route.js');
const express4 = require('express4');
const express5 = require('express');
const Koa = require('koa');
const Router = require('@koa/router');
const original = Koa.prototype.createContext;
startRouteLinking((w, e) => console.error(w, e)); // finds Koa in the module cache and links it

async function capture(listen) {
  let req;
  const server = await listen((r) => (req = r));
  await fetch(`http://127.0.0.1:${server.address().port}/orgs/acme/users/alice/profile`);
  server.close();
  return req;
}
const onExpress = (express) => (grab) => {
  const app = express();
  for (let i = 0; i < 20; i++) app.use(`/other${i}`, express.Router());
  const users = express.Router();
  users.get('/:userId/profile', (req, res) => { grab(req); res.end(); });
  app.use('/orgs/:org/users', users);
  return new Promise((r) => { const s = app.listen(0, '127.0.0.1', () => r(s)); });
};
const onKoa = (grab) => {
  const app = new Koa();
  const router = new Router();
  router.get('/orgs/:org/users/:userId/profile', (ctx) => { grab(ctx.req); ctx.body = ''; });
  app.use(router.routes());
  return new Promise((r) => { const s = app.listen(0, '127.0.0.1', () => r(s)); });
};

function time(label, fn, n = 200_000) {
  for (let i = 0; i < 10_000; i++) fn();
  const t0 = process.hrtime.bigint();
  let out;
  for (let i = 0; i < n; i++) out = fn();
  const ns = Number(process.hrtime.bigint() - t0) / n;
  console.log(`${label.padEnd(44)} ${(ns / 1000).toFixed(2)} µs  ${out}`);
}
const e4 = await capture(onExpress(express4));
const e5 = await capture(onExpress(express5));
const k = await capture(onKoa);
time('Express 4, router mounted after 20 others', () => routeOf('GET', e4));
time('Express 5, router mounted after 20 others', () => routeOf('GET', e5));
time('Koa + @koa/router', () => routeOf('GET', k));
time('fallback fold of the raw path', () => normalisePath('/orgs/acme/users/alice/profile'));

// The per-request price of the Koa link: createContext wrapped (this process) vs Koa's own, on the same app.
const app = new Koa();
const wrapped = Koa.prototype.createContext;
if (wrapped === original) throw new Error('Koa was not linked');
const fakeReq = () => ({ url: '/x', headers: {}, socket: {} });
for (let round = 0; round < 3; round++) {
  time('Koa createContext, original', () => (original.call(app, fakeReq(), {}), 'ok'), 500_000);
  time('Koa createContext, linked (per request)', () => (wrapped.call(app, fakeReq(), {}), 'ok'), 500_000);
}
