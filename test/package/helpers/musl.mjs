// The musl smoke check of test/package/pack.test.mjs. No musl build of Node exists on the npm registry or in Debian,
// so the addon is loaded by fixtures/musl-host.c instead: a musl-linked program that exports the Node-API functions,
// dlopen()s the addon with RTLD_NOW and runs its module init (see the fixture's header).
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '../../..');
const fixtures = join(here, '../fixtures');

const sh = (cmd, args) => spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000 });
const show = (r) => `exit ${r.status}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

/** Why the musl check cannot run on this machine, or undefined when it can. */
export function muslMissing() {
  if (process.platform !== 'linux' || process.arch !== 'x64') return 'the musl prebuild is linux-x64 only';
  if (sh('musl-gcc', ['--version']).error?.code === 'ENOENT') return 'musl-gcc not installed: apt-get install musl-tools';
  if (sh('readelf', ['--version']).error?.code === 'ENOENT') return 'readelf not installed: apt-get install binutils';
  return undefined;
}

/** Compiles fixtures/musl-host.c with musl-gcc into `dir`; returns its path. Throws with the compiler's output. */
export function buildMuslHost(dir) {
  const include = join(root, `node_modules/node24/node_modules/node-linux-${process.arch}/include/node`);
  const out = join(dir, 'musl-host');
  const r = sh('musl-gcc', ['-std=c11', '-O1', '-Wall', '-Wextra', '-Werror', '-rdynamic', '-I', include, '-o', out,
    join(fixtures, 'musl-host.c'), join(fixtures, 'musl-host-unused.c')]);
  if (r.status !== 0) throw new Error(`musl-gcc could not build the host\n${show(r)}`);
  return out;
}

/** Runs the host on an addon: { status, stdout, stderr }. */
export function runMuslHost(host, addon) {
  const r = sh(host, [addon]);
  if (r.error) throw r.error;
  return r;
}

/**
 * What an ELF shared object asks of the C library: its DT_NEEDED libraries and the GLIBC_ symbol versions it
 * needs (a glibc build has both: libc.so.6 and GLIBC_2.x; the musl one takes libc from the process, so neither).
 */
export function libcNeeds(file) {
  const d = sh('readelf', ['-d', '-W', file]);
  const s = sh('readelf', ['--dyn-syms', '-V', '-W', file]);
  if (d.status !== 0 || s.status !== 0) throw new Error(`readelf failed on ${file}\n${show(d)}\n${show(s)}`);
  const needed = [...d.stdout.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
  const glibc = [...new Set(s.stdout.match(/GLIBC_[0-9.]+/g) ?? [])].sort();
  return { needed, glibc };
}

/**
 * A shared object whose init calls gnu_get_libc_version, which only glibc has: the host must refuse it, or its
 * loading the real addon would prove nothing. Built with the host machine's cc, without libc, like the musl addon.
 */
export function buildGlibcOnlyControl(dir) {
  const src = join(dir, 'glibc-only.c');
  const out = join(dir, 'glibc-only.node');
  writeFileSync(src, 'extern const char* gnu_get_libc_version(void);\nconst char* napi_register_module_v1(void) { return gnu_get_libc_version(); }\n');
  const r = sh(process.env.CC || 'cc', ['-shared', '-fPIC', '-nostdlib', '-o', out, src]);
  if (r.status !== 0) throw new Error(`cc could not build the control\n${show(r)}`);
  return out;
}
