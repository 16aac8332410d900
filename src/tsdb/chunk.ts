import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { corruption, crc32c, getVarint, putVarint } from '../base/index.js';
import { decodeColumn, decodeIntegers, decodePresence, decodeTimestamps, encodeColumn, encodeIntegers, encodePresence, encodeTimestamps } from './codec/index.js';
import type { FieldType, FieldValue } from './types.js';

/**
 * A sealed chunk: the points of one series in one time window, columnar
 * (docs/formats.md "Time-series chunk"):
 *
 *   u8 version (2) · u8 flags (bit0: nanos column, bit1: body deflated) · varint count
 *   body (deflate-raw when bit1):
 *     varint len · timestamps column
 *     [bit0] varint len · nanos column (integers)
 *     varint field count, then per field:
 *       varint field id · u8 type (bits 0–2: 1 float, 2 integer, 3 boolean, 4 string; bit 3: sparse)
 *       [sparse] varint len · presence bitmap · varint len · column (present values only)
 *   u32 crc32c (LE) of every byte before it
 *
 * Version 1 (written before 2026-12, still read) has two bytes after the
 * field id: u8 type · u8 flags (bit0: sparse).
 *
 * Times are strictly ascending (one row per timestamp; writes to the same
 * timestamp merge, the later value of a field winning).
 */

export const TYPE_CODE: Record<FieldType, number> = { float: 1, integer: 2, boolean: 3, string: 4 };
const VERSION = 2;
/** Version 2: the type byte's sparse bit. */
const SPARSE = 8;
export const CODE_TYPE: Record<number, FieldType> = { 1: 'float', 2: 'integer', 3: 'boolean', 4: 'string' };

export interface ChunkColumn {
  type: FieldType;
  /** Per row: the value, or undefined where this field is absent. */
  values: Array<FieldValue | undefined>;
}

export interface ChunkData {
  times: number[];
  /** Sub-millisecond nanos per row, or undefined when all are 0. */
  nanos: number[] | undefined;
  /** field id → column. */
  columns: Map<number, ChunkColumn>;
}

function anyNonZero(xs: readonly number[]): boolean {
  for (let i = 0; i < xs.length; i++) if (xs[i] !== 0) return true;
  return false;
}

export function encodeChunk(data: ChunkData, options: { deflate?: boolean } = {}): Buffer {
  const parts: Buffer[] = [];
  const varint = (n: number) => {
    const b = Buffer.allocUnsafe(9);
    return b.subarray(0, putVarint(b, 0, n));
  };
  const withLen = (b: Buffer) => {
    parts.push(varint(b.length), b);
  };
  const count = data.times.length;
  withLen(encodeTimestamps(data.times));
  const hasNanos = data.nanos !== undefined && anyNonZero(data.nanos);
  if (hasNanos) withLen(encodeIntegers(data.nanos!));
  parts.push(varint(data.columns.size));
  for (const [id, col] of data.columns) {
    let present: boolean[] | undefined;
    let values = col.values as FieldValue[];
    if (col.values.length !== count) throw new Error(`assertion failed: column ${id} has ${col.values.length} rows, chunk ${count}`);
    // includes, not some(callback): a callback would box every double it is handed.
    if (col.values.includes(undefined)) {
      present = col.values.map((v) => v !== undefined);
      values = col.values.filter((v): v is FieldValue => v !== undefined);
    }
    parts.push(varint(id), Buffer.from([TYPE_CODE[col.type] | (present ? SPARSE : 0)]));
    if (present) withLen(encodePresence(present));
    withLen(encodeColumn(col.type, values));
  }
  let body = Buffer.concat(parts);
  let flags = hasNanos ? 1 : 0;
  if (options.deflate === true && body.length > 64) {
    const z = deflateRawSync(body);
    if (z.length < body.length * 0.9) {
      body = z;
      flags |= 2;
    }
  }
  const head = Buffer.allocUnsafe(11);
  head[0] = VERSION;
  head[1] = flags;
  const headLen = putVarint(head, 2, count);
  const out = Buffer.allocUnsafe(headLen + body.length + 4);
  head.copy(out, 0, 0, headLen);
  body.copy(out, headLen);
  out.writeUInt32LE(crc32c(out.subarray(0, headLen + body.length)), headLen + body.length);
  return out;
}

/**
 * Decodes a chunk, checking its checksum. With `fields`, only those
 * columns are decoded (the others are skipped). `what` names the chunk in
 * corruption errors.
 */
