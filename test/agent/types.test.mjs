// The published StallEvent type (agent/dist/types.d.ts, read with the TypeScript compiler) against the events the
// agent really emits: every key an event carries is declared, every required one is there, each value has its
// declared type (nested interfaces and literal unions included), and every declared field occurs in one of the
// events below — so a field the builder adds without the type, or one the type keeps after the builder dropped it,
// fails here. The events come from the real stall pipeline (stall/pipeline.ts, record.ts, attribution/aggregate.ts)
// fed samples that exercise each optional field, and from a real agent in a child process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fixture, runChild } from './helpers/child.mjs';

const require = createRequire(import.meta.url);
const ts = require('typescript');
const dist = (p) => require(`../../agent/dist/${p}`);
const { StallPipeline } = dist('stall/pipeline.js');
const { SeriesStore, SeriesRegistry } = dist('metrics/store.js');
const { aggregateSamples } = dist('attribution/aggregate.js');

// ---- the declared type -------------------------------------------------------------------------------------------

const dts = ts.createSourceFile('types.d.ts', readFileSync(new URL('../../agent/dist/types.d.ts', import.meta.url), 'utf8'), ts.ScriptTarget.Latest, true);
const interfaces = new Map();
dts.forEachChild((n) => {
  if (ts.isInterfaceDeclaration(n)) interfaces.set(n.name.text, n.members);
});

/** name → { optional, type } of an interface's or type literal's property signatures. */
function fieldsOf(members) {
  const out = new Map();
  for (const m of members) {
    assert.ok(ts.isPropertySignature(m) && m.type, `only property signatures are expected, got ${m.getText(dts)}`);
    out.set(m.name.getText(dts), { optional: m.questionToken !== undefined, type: m.type });
  }
  return out;
}

/** Checks `value` against a type node of types.d.ts; returns the problems found (empty: it conforms). */
function conforms(value, type, path) {
  switch (type.kind) {
    case ts.SyntaxKind.NumberKeyword:
      return typeof value === 'number' ? [] : [`${path}: ${JSON.stringify(value)} is not a number`];
    case ts.SyntaxKind.StringKeyword:
      return typeof value === 'string' ? [] : [`${path}: ${JSON.stringify(value)} is not a string`];
    case ts.SyntaxKind.LiteralType:
      return ts.isStringLiteral(type.literal) && value === type.literal.text ? [] : [`${path}: ${JSON.stringify(value)} is not ${type.getText(dts)}`];
    case ts.SyntaxKind.UnionType:
      return type.types.some((t) => conforms(value, t, path).length === 0) ? [] : [`${path}: ${JSON.stringify(value)} is not ${type.getText(dts)}`];
    case ts.SyntaxKind.ArrayType:
      if (!Array.isArray(value)) return [`${path}: not an array`];
      return value.flatMap((v, i) => conforms(v, type.elementType, `${path}[${i}]`));
    case ts.SyntaxKind.TypeLiteral:
      return conformsToFields(value, fieldsOf(type.members), path);
    case ts.SyntaxKind.TypeReference: {
      const members = interfaces.get(type.typeName.getText(dts));
      assert.ok(members, `${path}: type ${type.getText(dts)} is not an interface of types.d.ts`);
      return conformsToFields(value, fieldsOf(members), path);
    }
    default:
      throw new Error(`${path}: the test does not know how to check ${type.getText(dts)}`);
  }
}

function conformsToFields(value, fields, path) {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [`${path}: not an object`];
  const problems = [];
  for (const key of Object.keys(value)) if (!fields.has(key)) problems.push(`${path}.${key}: carried but not declared`);
  for (const [key, { optional, type }] of fields) {
    if (value[key] === undefined) {
      if (!optional) problems.push(`${path}.${key}: declared required, missing`);
    } else problems.push(...conforms(value[key], type, `${path}.${key}`));
  }
  return problems;
}

const STALL_EVENT = fieldsOf(interfaces.get('StallEvent'));

// ---- events from the real pipeline ---------------------------------------------------------------------------------

const F = (functionName, fileName, lineNumber = 1) => ({ functionName, fileName, lineNumber, columnNumber: 7 });
const A = [F('parseBody', '/srv/app/parse.js', 3), F('handler', '/srv/app/server.js', 9)];
const B = [F('renderPage', '/srv/app/render.js', 5), F('handler', '/srv/app/server.js', 10)];
const LATE = [F('countItems', '/srv/app/orders.js', 20), F('parseOrders', '/srv/app/orders.js', 12)];
/** A sample of a traced GraphQL request, with two more requests in flight. */
const S = (frames, extra = {}) => ({
  frames,
  route: 'POST /graphql',
  graphqlOperation: { name: 'Orders', type: 'query' },
  traceId: 'a'.repeat(32),
  spanId: 'b'.repeat(16),
  resourceType: 'HTTPINCOMINGMESSAGE',
  inflight: 3,
  inRequest: true,
  ...extra,
});

