/**
 * Prometheus remote write 1.0: the body is a snappy block-compressed
 * (unframed) protobuf `prometheus.WriteRequest`:
 *
 *   WriteRequest { repeated TimeSeries timeseries = 1; }   // 3 = metadata, skipped
 *   TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }  // 3, 4 skipped
 *   Label        { string name = 1; string value = 2; }
 *   Sample       { double value = 1; int64 timestamp = 2; }  // ms
 *
 * Each sample becomes one point: measurement = the `__name__` label, tags =
 * the other labels (labels with an empty value are absent, as in
 * Prometheus), one float field `value`. NaN (staleness markers) and
 * infinities are kept.
 *
 * The protobuf reader is hand-written with bounds checks: varints of at most
 * 10 bytes, lengths within the enclosing message, wire types 0, 1, 2 and 5
 * (groups are refused), unknown fields skipped by wire type. The snappy
 * length preamble is read before decompressing so an oversized body is
 * refused without allocating its output.
 *
 * Errors: malformed bytes are PROTOCOL ("remote write: snappy: ...",
 * "remote write: protobuf: ..."), a decompressed size over the limit is
 * LIMIT_EXCEEDED, well-formed series that break the data rules (no
 * `__name__`, bad names, duplicate labels, timestamps beyond ±(2^53-1) ms)
 * are INVALID_ARGUMENT.
 */
import { ERROR_CODES, StrataError, invalidArgument, snappy } from '../../base/index.js';
import { ByteWriter, varintSize } from '../codec/index.js';
import type { TsField, TsPoint } from '../types.js';
import { checkName, checkTagValue } from './validate.js';

export interface RemoteWriteSeries {
  labels: Record<string, string>;
  samples: Array<{ value: number; timestampMs: number }>;
}

function protocolError(message: string): StrataError {
  return new StrataError(ERROR_CODES.PROTOCOL, `remote write: ${message}`);
}

const TWO_32 = 4294967296;

/** Node's Buffer#utf8Slice: toString('utf8', a, b) without the argument checks. */
interface Utf8Slice {
  utf8Slice(start: number, end: number): string;
}
const HAS_UTF8_SLICE = typeof (Buffer.prototype as unknown as Partial<Utf8Slice>).utf8Slice === 'function';

/** Cursor over one protobuf message; every read checks `end`. */
class PbReader {
  pos: number;
  /** Low and high 32 bits of the last varint read (unsigned). */
  lo = 0;
  hi = 0;

