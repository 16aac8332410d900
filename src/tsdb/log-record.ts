import { corruption, getVarint } from '../base/index.js';
import { CODE_TYPE, TYPE_CODE } from './chunk.js';
import { ByteWriter } from './codec/index.js';
import { columnValue } from './columns.js';
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

export function encodePointsRecord(rows: readonly LogRow[]): Buffer {
  const w = new ByteWriter(16 + rows.length * 64);
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

/**
 * `encodePointsRecord` of a columns batch: point p is a row of series
 * `sids[seriesOf[p]]` with field ids `ids[p]` (its layout's order).
 */
export function encodePointsColumns(c: TsPointColumns, sids: Int32Array, ids: ReadonlyArray<readonly number[]>): Buffer {
  const n = c.length;
  const w = new ByteWriter(16 + n * 24 + c.valueStart[n]! * 11);
  w.byte(1);
  w.varint(n);
  for (let p = 0; p < n; p++) {
    const types = c.layouts[c.layoutOf[p]!]!.types;
    const rowIds = ids[p]!;
    const base = c.valueStart[p]!;
    w.varint(sids[c.seriesOf[p]!]!);
    w.f64le(c.timeMs[p]!);
    w.varint(c.nanos ? c.nanos[p]! : 0);
    w.varint(rowIds.length);
    for (let i = 0; i < rowIds.length; i++) {
      w.varint(rowIds[i]!);
      const t = types[i]!;
      if (t === 'float' || t === 'integer') {
        w.byte(TYPE_CODE[t]);
        w.f64le(c.numbers[base + i]!);
      } else writeValue(w, t, columnValue(c, t, base + i));
    }
  }
  return w.finish();
}

export function encodeDeleteRecord(sids: readonly number[], fromMs: number, toMs: number): Buffer {
  const w = new ByteWriter(32 + sids.length * 5);
  w.byte(2);
  w.varint(sids.length);
  for (const s of sids) w.varint(s);
  w.f64le(fromMs);
  w.f64le(toMs);
  return w.finish();
}

export function decodeLogRecord(buf: Buffer, what: string): LogRecord {
  const cur = { pos: 1 };
  const varint = () => {
    const n = getVarint(buf, cur);
    if (n < 0) throw corruption(what, cur.pos, 'bad varint in head-log record');
    return n;
  };
  const need = (n: number) => {
    if (cur.pos + n > buf.length) throw corruption(what, cur.pos, 'truncated head-log record');
  };
  const f64 = () => {
    need(8);
    const v = buf.readDoubleLE(cur.pos);
    cur.pos += 8;
    return v;
  };
  if (buf.length < 2) throw corruption(what, 0, 'empty head-log record');
  if (buf[0] === 2) {
    const n = varint();
    const sids: number[] = [];
    for (let i = 0; i < n; i++) sids.push(varint());
    const fromMs = f64();
    const toMs = f64();
    return { kind: 'delete', sids, fromMs, toMs };
  }
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
      need(1);
      const t = CODE_TYPE[buf[cur.pos++]!];
      if (t === undefined) throw corruption(what, cur.pos - 1, 'unknown field type in head-log record');
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
