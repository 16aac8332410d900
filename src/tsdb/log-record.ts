import { corruption, getVarint, putVarint } from '../base/index.js';
import { CODE_TYPE, TYPE_CODE } from './chunk.js';
import type { FieldType, FieldValue } from './types.js';

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

class Writer {
  buf: Buffer;
  off = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }
  ensure(n: number): void {
    if (this.off + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.off + n));
    this.buf.copy(next, 0, 0, this.off);
    this.buf = next;
  }
  varint(n: number): void {
    this.ensure(9);
    this.off = putVarint(this.buf, this.off, n);
  }
  byte(b: number): void {
    this.ensure(1);
    this.buf[this.off++] = b;
  }
  f64(v: number): void {
    this.ensure(8);
    this.off = this.buf.writeDoubleLE(v, this.off);
  }
  str(s: string): void {
    const len = Buffer.byteLength(s, 'utf8');
    this.varint(len);
    this.ensure(len);
    this.off += this.buf.write(s, this.off, 'utf8');
  }
}

export function encodePointsRecord(rows: readonly LogRow[]): Buffer {
  const w = new Writer(16 + rows.length * 64);
  w.byte(1);
  w.varint(rows.length);
  for (const r of rows) {
    w.varint(r.sid);
    w.f64(r.timeMs);
    w.varint(r.nanos);
    w.varint(r.ids.length);
    for (let i = 0; i < r.ids.length; i++) {
      w.varint(r.ids[i]!);
      const t = r.types[i]!;
      w.byte(TYPE_CODE[t]);
      const v = r.values[i]!;
      if (t === 'float' || t === 'integer') w.f64(v as number);
      else if (t === 'boolean') w.byte(v ? 1 : 0);
      else w.str(v as string);
    }
  }
  return w.buf.subarray(0, w.off);
}

export function encodeDeleteRecord(sids: readonly number[], fromMs: number, toMs: number): Buffer {
  const w = new Writer(32 + sids.length * 5);
  w.byte(2);
  w.varint(sids.length);
  for (const s of sids) w.varint(s);
  w.f64(fromMs);
  w.f64(toMs);
  return w.buf.subarray(0, w.off);
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