function pipeline({ attribution = true, deep } = {}) {
  const c = { ns: 1_000_000_000n, wall: 1_700_000_000_000 };
  const clock = { nowNs: () => c.ns, loopTime: () => ({ active: 0, idle: 0 }), wallMs: () => c.wall };
  const events = [];
  const store = new SeriesStore('1', new SeriesRegistry(), () => {});
  const p = new StallPipeline('main', attribution, store, (e) => events.push(e), () => {}, { clock, attributionWaitMs: 60_000 });
  if (deep) {
    // The thread side in deep mode: the callback that blocked, with where it was scheduled.
    const handle = { stop() {}, tracksRequests: true, sample() {}, takeStall: () => ({ deep }), onRequestEndDuringMark() {}, refresh() {} };
    p.useThread(handle, { loopActiveMs: 0, lastBeatNs: c.ns, thresholdMs: 100 }, (what, err) => assert.fail(`${what}: ${err}`));
  }
  /** One stall of `durationMs` whose watchdog saw `samples` (none: attribution off). */
  const stall = (samples, durationMs = 300) => {
    const sinceNs = (c.ns += 1_000_000_000n);
    p.detected({ durationMs, startTime: c.wall - durationMs, endNs: sinceNs + 1n, sinceNs });
    if (attribution) p.attributed(sinceNs, aggregateSamples(samples));
  };
  return { c, events, stall };
}

function pipelineEvents() {
  const out = {};
  // Sampled three times (dominant frames), traced GraphQL request, deep mode's origin.
  const deep = pipeline({ deep: { type: 'HTTPINCOMINGMESSAGE', origin: [F('emit', '/srv/app/server.js', 30)], durationMs: 300, endNs: 0n } });
  deep.stall([S(A), S(B), S(B)]);
  out.sampled = deep.events[0];
  // Every sample read late: the two frames the blocking call was made from.
  const late = pipeline();
  late.stall([S(LATE, { late: true, missed: 4 })]);
  out.late = late.events[0];
  // In a keep-alive connection's request, which one unknown (requestScope 'connection'): no route, the reason.
  const unknown = pipeline();
  unknown.stall([S(A, { route: undefined, graphqlOperation: undefined, unknownRequest: 'keep-alive' })]);
  out.unknownRequest = unknown.events[0];
  // Attribution off: no stack.
  const off = pipeline({ attribution: false });
  off.stall([]);
  out.off = off.events[0];
  // The rate cap: the burst, then a minute later one report saying how many were held back.
  const capped = pipeline();
  for (let i = 0; i < 8; i++) capped.stall([S(A)]);
  capped.c.wall += 60_000;
  capped.stall([S(A)]);
  out.afterCap = capped.events.at(-1);
  return out;
}

test('StallEvent declares exactly the fields the pipeline sets: each event conforms, every declared field occurs', () => {
  const events = pipelineEvents();
  for (const [name, e] of Object.entries(events)) {
    assert.ok(e, `no ${name} event`);
    assert.deepEqual(conformsToFields(e, STALL_EVENT, name), [], `${name}: ${JSON.stringify(e)}`);
  }
  const carried = new Set(Object.values(events).flatMap((e) => Object.keys(e)));
  const neverSet = [...STALL_EVENT.keys()].filter((k) => !carried.has(k));
  assert.deepEqual(neverSet, [], 'declared fields no event carries');
  // The scenarios are what they say (so the coverage above is not by accident).
  assert.equal(events.sampled.stackSource, 'sampled');
  assert.equal(events.sampled.samples, 3);
  assert.equal(events.late.stackSource, 'late');
  assert.equal(events.off.stackSource, 'none');
  assert.equal(events.afterCap.suppressed, 3);
  assert.equal(events.unknownRequest.unknownRequest, 'keep-alive');
  assert.equal(events.unknownRequest.route, undefined);
});

test('a stall event of a real agent conforms to StallEvent', async (t) => {
  const app = runChild(fixture('block.cjs'), { args: ['300', '300'] });
  t.after(() => app.kill());
  const { type, ...event } = await app.message('stall');
  assert.equal(type, 'stall');
  assert.deepEqual(conformsToFields(event, STALL_EVENT, 'event'), [], JSON.stringify(event));
});
