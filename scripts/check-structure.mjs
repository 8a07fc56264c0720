#!/usr/bin/env node
// Structure checks run by `npm test` before the suites (docs/design.md, "Source layout"):
//  1. No import cycle between the top-level folders of agent/src (type-only imports count: a folder that needs
//     another's types sits above it). A file at the root of agent/src is a node of its own.
//  2. No source file over 300 lines unless its first comment says why (a line containing "Longer than 300 lines:").
// Exits 1 with one line per finding.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const MAX_LINES = 300;
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'agent/src');
const walk = (d) => readdirSync(d).flatMap((n) => (statSync(join(d, n)).isDirectory() ? walk(join(d, n)) : [join(d, n)]));
const files = walk(src).filter((f) => f.endsWith('.ts')).map((f) => relative(src, f).split('\\').join('/'));
const nodeOf = (file) => (file.includes('/') ? file.slice(0, file.indexOf('/')) + '/' : file);

const findings = [];
/** folder → folder → the first import that makes the edge (for the message) */
const edges = new Map();
for (const file of files) {
  const text = readFileSync(join(src, file), 'utf8');
  const lines = text.split('\n').length;
  if (lines > MAX_LINES && !/Longer than 300 lines:/.test(text.slice(0, 2000))) {
    findings.push(`agent/src/${file}: ${lines} lines (at most ${MAX_LINES}, or say why at the top: "Longer than 300 lines: …")`);
  }
  for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*|require\(\s*)'(\.{1,2}\/[^']*)'/g)) {
    const target = posix.normalize(posix.join(posix.dirname(file), m[1]));
    if (target.startsWith('..')) continue; // outside src (package.json)
    const a = nodeOf(file);
    const b = nodeOf(files.includes(target + '.ts') ? target + '.ts' : target + '/index.ts');
    if (a === b) continue;
    if (!edges.has(a)) edges.set(a, new Map());
    if (!edges.get(a).has(b)) edges.get(a).set(b, `${file} imports '${m[1]}'`);
  }
}

// Cycles: a depth-first search reporting each back edge with the path that closes it.
const state = new Map();
const stack = [];
function visit(n) {
  state.set(n, 'open');
  stack.push(n);
  for (const [m, why] of edges.get(n) ?? []) {
    if (state.get(m) === 'open') {
      const cycle = stack.slice(stack.indexOf(m)).concat(m);
      findings.push(`import cycle between folders: ${cycle.join(' → ')} (closed by ${why})`);
    } else if (!state.has(m)) visit(m);
  }
  stack.pop();
  state.set(n, 'done');
}
for (const n of [...edges.keys()].sort()) if (!state.has(n)) visit(n);

if (findings.length) {
  for (const f of findings) console.error(`structure: ${f}`);
  process.exit(1);
}
console.log(`structure: ${files.length} files, ${new Set(files.map(nodeOf)).size} folders and root files, no folder-level import cycle, no file over ${MAX_LINES} lines without a reason`);
