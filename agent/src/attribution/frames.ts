/**
 * Stack frames: capture (as structured V8 call sites), classification (app code vs node internals and
 * node_modules), source mapping and culprit formatting. Pure apart from `captureFrames` and `sourceMapFrames`.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StackFrame } from '../types';

/** Frames kept per captured stack. */
export const MAX_FRAMES = 32;

/**
 * Captures the current JavaScript stack, innermost first, omitting `above` and everything it called.
 * Uses a temporary `Error.prepareStackTrace` so an application-installed formatter is neither called nor lost.
 */
export function captureFrames(above: Function, limit = MAX_FRAMES): StackFrame[] {
  const savedPrepare = Error.prepareStackTrace;
  const savedLimit = Error.stackTraceLimit;
  const holder: { stack?: unknown } = {};
  try {
    Error.stackTraceLimit = limit;
    Error.prepareStackTrace = (_err, sites) => sites;
    Error.captureStackTrace(holder, above);
    return framesFromCallSites(holder.stack);
  } finally {
    Error.prepareStackTrace = savedPrepare;
    Error.stackTraceLimit = savedLimit;
  }
}

/**
 * Frames of a stack captured earlier with `Error.captureStackTrace(holder)` and not yet read: V8 formats a
 * captured stack lazily, at the first read of `holder.stack`, with the `Error.prepareStackTrace` in force then.
 */
export function framesOfCaptured(holder: { stack?: unknown }): StackFrame[] {
  const savedPrepare = Error.prepareStackTrace;
  try {
    Error.prepareStackTrace = (_err, sites) => sites;
    return framesFromCallSites(holder.stack);
  } finally {
    Error.prepareStackTrace = savedPrepare;
  }
}

function framesFromCallSites(sites: unknown): StackFrame[] {
  if (!Array.isArray(sites)) return [];
  const frames: StackFrame[] = [];
  for (const s of sites as NodeJS.CallSite[]) {
    frames.push({
      functionName: callSiteName(s),
      fileName: s.getFileName() ?? s.getScriptNameOrSourceURL() ?? '',
      lineNumber: s.getLineNumber() ?? 0,
      columnNumber: s.getColumnNumber() ?? 0,
    });
  }
  return frames;
}

function callSiteName(s: NodeJS.CallSite): string {
  const fn = s.getFunctionName();
  if (fn) return fn;
  const method = s.getMethodName();
  if (method) {
    const type = s.getTypeName();
    return type ? `${type}.${method}` : method;
  }
  return '<anonymous>';
}

/** Node internals, V8 builtins and eval'd/unnamed scripts. */
export function isInternalFrame(f: StackFrame): boolean {
  const file = f.fileName;
  return !file || file.startsWith('node:') || file.startsWith('internal/') || !(file.includes('/') || file.includes('\\'));
}

export function isDependencyFrame(f: StackFrame): boolean {
  return /[\\/]node_modules[\\/]/.test(f.fileName);
}

/** loopwatch's own files (its wrapper of a fastify handler is on the stack), wherever it is installed or built. */
const OWN_DIR = path.resolve(__dirname, '..') + path.sep;

/** The application's own code: neither Node internals nor node_modules nor loopwatch itself. */
export function isAppFrame(f: StackFrame): boolean {
  return !isInternalFrame(f) && !isDependencyFrame(f) && !f.fileName.startsWith(OWN_DIR);
}

/** Index of the innermost application frame, or -1. */
export function culpritIndex(frames: readonly StackFrame[]): number {
  return frames.findIndex(isAppFrame);
}

/** Display form of a file: a path relative to `cwd` when inside it, else the path (file URLs become paths). */
export function displayFile(fileName: string, cwd = process.cwd()): string {
  let file = fileName;
  if (file.startsWith('file://')) {
    try {
      file = fileURLToPath(file);
    } catch {
      /* keep the URL */
    }
  }
  if (path.isAbsolute(file)) {
    const rel = path.relative(cwd, file);
    if (rel && !rel.startsWith('..') && !path.isAbsolute(rel)) return rel;
  }
  return file;
}

/** `fn (file:line)`. */
export function formatFrame(f: StackFrame, cwd?: string): string {
  return `${f.functionName} (${displayFile(f.fileName, cwd)}:${f.lineNumber})`;
}

/**
 * The package a node_modules file belongs to: the name after its last `node_modules/` (`@scope/name` for a scoped
 * one; pnpm's `.pnpm/x@1/node_modules/x/…` is `x`). Undefined outside node_modules.
 */
export function packageOf(fileName: string): string | undefined {
  let name: string | undefined;
  for (const m of fileName.matchAll(/[\\/]node_modules[\\/]((?:@[^\\/]+[\\/])?[^\\/]+)/g)) name = m[1];
  return name?.replace(/\\/g, '/');
}

