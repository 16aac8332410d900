import { corruption, getVarint } from '../base/index.js';
import { CODE_TYPE, TYPE_CODE } from './chunk.js';
import { ByteWriter } from './codec/index.js';
import type { FieldType, FieldValue, TsPointColumns } from './types.js';

/**
 * Head-log records ('W' keys): what a write or delete did, replayed into
 * the head buffers at open. Replaying a suffix of the history onto state
 * that already holds it changes nothing (last write wins per series, time
 * and field; deletes are ranges), so records are dropped lazily once no
 * head row needs them.
 *
 *   u8 kind 1 (points) · varint rows · per row: varint sid · f64 time ms · varint nanos ·
 *     varint fields · per field: varint field id · u8 type · value
 *     (float/integer f64 LE · boolean u8 · string varint len + UTF-8)
 *   u8 kind 2 (delete) · varint sids · varint sid... · f64 from ms · f64 to ms
 *   u8 kind 3 (points in columns, see encodeColumnsRecord) · varint S · S varint sids ·
 *     varint L · per field list: varint k · k × (varint field id · u8 type) ·
 *     varint n · n i32 series index · n i32 field-list index · n f64 time ms ·
 *     u8 has nanos · [n i32 nanos] · varint V · V f64 values (booleans 1/0; strings NaN) ·
 *     varint strings · per string: varint value index · varint len + UTF-8
 *     (all fixed-width numbers little-endian; point p's values follow those of point p-1)
 */
export interface LogRow {
  sid: number;
  timeMs: number;
  nanos: number;
  ids: number[];
  types: FieldType[];
  values: FieldValue[];
}

export type LogRecord = { kind: 'points'; rows: LogRow[] } | { kind: 'delete'; sids: number[]; fromMs: number; toMs: number };

function writeValue(w: ByteWriter, t: FieldType, v: FieldValue): void {
  w.byte(TYPE_CODE[t]);
  if (t === 'float' || t === 'integer') w.f64le(v as number);
  else if (t === 'boolean') w.byte(v ? 1 : 0);
  else {
    const len = Buffer.byteLength(v as string, 'utf8');
    w.varint(len);
    w.utf8(v as string, len);
  }
}

export function encodePointsRecord(rows: readonly LogRow[], headroom = 0): Buffer {
  const w = new ByteWriter(headroom + 16 + rows.length * 64);
  w.skip(headroom);
  w.byte(1);
  w.varint(rows.length);
  for (const r of rows) {
    w.varint(r.sid);
    w.f64le(r.timeMs);
    w.varint(r.nanos);
    w.varint(r.ids.length);
    for (let i = 0; i < r.ids.length; i++) {
      w.varint(r.ids[i]!);
      writeValue(w, r.types[i]!, r.values[i]!);
    }
  }
  return w.finish();
}

/** Typed arrays are little-endian here: the columns record copies them as bytes. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Writes `count` elements of `a` from `from` as little-endian bytes. */
function putArray(w: ByteWriter, a: Int32Array | Float64Array, from: number, count: number): void {
  const size = a.BYTES_PER_ELEMENT;
  if (LITTLE_ENDIAN) {
    w.bytes(new Uint8Array(a.buffer, a.byteOffset + from * size, count * size));
    return;
  }
  const out = new DataView(new ArrayBuffer(count * size));
  for (let i = 0; i < count; i++) {
    if (size === 8) out.setFloat64(i * 8, a[from + i]!, true);
    else out.setInt32(i * 4, a[from + i]!, true);
  }
  w.bytes(new Uint8Array(out.buffer));
}

/**
 * The head-log record of a columns batch (kind 3): point p is a row of
 * series `sids[seriesOf[p]]` with the fields `fieldLists[listOf[p]]` (ids
 * and types, in its layout's order). Its arrays are copied as bytes.
 */
