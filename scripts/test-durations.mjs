// A node --test reporter for scripts/run.mjs: appends one JSON line per test file, {file, ms, ok}, to the file named by
// RUN_MJS_DURATIONS_FILE, so the runner can print the slowest files. The file's own entry (its process, from
// spawn to exit) is the one at nesting 0 named after the file: its path as given, or its base name on Node 22.
// Written synchronously per event: the runner reads the file after the node --test process exits.
import { appendFileSync } from 'node:fs';

export default async function* testDurations(source) {
  const out = process.env.RUN_MJS_DURATIONS_FILE;
  for await (const event of source) {
    if (!out || event.type !== 'test:complete') continue;
    const { file, name, nesting, details, entryFile } = event.data;
    // entryFile is set on the tests inside a file (Node ≥ 24), never on the file's own entry.
    if (nesting !== 0 || !file || entryFile || (name !== file && !file.endsWith(`/${name}`))) continue;
    try {
      appendFileSync(out, `${JSON.stringify({ file, ms: Math.round(details.duration_ms), ok: details.passed })}\n`);
    } catch (err) {
      process.stderr.write(`loopwatch: could not record the duration of ${file} in ${out}: ${err.message}\n`);
    }
  }
}
