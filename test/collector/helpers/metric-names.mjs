// The metric contract (Prometheus names the agent exposes) and a PromQL name
// extractor, shared by the rules, dashboard and e2e tests.
// The contract is docs/metrics.md (generated from the agent's metric table and checked against it):
// every Prometheus series name listed there, histograms expanded to _bucket/_sum/_count.
import { readFileSync } from 'node:fs';

function contractFromDocs() {
  const doc = readFileSync(new URL('../../../docs/metrics.md', import.meta.url), 'utf8');
  const table = doc.slice(doc.indexOf('<!-- metrics:begin'), doc.indexOf('<!-- metrics:end'));
  const names = new Set();
  for (const line of table.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    if (cells.length < 4 || !cells[2]?.startsWith('`')) continue;
    const [first] = [...cells[2].matchAll(/`([a-z_:][a-z0-9_:]*)`/gi)].map((m) => m[1]);
    if (!first) continue;
    if (cells[3] === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(first.replace(/_bucket$/, '') + suffix);
    else names.add(first);
  }
  if (names.size < 20) throw new Error(`docs/metrics.md lists only ${names.size} series names; is the generated table missing?`);
  return names;
}

export const CONTRACT = contractFromDocs();

/** Series Prometheus itself creates for every scrape target. */
export const PROMETHEUS_SYNTHETIC = new Set(['up']);

const KEYWORDS = new Set([
  'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset',
  'inf', 'nan',
]);

/**
 * Metric (and recording-rule) names referenced by a PromQL expression:
 * identifiers that are not functions, keywords, label names or numbers.
 */
export function extractMetricNames(expr) {
  let s = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""') // strings
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // range / subquery durations
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' '); // label lists
  const names = new Set();
  for (const m of s.matchAll(/(?<![\w$.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    const [, name, call] = m;
    if (call || KEYWORDS.has(name.toLowerCase())) continue;
    names.add(name);
  }
  return [...names];
}

/** For each `*_total` name in expr: true when it sits directly inside rate/irate/increase. */
export function countersOutsideRate(expr) {
  const bad = [];
  const clean = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  for (const m of clean.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*_total\b/g)) {
    // Walk back to the innermost unclosed "(" and read the function name.
    let depth = 0;
    let fn = null;
    for (let i = m.index - 1; i >= 0; i--) {
      const c = clean[i];
      if (c === ')') depth++;
      else if (c === '(') {
        if (depth === 0) {
          fn = (clean.slice(0, i).match(/([a-zA-Z_]+)\s*$/) ?? [])[1] ?? '';
          break;
        }
        depth--;
      }
    }
    if (!['rate', 'irate', 'increase'].includes(fn)) bad.push(m[0]);
  }
  return bad;
}
