/**
 * Engine key layout of the time-series store (docs/formats.md "Time series").
 * Every key starts with one tag byte; ids and times are fixed-width
 * big-endian so keys sort by (series, time):
 *
 *   'I' sid:u32                          → series record (measurement, tags)
 *   'F' measurement 0x00 field           → field type code, field id:u16
 *   'R' measurement                      → retention policy (JSON)
 *   'M' name                             → store metadata ('Msync': rewritten to sync the engine;
 *                                          'Mwindow': the chunk window in ms, decimal text)
 *   'C' sid:u32 window:t64               → sealed chunk of the window starting at `window`
 *   'K' sid:u32 window:t64               → pointer to a chunk moved to the cold tier
 *   'U' sid:u32 level:u8 bucket:t64      → rollup bucket record of one level
 *
 * t64 is a time in ms (a safe integer, possibly negative) + 2^53, as u64.
 */
const OFFSET = 2 ** 53;
const TWO32 = 2 ** 32;

export const TAG = {
  series: 0x49, // 'I'
  field: 0x46, // 'F'
  retention: 0x52, // 'R'
  meta: 0x4d, // 'M'
  chunk: 0x43, // 'C'
  cold: 0x4b, // 'K'
  rollup: 0x55, // 'U'
  rounding: 0x50, // 'P'
} as const;

export function writeT64(buf: Buffer, off: number, ms: number): void {
  const v = ms + OFFSET;
  buf.writeUInt32BE(Math.floor(v / TWO32), off);
  buf.writeUInt32BE(v % TWO32, off + 4);
}

export function readT64(buf: Uint8Array, off: number): number {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  return b.readUInt32BE(off) * TWO32 + b.readUInt32BE(off + 4) - OFFSET;
}

export function seriesKey(sid: number): Buffer {
  const k = Buffer.allocUnsafe(5);
  k[0] = TAG.series;
  k.writeUInt32BE(sid, 1);
  return k;
}

export function fieldKey(measurement: string, field: string): Buffer {
  return Buffer.concat([Buffer.from([TAG.field]), Buffer.from(measurement, 'utf8'), Buffer.from([0]), Buffer.from(field, 'utf8')]);
}

export function retentionKey(measurement: string): Buffer {
  return Buffer.concat([Buffer.from([TAG.retention]), Buffer.from(measurement, 'utf8')]);
}

export function roundingKey(measurement: string): Buffer {
  return Buffer.concat([Buffer.from([TAG.rounding]), Buffer.from(measurement, 'utf8')]);
}

/** 'C' or 'K' key of (sid, window). */
export function windowKey(tag: number, sid: number, windowMs: number): Buffer {
  const k = Buffer.allocUnsafe(13);
  k[0] = tag;
  k.writeUInt32BE(sid, 1);
  writeT64(k, 5, windowMs);
  return k;
}

export function rollupKey(sid: number, level: number, bucketMs: number): Buffer {
  const k = Buffer.allocUnsafe(14);
  k[0] = TAG.rollup;
  k.writeUInt32BE(sid, 1);
  k[5] = level;
  writeT64(k, 6, bucketMs);
  return k;
}

/** The time inside a 'C'/'K' key (offset 5) or a 'U' key (offset 6). */
export function timeOfKey(key: Uint8Array, tag: number): number {
  return readT64(key, tag === TAG.rollup ? 6 : 5);
}