  constructor(
    readonly buf: Buffer,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  /** Reads a varint into lo/hi. */
  varint(): void {
    const buf = this.buf;
    const start = this.pos;
    let pos = start;
    let lo = 0;
    let hi = 0;
    for (let k = 0; ; k++) {
      if (k === 10) throw protocolError(`protobuf: varint longer than 10 bytes at offset ${start}`);
      if (pos >= this.end) throw protocolError(`protobuf: truncated varint at offset ${start}`);
      const b = buf[pos++]!;
      const bits = b & 0x7f;
      if (k < 4) {
        lo |= bits << (7 * k);
      } else if (k === 4) {
        lo |= (bits & 0x0f) << 28;
        hi |= bits >>> 4;
      } else {
        hi |= bits << (7 * k - 32);
      }
      if (b < 0x80) break;
    }
    this.pos = pos;
    this.lo = lo >>> 0;
    this.hi = hi >>> 0;
  }

  /** A varint that must fit in 2^53 (tags, lengths): returned as a number. */
  uint(): number {
    this.varint();
    if (this.hi >= 0x200000) throw protocolError(`protobuf: varint too large at offset ${this.pos}`);
    return this.hi * TWO_32 + this.lo;
  }

  /** Length prefix and bounds check; returns the end of the delimited bytes. */
  lengthDelimited(): number {
    const at = this.pos;
    const len = this.uint();
    if (len > this.end - this.pos) throw protocolError(`protobuf: length ${len} at offset ${at} runs past the end of its message`);
    const start = this.pos;
    this.pos += len;
    return start;
  }

  string(): string {
    const start = this.lengthDelimited();
    return HAS_UTF8_SLICE ? (this.buf as unknown as Utf8Slice).utf8Slice(start, this.pos) : this.buf.toString('utf8', start, this.pos);
  }

  fixed64Double(): number {
    if (this.end - this.pos < 8) throw protocolError(`protobuf: truncated fixed64 at offset ${this.pos}`);
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  /** Skips a field of wire type `wt` whose key ended at the current position. */
  skip(wt: number, keyAt: number): void {
    switch (wt) {
      case 0:
        this.varint();
        return;
      case 1:
        if (this.end - this.pos < 8) throw protocolError(`protobuf: truncated fixed64 at offset ${this.pos}`);
        this.pos += 8;
        return;
      case 2:
        this.lengthDelimited();
        return;
      case 5:
        if (this.end - this.pos < 4) throw protocolError(`protobuf: truncated fixed32 at offset ${this.pos}`);
        this.pos += 4;
        return;
      default:
        throw protocolError(`protobuf: unsupported wire type ${wt} at offset ${keyAt}`);
    }
  }

  /** Reads a field key; returns the field number and leaves the wire type in `lo & 7`. */
  key(): { field: number; wt: number; at: number } {
    const at = this.pos;
    const k = this.uint();
    const field = Math.floor(k / 8);
    if (field === 0) throw protocolError(`protobuf: field number 0 at offset ${at}`);
    return { field, wt: k & 7, at };
  }
}

function expectWireType(what: string, got: number, want: number, at: number): void {
  if (got !== want) throw protocolError(`protobuf: ${what} has wire type ${got}, expected ${want} (offset ${at})`);
}

/** Reads the snappy block preamble (the uncompressed length, a varint of at most 5 bytes). */
function snappyLength(body: Buffer): number {
  let len = 0;
  let mul = 1;
  for (let k = 0; k < 5; k++) {
    if (k >= body.length) throw protocolError(body.length === 0 ? 'snappy: empty body' : 'snappy: truncated length preamble');
    const b = body[k]!;
    len += (b & 0x7f) * mul;
    if (b < 0x80) {
      if (len > 0xffffffff) throw protocolError('snappy: length preamble exceeds 32 bits');
      return len;
    }
    mul *= 128;
  }
  throw protocolError('snappy: length preamble longer than 5 bytes');
}

/**
 * Decodes a remote-write body into points (one per sample, in order).
 * `maxDecompressedBytes` bounds the protobuf size, checked before
 * decompression.
 */
export function decodeRemoteWrite(body: Buffer, options: { maxDecompressedBytes: number }): TsPoint[] {
  const declared = snappyLength(body);
  if (declared > options.maxDecompressedBytes) {
    throw new StrataError(
      ERROR_CODES.LIMIT_EXCEEDED,
      `remote write: decompressed size ${declared} bytes exceeds the limit of ${options.maxDecompressedBytes} bytes`,
    );
  }
  let raw: Buffer;
  try {
    const out = snappy.uncompressSync(body, { asBuffer: true });
    raw = typeof out === 'string' ? Buffer.from(out, 'utf8') : out;
  } catch (err) {
    throw new StrataError(ERROR_CODES.PROTOCOL, `remote write: snappy: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (raw.length !== declared) throw protocolError(`snappy: decompressed ${raw.length} bytes, preamble says ${declared}`);

  const out: TsPoint[] = [];
  const r = new PbReader(raw, 0, raw.length);
  let seriesIndex = 0;
  while (r.pos < r.end) {
    const { field, wt, at } = r.key();
    if (field !== 1) {
      r.skip(wt, at);
      continue;
    }
    expectWireType('WriteRequest.timeseries', wt, 2, at);
    const start = r.lengthDelimited();
    decodeSeries(raw, start, r.pos, seriesIndex++, out);
  }
  return out;
}

function decodeSeries(buf: Buffer, start: number, end: number, index: number, out: TsPoint[]): void {
  const r = new PbReader(buf, start, end);
  let measurement: string | undefined;
  const tags: Array<readonly [string, string]> = [];
  const samplesAt: number[] = []; // [start, end) pairs of Sample messages
  function bad(detail: string): never {
    throw invalidArgument(`remote write: series ${index}: ${detail}`);
  }
  while (r.pos < r.end) {
    const { field, wt, at } = r.key();
    if (field === 1) {
      expectWireType('TimeSeries.labels', wt, 2, at);
      const ls = r.lengthDelimited();
      const le = r.pos;
      const lr = new PbReader(buf, ls, le);
      let name = '';
      let value = '';
      while (lr.pos < lr.end) {
        const k = lr.key();
        if (k.field === 1 || k.field === 2) {
          expectWireType(k.field === 1 ? 'Label.name' : 'Label.value', k.wt, 2, k.at);
          if (k.field === 1) name = lr.string();
          else value = lr.string();
        } else {
          lr.skip(k.wt, k.at);
        }
      }
      if (name === '__name__') {
        if (measurement !== undefined) bad('duplicate label "__name__"');
        measurement = value;
        continue;
      }
      if (value === '') continue; // an empty label value is the same as no label
      const np = checkName(name);
      if (np !== undefined) bad(`label name ${JSON.stringify(name)} ${np}`);
      for (const [k] of tags) if (k === name) bad(`duplicate label ${JSON.stringify(name)}`);
      const vp = checkTagValue(value);
      if (vp !== undefined) bad(`value of label ${JSON.stringify(name)} ${vp}`);
      tags.push([name, value]);
    } else if (field === 2) {
      expectWireType('TimeSeries.samples', wt, 2, at);
      const ss = r.lengthDelimited();
      samplesAt.push(ss, r.pos);
    } else {
      r.skip(wt, at);
    }
  }
  if (samplesAt.length === 0) return;
  if (measurement === undefined || measurement === '') bad('missing label "__name__"');
  const mp = checkName(measurement);
  if (mp !== undefined) bad(`metric name ${JSON.stringify(measurement)} ${mp}`);

  for (let s = 0; s < samplesAt.length; s += 2) {
    const sr = new PbReader(buf, samplesAt[s]!, samplesAt[s + 1]!);
    let value = 0;
    let timeMs = 0;
    while (sr.pos < sr.end) {
      const k = sr.key();
      if (k.field === 1) {
        expectWireType('Sample.value', k.wt, 1, k.at);
        value = sr.fixed64Double();
      } else if (k.field === 2) {
        expectWireType('Sample.timestamp', k.wt, 0, k.at);
        sr.varint();
        // int64, two's complement: the high word is signed.
        timeMs = (sr.hi | 0) * TWO_32 + sr.lo;
        if (!Number.isSafeInteger(timeMs)) bad(`sample timestamp out of range (beyond ±(2^53-1) ms) at offset ${k.at}`);
      } else {
        sr.skip(k.wt, k.at);
      }
    }
    const fields: TsField[] = [{ name: 'value', type: 'float', value }];
    out.push({ measurement, tags, fields, timeMs, nanos: 0 });
  }
}

/** Growable output buffer for the encoder. */
/** Protobuf output for the encoder: the codecs' growable ByteWriter plus the wire forms it needs. */
class PbWriter extends ByteWriter {
  /** Unsigned varint of 0 <= n <= 2^53-1. */
  uint(n: number): void {
    this.varint(n);
  }

  /** int64 varint of a safe integer (negative numbers take 10 bytes). */
  int64(n: number): void {
    if (n >= 0) {
      this.varint(n);
      return;
    }
    let hi = Math.floor(n / TWO_32);
    let lo = n - hi * TWO_32; // 0..2^32-1
    hi = hi >>> 0;
    for (let k = 0; k < 9; k++) {
      this.byte((lo & 0x7f) | 0x80);
      lo = (lo >>> 7) | ((hi & 0x7f) << 25);
      hi = hi >>> 7;
    }
    this.byte(lo & 0x01);
  }

  /** A length-delimited field's payload: varint length, then the bytes. */
  lengthDelimited(b: Buffer): void {
    this.varint(b.length);
    this.bytes(b);
  }
}

function int64Size(n: number): number {
  return n < 0 ? 10 : varintSize(n);
}

/**
 * Encodes series as a snappy-compressed WriteRequest (for tests, the CLI and
 * the benchmark client). Labels are written in the object's key order.
 * Timestamps must be safe integers.
 */
export function encodeRemoteWrite(series: RemoteWriteSeries[]): Buffer {
  const w = new PbWriter();
  for (const s of series) {
    const labels = Object.entries(s.labels).map(([k, v]) => [Buffer.from(k, 'utf8'), Buffer.from(v, 'utf8')] as const);
    let size = 0;
    for (const [k, v] of labels) {
      const ls = 1 + varintSize(k.length) + k.length + 1 + varintSize(v.length) + v.length;
      size += 1 + varintSize(ls) + ls;
    }
    for (const sample of s.samples) {
      if (!Number.isSafeInteger(sample.timestampMs)) throw invalidArgument(`remote write: timestamp must be a safe integer, got ${sample.timestampMs}`);
      const ss = 9 + 1 + int64Size(sample.timestampMs);
      size += 1 + varintSize(ss) + ss;
    }
    w.uint((1 << 3) | 2);
    w.uint(size);
    for (const [k, v] of labels) {
      w.uint((1 << 3) | 2);
      w.uint(1 + varintSize(k.length) + k.length + 1 + varintSize(v.length) + v.length);
      w.uint((1 << 3) | 2);
      w.lengthDelimited(k);
      w.uint((2 << 3) | 2);
      w.lengthDelimited(v);
    }
    for (const sample of s.samples) {
      w.uint((2 << 3) | 2);
      w.uint(9 + 1 + int64Size(sample.timestampMs));
      w.uint((1 << 3) | 1);
      w.f64le(sample.value);
      w.uint((2 << 3) | 0);
      w.int64(sample.timestampMs);
    }
  }
  return snappy.compressSync(w.finish());
}
