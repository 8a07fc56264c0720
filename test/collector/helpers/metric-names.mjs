// The metric contract (Prometheus names the agent exposes) and a PromQL name
// extractor, shared by the rules, dashboard and e2e tests.
// TODO(lead): switch CONTRACT to parse docs/metrics.md once it is generated.

const loopGauges = ['min', 'max', 'mean', 'stddev', 'p50', 'p90', 'p99'].map((s) => `nodejs_eventloop_delay_${s}_seconds`);
const histogram = (base) => [`${base}_bucket`, `${base}_sum`, `${base}_count`];

export const CONTRACT = new Set([
  ...loopGauges,
  'nodejs_eventloop_utilization_ratio',
  'nodejs_eventloop_time_seconds_total',
  ...histogram('v8js_gc_duration_seconds'),
  ...histogram('loopwatch_eventloop_delay_seconds'),
  ...histogram('loopwatch_eventloop_stall_duration_seconds'),
  'loopwatch_eventloop_stall_seconds_total',
  'loopwatch_eventloop_stall_in_progress_seconds',
  'loopwatch_agent_errors_total',
  'loopwatch_pool_max',
  'loopwatch_pool_used',
  'loopwatch_pool_idle',
  'loopwatch_pool_pending',
  ...histogram('loopwatch_pool_wait_time_seconds'),
  ...histogram('loopwatch_pool_use_time_seconds'),
  'loopwatch_pool_errors_total',
  // Stall attribution (parallel effort).
  'loopwatch_eventloop_stall_culprit_time_seconds_total',
  'loopwatch_eventloop_stall_culprit_count_total',
]);

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
