// Recording PoolSink for tests: keeps every observation and the peak levels.
export function recorder() {
  const rec = {
    name: null,
    kind: null,
    updates: 0,
    last: null,
    peak: { max: 0, used: 0, idle: 0, pending: 0 },
    waits: [],
    uses: [],
    errors: [],
    closed: false,
    afterClose: 0,
  };
  const sink = {
    update(s) {
      if (rec.closed) rec.afterClose++;
      rec.updates++;
      rec.last = { ...s };
      for (const k of ['max', 'used', 'idle', 'pending']) if (s[k] > rec.peak[k]) rec.peak[k] = s[k];
    },
    observeWait(s) {
      if (rec.closed) rec.afterClose++;
      rec.waits.push(s);
    },
    observeUse(s) {
      if (rec.closed) rec.afterClose++;
      rec.uses.push(s);
    },
    error(type) {
      if (rec.closed) rec.afterClose++;
      rec.errors.push(type);
    },
    close() {
      rec.closed = true;
    },
  };
  const factory = (name, kind) => {
    rec.name = name;
    rec.kind = kind;
    return sink;
  };
  return { rec, sink, factory };
}

export function quantile(values, q) {
  if (!values.length) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1));
  return s[i];
}

/** onError that records instead of throwing. */
export function errorLog() {
  const list = [];
  const onError = (err, where) => list.push({ err, where });
  return { list, onError };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
