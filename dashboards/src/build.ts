// Regenerates dashboards/json/*.json from the TypeScript sources.
//   node dashboards/src/build.ts           write the JSON
//   node dashboards/src/build.ts --check   exit 1 if the committed JSON is stale
// Runs on Node >= 23.6 (type stripping); type-check with
//   node_modules/.bin/tsc -p dashboards
import { readFileSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventLoopDashboard } from './eventloop.ts';
import { whatBlockedDashboard } from './what-blocked.ts';
import { poolsDashboard } from './pools.ts';

const outDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'json');

export function render(): Map<string, string> {
  const out = new Map<string, string>();
  for (const builder of [eventLoopDashboard(), whatBlockedDashboard(), poolsDashboard()]) {
    const d = builder.build();
    out.set(`${d.uid}.json`, JSON.stringify(d, null, 2) + '\n');
  }
  return out;
}

const check = process.argv.includes('--check');
let stale = 0;
mkdirSync(outDir, { recursive: true });
for (const [name, text] of render()) {
  const file = join(outDir, name);
  const current = existsSync(file) ? readFileSync(file, 'utf8') : null;
  if (current === text) continue;
  if (check) {
    console.error(`stale: dashboards/json/${name} (run: node dashboards/src/build.ts)`);
    stale++;
  } else {
    writeFileSync(file, text);
    console.log(`wrote dashboards/json/${name}`);
  }
}
process.exit(stale ? 1 : 0);