export function encodeColumnsRecord(
  c: TsPointColumns,
  sids: Int32Array,
  fieldLists: ReadonlyArray<{ ids: readonly number[]; types: readonly FieldType[] }>,
  listOf: Int32Array,
  headroom = 0,
): Buffer {
  const n = c.length;
  const v0 = c.valueStart[0]!;
  const values = c.valueStart[n]! - v0;
  const w = new ByteWriter(headroom + 64 + sids.length * 5 + n * (c.nanos ? 16 : 12) + values * 8);
  w.skip(headroom);
  w.byte(3);
  w.varint(sids.length);
  for (const sid of sids) w.varint(sid);
  w.varint(fieldLists.length);
  for (const l of fieldLists) {
    w.varint(l.ids.length);
    for (let i = 0; i < l.ids.length; i++) {
      w.varint(l.ids[i]!);
      w.byte(TYPE_CODE[l.types[i]!]);
    }
  }
  w.varint(n);
  putArray(w, c.seriesOf, 0, n);
  putArray(w, listOf, 0, n);
  putArray(w, c.timeMs, 0, n);
  w.byte(c.nanos ? 1 : 0);
  if (c.nanos) putArray(w, c.nanos, 0, n);
  w.varint(values);
  putArray(w, c.numbers, v0, values);
  const strings = c.strings ? [...c.strings].filter(([k]) => k >= v0 && k < v0 + values) : [];
  w.varint(strings.length);
  for (const [k, str] of strings) {
    w.varint(k - v0);
    const len = Buffer.byteLength(str, 'utf8');
    w.varint(len);
    w.utf8(str, len);
  }
  return w.finish();
}

export function encodeDeleteRecord(sids: readonly number[], fromMs: number, toMs: number, headroom = 0): Buffer {
  const w = new ByteWriter(headroom + 32 + sids.length * 5);
  w.skip(headroom);
  w.byte(2);
  w.varint(sids.length);
  for (const s of sids) w.varint(s);
  w.f64le(fromMs);
  w.f64le(toMs);
  return w.finish();
}

/** Bounds-checked reads of one head-log record; every failure is CORRUPTION at its offset. */
interface RecordReader {
  cur: { pos: number };
  varint(): number;
  /** Throws unless `n` more bytes are there. */
  need(n: number): void;
  f64(): number;
  fieldType(): FieldType;
}

function recordReader(buf: Buffer, what: string): RecordReader {
  const cur = { pos: 1 };
  const need = (n: number) => {
    if (n < 0 || cur.pos + n > buf.length) throw corruption(what, cur.pos, 'truncated head-log record');
  };
  return {
    cur,
    need,
    varint: () => {
      const n = getVarint(buf, cur);
      if (n < 0) throw corruption(what, cur.pos, 'bad varint in head-log record');
      return n;
    },
    f64: () => {
      need(8);
      const v = buf.readDoubleLE(cur.pos);
      cur.pos += 8;
      return v;
    },
    fieldType: () => {
      need(1);
      const t = CODE_TYPE[buf[cur.pos++]!];
      if (t === undefined) throw corruption(what, cur.pos - 1, 'unknown field type in head-log record');
      return t;
    },
  };
}

export function decodeLogRecord(buf: Buffer, what: string): LogRecord {
  const rd = recordReader(buf, what);
  const { cur, varint, need, f64 } = rd;
  if (buf.length < 2) throw corruption(what, 0, 'empty head-log record');
  if (buf[0] === 2) {
    const n = varint();
    const sids: number[] = [];
    for (let i = 0; i < n; i++) sids.push(varint());
    const fromMs = f64();
    const toMs = f64();
    return { kind: 'delete', sids, fromMs, toMs };
  }
  if (buf[0] === 3) return decodeColumnsRecord(buf, what, rd);
  if (buf[0] !== 1) throw corruption(what, 0, `unknown head-log record kind ${buf[0]}`);
  const n = varint();
  const rows: LogRow[] = [];
  for (let i = 0; i < n; i++) {
    const sid = varint();
    const timeMs = f64();
    const nanos = varint();
    const k = varint();
    const ids: number[] = [];
    const types: FieldType[] = [];
    const values: FieldValue[] = [];
    for (let j = 0; j < k; j++) {
      ids.push(varint());
      const t = rd.fieldType();
      types.push(t);
      if (t === 'float' || t === 'integer') values.push(f64());
      else if (t === 'boolean') {
        need(1);
        values.push(buf[cur.pos++] === 1);
      } else {
        const len = varint();
        need(len);
        values.push(buf.toString('utf8', cur.pos, cur.pos + len));
        cur.pos += len;
      }
    }
    rows.push({ sid, timeMs, nanos, ids, types, values });
  }
  if (cur.pos !== buf.length) throw corruption(what, cur.pos, 'trailing bytes in head-log record');
  return { kind: 'points', rows };
}

