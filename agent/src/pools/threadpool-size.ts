/** The libuv threadpool's size as libuv itself computes it. */

/** libuv's MAX_THREADPOOL_SIZE. */
const MAX_THREADPOOL_SIZE = 1024;

/** Parses UV_THREADPOOL_SIZE exactly like libuv's init_threads(). */
export function threadpoolSize(value: string | undefined = process.env.UV_THREADPOOL_SIZE): number {
  if (value === undefined) return 4;
  // atoi: optional leading whitespace, optional sign, digits; stops at the first non-digit.
  const m = /^[\t\n\v\f\r ]*([+-]?)(\d*)/.exec(value);
  const digits = m?.[2] ?? '';
  let n = digits ? Number(digits.slice(0, 12)) : 0;
  if (m?.[1] === '-') n = -n;
  if (n === 0) return 1;
  // nthreads is unsigned: a negative atoi() result wraps to a huge value.
  if (n < 0 || n > MAX_THREADPOOL_SIZE) return MAX_THREADPOOL_SIZE;
  return n;
}