/**
 * In a stack with no app frame, the entry into the package of its innermost dependency frame: from that frame
 * outwards, the outermost frame of the same package before a frame of another package (Node internals and
 * builtins in between, a package's own `Array.prototype.map` or `emit`, stay inside it). One cause hot in different
 * inner lines of a package (a hash's rounds) is then one culprit: the function the caller entered it by.
 */
function packageEntryIndex(frames: readonly StackFrame[], inner: number, pkg: string | undefined): number {
  let entry = inner;
  for (let j = inner + 1; j < frames.length; j++) {
    const f = frames[j];
    if (isInternalFrame(f)) continue;
    if (packageOf(f.fileName) !== pkg) break;
    entry = j;
  }
  return entry;
}

/**
 * The rule that names a stack's culprit frame, the only one (attribution/culprit.ts applies it for every consumer):
 * the innermost app frame; failing that (only libraries and Node) the frame by which the innermost dependency
 * frame's package was entered (`packageEntryIndex`; the culprit is then named by that package, `culpritName`);
 * failing that the innermost frame; -1 for an empty stack (the culprit is then unknown).
 */
export function culpritFrameIndex(frames: readonly StackFrame[]): number {
  const i = culpritIndex(frames);
  if (i >= 0) return i;
  const inner = frames.findIndex(isDependencyFrame);
  if (inner >= 0) return packageEntryIndex(frames, inner, packageOf(frames[inner].fileName));
  return frames.length ? 0 : -1;
}

/**
 * A culprit frame's display name (`culpritFrameIndex` chose it): `fn (file:line)`, or `fn (package)` for a
 * dependency frame (one series per package entry, whatever inner line was hot).
 */
export function culpritName(frame: StackFrame, cwd?: string): string {
  const pkg = isDependencyFrame(frame) ? packageOf(frame.fileName) : undefined;
  return pkg === undefined ? formatFrame(frame, cwd) : `${frame.functionName} (${pkg})`;
}

/** What identifies a culprit across samples: its display name, apart from the column (one line is one culprit). */
export function culpritKey(frame: StackFrame): string {
  const pkg = isDependencyFrame(frame) ? packageOf(frame.fileName) : undefined;
  return pkg === undefined ? `${frame.functionName}\u0000${frame.fileName}\u0000${frame.lineNumber}` : `${frame.functionName}\u0000${pkg}`;
}

/** Culprit of a stack, formatted (`culpritFrameIndex`, `culpritName`); undefined for an empty stack. */
export function culpritOf(frames: readonly StackFrame[], cwd?: string): string | undefined {
  const i = culpritFrameIndex(frames);
  return i < 0 ? undefined : culpritName(frames[i]!, cwd);
}

interface SourceMapLike {
  findEntry(line: number, column: number): {
    originalSource?: string;
    originalLine?: number;
    originalColumn?: number;
    name?: string;
  } | Record<string, never>;
}
type FindSourceMap = (p: string) => SourceMapLike | undefined;

let findSourceMapFn: FindSourceMap | null | undefined;
function getFindSourceMap(): FindSourceMap | null {
  if (findSourceMapFn === undefined) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const mod = require('node:module') as { findSourceMap?: FindSourceMap };
      findSourceMapFn = typeof mod.findSourceMap === 'function' ? mod.findSourceMap : null;
    } catch {
      findSourceMapFn = null;
    }
  }
  return findSourceMapFn;
}

/**
 * Maps frames to original sources with `module.findSourceMap` (available when the app runs with
 * `--enable-source-maps` or `module.setSourceMapsSupport(true)`). Frames without a map are returned as they are.
 * Must run on the thread that loaded the code.
 */
export function sourceMapFrames(frames: readonly StackFrame[]): StackFrame[] {
  const find = getFindSourceMap();
  if (!find) return frames.slice();
  return frames.map((f) => {
    if (isInternalFrame(f) || !f.lineNumber) return f;
    let map: SourceMapLike | undefined;
    try {
      map = find(f.fileName);
    } catch {
      map = undefined;
    }
    if (!map) return f;
    try {
      const e = map.findEntry(f.lineNumber - 1, Math.max(0, f.columnNumber - 1));
      if (!e || typeof e.originalLine !== 'number' || !e.originalSource) return f;
      return {
        functionName: f.functionName,
        fileName: e.originalSource.startsWith('file://') ? safePath(e.originalSource) : e.originalSource,
        lineNumber: e.originalLine + 1,
        columnNumber: (e.originalColumn ?? 0) + 1,
      };
    } catch {
      return f;
    }
  });
}

function safePath(url: string): string {
  try {
    return fileURLToPath(url);
  } catch {
    return url;
  }
}
