// Reads the generated dashboards (the JSON is what users import).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './tools.mjs';

export const DASHBOARD_DIR = join(ROOT, 'dashboards/json');

export function loadDashboards() {
  return readdirSync(DASHBOARD_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({ file, json: JSON.parse(readFileSync(join(DASHBOARD_DIR, file), 'utf8')) }));
}

/** Every panel, including panels nested in collapsed rows. */
export function panels(dash) {
  const out = [];
  for (const p of dash.panels ?? []) {
    out.push(p);
    for (const inner of p.panels ?? []) out.push(inner);
  }
  return out;
}

/** [{dashboard, panel, target}] for every query target. */
export function targets(dashboards = loadDashboards()) {
  const out = [];
  for (const { file, json } of dashboards) {
    for (const panel of panels(json)) {
      for (const target of panel.targets ?? []) out.push({ file, dashboard: json, panel, target });
    }
  }
  return out;
}

/** Grafana template variables replaced so Prometheus can run the query. */
export function concreteExpr(expr, { rateInterval = '5m', range = '1h' } = {}) {
  return expr
    .replaceAll('$__rate_interval', rateInterval)
    .replaceAll('$__range', range)
    .replaceAll('$__interval', rateInterval)
    .replace(/\$\{?(job|instance)\}?/g, '.+');
}
