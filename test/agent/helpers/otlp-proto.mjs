// A reader of OTLP/protobuf metrics requests (ExportMetricsServiceRequest), written from the field numbers of
// opentelemetry-proto (collector/metrics/v1, metrics/v1, resource/v1, common/v1) and independent of the SDK's encoder:
// what it reads out of a request is what a Collector would.

/** Fields of one message: number → array of { wire, value } (varint as BigInt, fixed64/32 as Buffer, bytes as Buffer). */
function fields(buf) {
  const out = new Map();
  let i = 0;
  const varint = () => {
    let shift = 0n;
    let v = 0n;
    for (;;) {
      const b = buf[i++];
      v |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
      shift += 7n;
    }
  };
  while (i < buf.length) {
    const key = Number(varint());
    const no = key >>> 3;
    const wire = key & 7;
    let value;
    if (wire === 0) value = varint();
    else if (wire === 1) { value = buf.subarray(i, i + 8); i += 8; }
    else if (wire === 2) { const n = Number(varint()); value = buf.subarray(i, i + n); i += n; }
    else if (wire === 5) { value = buf.subarray(i, i + 4); i += 4; }
    else throw new Error(`unsupported wire type ${wire}`);
    if (!out.has(no)) out.set(no, []);
    out.get(no).push({ wire, value });
  }
  return out;
}
const all = (f, no) => (f.get(no) ?? []).map((x) => x.value);
const one = (f, no) => all(f, no)[0];
const str = (b) => (b ? b.toString('utf8') : undefined);

/** AnyValue: string_value 1, bool_value 2, int_value 3, double_value 4, array_value 5. */
function anyValue(buf) {
  const f = fields(buf);
  if (f.has(1)) return str(one(f, 1));
  if (f.has(2)) return one(f, 2) === 1n;
  if (f.has(3)) return Number(BigInt.asIntN(64, one(f, 3)));
  if (f.has(4)) return one(f, 4).readDoubleLE(0);
  if (f.has(5)) return all(fields(one(f, 5)), 1).map(anyValue);
  return undefined;
}
/** repeated KeyValue (key 1, value 2) → object. */
const attributes = (bufs) => Object.fromEntries(bufs.map((b) => { const f = fields(b); return [str(one(f, 1)), anyValue(one(f, 2) ?? Buffer.alloc(0))]; }));

/** NumberDataPoint: time_unix_nano 3 (fixed64), as_double 4, as_int 6, attributes 7. */
function numberPoint(buf) {
  const f = fields(buf);
  return {
    attributes: attributes(all(f, 7)),
    timeUnixNano: one(f, 3)?.readBigUInt64LE(0),
    value: f.has(4) ? one(f, 4).readDoubleLE(0) : f.has(6) ? Number(one(f, 6).readBigInt64LE(0)) : 0,
  };
}

/** repeated fixed64 / double, packed (wire 2) or not (wire 1). */
const fixed64s = (f, no, read) => (f.get(no) ?? []).flatMap(({ wire, value }) => (wire === 1 ? [read(value, 0)] : Array.from({ length: value.length / 8 }, (_, k) => read(value, k * 8))));
/** HistogramDataPoint: count 4 (fixed64), sum 5, bucket_counts 6, explicit_bounds 7, attributes 9, min 11, max 12. */
function histogramPoint(buf) {
  const f = fields(buf);
  const dbl = (no) => (f.has(no) ? one(f, no).readDoubleLE(0) : undefined);
  return {
    attributes: attributes(all(f, 9)),
    count: f.has(4) ? Number(one(f, 4).readBigUInt64LE(0)) : 0,
    sum: dbl(5),
    bucketCounts: fixed64s(f, 6, (b, o) => Number(b.readBigUInt64LE(o))),
    explicitBounds: fixed64s(f, 7, (b, o) => b.readDoubleLE(o)),
    min: dbl(11),
    max: dbl(12),
  };
}

/** Metric: name 1, description 2, unit 3, gauge 5, sum 7, histogram 9. */
function metric(buf) {
  const f = fields(buf);
  const type = f.has(5) ? 'gauge' : f.has(7) ? 'sum' : f.has(9) ? 'histogram' : 'other';
  const body = one(f, 5) ?? one(f, 7);
  const points = body ? all(fields(body), 1).map(numberPoint) : f.has(9) ? all(fields(one(f, 9)), 1).map(histogramPoint) : [];
  return { name: str(one(f, 1)), unit: str(one(f, 3)) ?? '', type, points };
}

/** ExportMetricsServiceRequest (resource_metrics 1) → [{ resource, scopeMetrics: [{ scope, metrics }] }]. */
export function decodeMetricsRequest(buf) {
  return all(fields(buf), 1).map((rmBuf) => {
    const rm = fields(rmBuf);
    const resource = one(rm, 1);
    return {
      resource: resource ? attributes(all(fields(resource), 1)) : {},
      scopeMetrics: all(rm, 2).map((smBuf) => {
        const sm = fields(smBuf);
        const scope = one(sm, 1) ? fields(one(sm, 1)) : new Map();
        return { scope: { name: str(one(scope, 1)), version: str(one(scope, 2)) }, metrics: all(sm, 2).map(metric) };
      }),
    };
  });
}

/**
 * ExportLogsServiceRequest (resource_logs 1) → [{ resource, records }], each record (LogRecord: time_unix_nano 1,
 * severity_text 3, body 5, attributes 6, event_name 12) with its scope's name.
 */
export function decodeLogsRequest(buf) {
  return all(fields(buf), 1).map((rlBuf) => {
    const rl = fields(rlBuf);
    const resource = one(rl, 1);
    return {
      resource: resource ? attributes(all(fields(resource), 1)) : {},
      records: all(rl, 2).flatMap((slBuf) => {
        const sl = fields(slBuf);
        const scope = one(sl, 1) ? str(one(fields(one(sl, 1)), 1)) : undefined;
        return all(sl, 2).map((lrBuf) => {
          const lr = fields(lrBuf);
          return {
            scope,
            eventName: str(one(lr, 12)),
            severityText: str(one(lr, 3)),
            body: one(lr, 5) ? anyValue(one(lr, 5)) : undefined,
            attributes: attributes(all(lr, 6)),
            timeUnixNano: one(lr, 1)?.readBigUInt64LE(0),
          };
        });
      }),
    };
  });
}