export function decodeChunk(buf: Uint8Array, what: string, fields?: ReadonlySet<number>): ChunkData {
  if (buf.length < 7) throw corruption(what, 0, 'chunk too short');
  const bodyEnd = buf.length - 4;
  const stored = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).readUInt32LE(bodyEnd);
  if (crc32c(buf.subarray(0, bodyEnd)) !== stored) throw corruption(what, 0, 'chunk checksum mismatch');
  const version = buf[0];
  if (version !== VERSION && version !== 1) throw corruption(what, 0, `unknown chunk version ${version}`);
  const flags = buf[1]!;
  const cur = { pos: 2 };
  const count = getVarint(buf, cur, bodyEnd);
  if (count < 0) throw corruption(what, 2, 'bad row count');
  let body: Uint8Array = buf.subarray(cur.pos, bodyEnd);
  if (flags & 2) {
    try {
      body = inflateRawSync(body);
    } catch (err) {
      throw corruption(what, cur.pos, `cannot inflate chunk body: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const c = { pos: 0 };
  const slice = (): Uint8Array => {
    const len = getVarint(body, c);
    if (len < 0 || c.pos + len > body.length) throw corruption(what, c.pos, 'chunk section length out of bounds');
    const s = body.subarray(c.pos, c.pos + len);
    c.pos += len;
    return s;
  };
  const times = decodeTimestamps(slice(), count);
  const nanos = flags & 1 ? decodeIntegers(slice(), count) : undefined;
  const n = getVarint(body, c);
  if (n < 0) throw corruption(what, c.pos, 'bad field count');
  const columns = new Map<number, ChunkColumn>();
  for (let i = 0; i < n; i++) {
    const id = getVarint(body, c);
    const headLen = version === 1 ? 2 : 1;
    if (id < 0 || c.pos + headLen > body.length) throw corruption(what, c.pos, 'truncated column header');
    const code = body[c.pos]!;
    const type = CODE_TYPE[version === 1 ? code : code & ~SPARSE];
    const sparse = version === 1 ? (body[c.pos + 1]! & 1) === 1 : (code & SPARSE) !== 0;
    c.pos += headLen;
    if (type === undefined) throw corruption(what, c.pos - headLen, `unknown field type code ${code}`);
    const presence = sparse ? slice() : undefined;
    const col = slice();
    if (fields !== undefined && !fields.has(id)) continue;
    if (presence === undefined) {
      columns.set(id, { type, values: decodeColumn(type, col, count) });
      continue;
    }
    const present = decodePresence(presence, count);
    let k = 0;
    for (const p of present) if (p) k++;
    const dense = decodeColumn(type, col, k);
    const values: Array<FieldValue | undefined> = new Array(count);
    let j = 0;
    for (let r = 0; r < count; r++) values[r] = present[r] ? dense[j++] : undefined;
    columns.set(id, { type, values });
  }
  if (c.pos !== body.length) throw corruption(what, c.pos, 'trailing bytes in chunk body');
  return { times, nanos, columns };
}

/**
 * Merges rows of `b` into `a` by time (both ascending, unique times); at an
 * equal time the fields of `b` win and the others are kept.
 */
export function mergeChunkData(a: ChunkData, b: ChunkData): ChunkData {
  const times: number[] = [];
  const nanos: number[] = [];
  const ids = new Set<number>([...a.columns.keys(), ...b.columns.keys()]);
  const columns = new Map<number, ChunkColumn>();
  for (const id of ids) columns.set(id, { type: (b.columns.get(id) ?? a.columns.get(id))!.type, values: [] });
  let i = 0;
  let j = 0;
  const take = (src: ChunkData, r: number, other: ChunkData | undefined, o: number) => {
    for (const [id, col] of columns) {
      const v = src.columns.get(id)?.values[r];
      col.values.push(v !== undefined ? v : other?.columns.get(id)?.values[o]);
    }
  };
  while (i < a.times.length || j < b.times.length) {
    const ta = i < a.times.length ? a.times[i]! : Infinity;
    const tb = j < b.times.length ? b.times[j]! : Infinity;
    if (ta < tb) {
      times.push(ta);
      nanos.push(a.nanos?.[i] ?? 0);
      take(a, i++, undefined, 0);
    } else if (tb < ta) {
      times.push(tb);
      nanos.push(b.nanos?.[j] ?? 0);
      take(b, j++, undefined, 0);
    } else {
      times.push(tb);
      nanos.push(b.nanos?.[j] ?? 0);
      take(b, j++, a, i++);
    }
  }
  return { times, nanos: nanos.some((x) => x !== 0) ? nanos : undefined, columns };
}

/** Rows of `d` with times outside [fromMs, toMs); returns the data and how many rows were removed. */
export function removeRange(d: ChunkData, fromMs: number, toMs: number): { data: ChunkData; removed: number } {
  const keep: number[] = [];
  for (let r = 0; r < d.times.length; r++) if (d.times[r]! < fromMs || d.times[r]! >= toMs) keep.push(r);
  const removed = d.times.length - keep.length;
  if (removed === 0) return { data: d, removed };
  const columns = new Map<number, ChunkColumn>();
  for (const [id, col] of d.columns) {
    const values = keep.map((r) => col.values[r]);
    if (values.some((v) => v !== undefined)) columns.set(id, { type: col.type, values });
  }
  return {
    data: { times: keep.map((r) => d.times[r]!), nanos: d.nanos ? keep.map((r) => d.nanos![r]!) : undefined, columns },
    removed,
  };
}