/** Kind 3 (`encodeColumnsRecord`) as rows; the reader is past the kind byte. */
function decodeColumnsRecord(buf: Buffer, what: string, rd: RecordReader): LogRecord {
  const { cur, varint, need } = rd;
  const sidCount = varint();
  need(sidCount);
  const sids: number[] = [];
  for (let i = 0; i < sidCount; i++) sids.push(varint());
  const listCount = varint();
  need(listCount);
  const lists: Array<{ ids: number[]; types: FieldType[] }> = [];
  for (let l = 0; l < listCount; l++) {
    const k = varint();
    need(k * 2);
    const ids: number[] = [];
    const types: FieldType[] = [];
    for (let i = 0; i < k; i++) {
      ids.push(varint());
      types.push(rd.fieldType());
    }
    lists.push({ ids, types });
  }
  const n = varint();
  need(n * 16);
  const seriesAt = cur.pos;
  const listAt = seriesAt + n * 4;
  const timeAt = listAt + n * 4;
  cur.pos = timeAt + n * 8;
  need(1);
  const hasNanos = buf[cur.pos++] === 1;
  const nanosAt = cur.pos;
  if (hasNanos) {
    need(n * 4);
    cur.pos += n * 4;
  }
  const values = varint();
  need(values * 8);
  const valuesAt = cur.pos;
  cur.pos += values * 8;
  const strings = new Map<number, string>();
  const stringCount = varint();
  for (let i = 0; i < stringCount; i++) {
    const k = varint();
    const len = varint();
    need(len);
    strings.set(k, buf.toString('utf8', cur.pos, cur.pos + len));
    cur.pos += len;
  }
  if (cur.pos !== buf.length) throw corruption(what, cur.pos, 'trailing bytes in head-log record');
  const rows: LogRow[] = new Array(n);
  let v = 0;
  for (let p = 0; p < n; p++) {
    const s = buf.readInt32LE(seriesAt + p * 4);
    const l = buf.readInt32LE(listAt + p * 4);
    if (s < 0 || s >= sids.length || l < 0 || l >= lists.length) throw corruption(what, seriesAt + p * 4, 'series or field list out of range in head-log record');
    const list = lists[l]!;
    if (v + list.ids.length > values) throw corruption(what, valuesAt, 'too few values in head-log record');
    const vals: FieldValue[] = new Array(list.ids.length);
    for (let i = 0; i < list.ids.length; i++, v++) {
      const t = list.types[i]!;
      if (t === 'string') {
        const str = strings.get(v);
        if (str === undefined) throw corruption(what, valuesAt, `missing string value ${v} in head-log record`);
        vals[i] = str;
      } else {
        const x = buf.readDoubleLE(valuesAt + v * 8);
        vals[i] = t === 'boolean' ? x === 1 : x;
      }
    }
    rows[p] = { sid: sids[s]!, timeMs: buf.readDoubleLE(timeAt + p * 8), nanos: hasNanos ? buf.readInt32LE(nanosAt + p * 4) : 0, ids: list.ids, types: list.types, values: vals };
  }
  if (v !== values) throw corruption(what, valuesAt, 'extra values in head-log record');
  return { kind: 'points', rows };
}
