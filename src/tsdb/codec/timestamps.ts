/**
 * Timestamp column codec: strictly ascending integer milliseconds (safe
 * integers, possibly negative), Gorilla delta-of-delta with buckets widened
 * for millisecond data.
 *
 * An empty column (count 0) is zero bytes. Otherwise byte 0 is the mode:
 *
 *   1 delta-of-delta:
 *       zigzag varint t0
 *       varint d1 = t1 - t0                       (only when count >= 2)
 *       bit stream (MSB first, padded to a byte with 1 bits) of count-2 entries, each
 *       the delta of deltas dod = (t[i]-t[i-1]) - (t[i-1]-t[i-2]), with z = zigzag(dod):
 *         '0'                              dod = 0
 *         '10'    + 7 bits z               z < 2^7    (|dod| <= 64)
 *         '110'   + 12 bits z              z < 2^12   (|dod| <= 2 s)
 *         '1110'  + 20 bits z              z < 2^20   (|dod| <= 8.7 min)
 *         '11110' + 32 bits z              z < 2^32   (|dod| <= 24.8 days)
 *         '11111' + 1 bit s + 53 bits q    dod = s ? -q-1 : q
 *   2 varint: the zigzag varint of every timestamp; used when some delta is
 *     2^53 or more and so not exact as a double.
 *   3 runs: zigzag varint t0, then runs of equal deltas until count - 1
 *     deltas are given: varint delta (>= 1) · varint run length (>= 1).
 *
 * The encoder writes runs when they are no larger than the least that
 * delta-of-delta could take (one bit per point after the second): a fixed
 * interval with a few gaps costs a few bytes per chunk instead of one bit
 * per point.
 */
import { invalidArgument } from '../../base/index.js';
import { BitReader, BitWriter, ByteReader, ByteWriter, checkCount, varintSize } from './bits.js';

export const TS_DOD = 1;
export const TS_VARINT = 2;
export const TS_RUNS = 3;

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const TWO_32 = 4294967296;

/** The human name of the mode that wrote `buf`. */
export function timestampsCodecName(buf: Uint8Array): string {
  if (buf.length === 0) return 'empty';
  return buf[0] === TS_DOD ? 'dod' : buf[0] === TS_VARINT ? 'varint' : buf[0] === TS_RUNS ? 'runs' : 'unknown';
}

export function encodeTimestamps(times: ArrayLike<number>): Buffer {
  const n = times.length;
  if (n === 0) return Buffer.alloc(0);
  let deltasFit = true;
  for (let i = 0; i < n; i++) {
    const t = times[i]!;
    if (!Number.isSafeInteger(t)) throw invalidArgument(`timestamp column: ${t} at index ${i} is not a safe integer`);
    if (i > 0) {
      const d = t - times[i - 1]!;
      if (!(d > 0)) throw invalidArgument(`timestamp column: not strictly ascending at index ${i}`);
      if (d > MAX_SAFE) deltasFit = false;
    }
  }
  const head = new ByteWriter(24);
  if (!deltasFit) {
    head.byte(TS_VARINT);
    for (let i = 0; i < n; i++) head.zigzag(times[i]!);
    return head.finish();
  }
  if (n >= 3 && runsSize(times, varintSize(times[1]! - times[0]!) + ((n - 2 + 7) >> 3)) >= 0) {
    head.byte(TS_RUNS);
    head.zigzag(times[0]!);
    for (let i = 1; i < n; ) {
      const d = times[i]! - times[i - 1]!;
      let j = i + 1;
      while (j < n && times[j]! - times[j - 1]! === d) j++;
      head.varint(d);
      head.varint(j - i);
      i = j;
    }
    return head.finish();
  }
  head.byte(TS_DOD);
  head.zigzag(times[0]!);
  if (n === 1) return head.finish();
  let prevDelta = times[1]! - times[0]!;
  head.varint(prevDelta);
  const w = new BitWriter(head.length + (n >> 3) + 16);
  w.writeBytes(head.finish());
  for (let i = 2; i < n; i++) {
    const d = times[i]! - times[i - 1]!;
    const dod = d - prevDelta;
    prevDelta = d;
    if (dod === 0) {
      w.writeBit(0);
    } else if (dod >= -0x7fffffff && dod <= 0x7fffffff) {
      const z = ((dod << 1) ^ (dod >> 31)) >>> 0;
      if (z < 0x80) w.writeBits((0b10 << 7) | z, 9);
      else if (z < 0x1000) w.writeBits((0b110 << 12) | z, 15);
      else if (z < 0x100000) w.writeBits((0b1110 << 20) | z, 24);
      else {
        w.writeBits(0b11110, 5);
        w.writeBits(z, 32);
      }
    } else {
      const s = dod < 0 ? 1 : 0;
      const q = s === 1 ? -dod - 1 : dod;
      w.writeBits(0b111110 | s, 6);
      w.writeBits64(Math.floor(q / TWO_32), q >>> 0, 53);
    }
  }
  return w.finish();
}

/**
 * Bytes of the runs mode after its first byte and t0 ((delta, length) varint
 * pairs) when at most `limit`, else -1 (found without walking the rest:
 * jittered times are many short runs).
 */
function runsSize(times: ArrayLike<number>, limit: number): number {
  let size = 0;
  const n = times.length;
  for (let i = 1; i < n; ) {
    const d = times[i]! - times[i - 1]!;
    let j = i + 1;
    while (j < n && times[j]! - times[j - 1]! === d) j++;
    size += varintSize(d) + varintSize(j - i);
    if (size > limit) return -1;
    i = j;
  }
  return size;
}

export function decodeTimestamps(buf: Uint8Array, count: number): number[] {
  checkCount(count, 'timestamps');
  const r = new ByteReader(buf);
  if (count === 0) {
    r.expectEnd('timestamps: empty column');
    return [];
  }
  const mode = r.byte();
  // Runs are compact by design; the other modes take at least a bit per value.
  if (mode !== TS_RUNS && count > buf.length * 8 + 2) r.fail(`timestamps: ${count} values cannot fit in ${buf.length} bytes`, 0);
  const out = new Array<number>(count);
  if (mode === TS_VARINT) {
    if (count > r.remaining) r.fail(`timestamps: ${count} values cannot fit in ${r.remaining} bytes`);
    let prev = -Infinity;
    for (let i = 0; i < count; i++) {
      const t = r.zigzag();
      if (t > MAX_SAFE || t < -MAX_SAFE || !(t > prev)) r.fail(`timestamps: value ${i} is out of range or not ascending`);
      out[i] = prev = t;
    }
    r.expectEnd('timestamps');
    return out;
  }
  if (mode === TS_RUNS) {
    let t = r.zigzag();
    if (t > MAX_SAFE || t < -MAX_SAFE) r.fail('timestamps: first value out of range');
    out[0] = t;
    for (let i = 1; i < count; ) {
      const d = r.varint();
      const len = r.varint();
      if (d < 1 || len < 1 || len > count - i) r.fail(`timestamps: bad run at value ${i}`);
      for (const end = i + len; i < end; i++) {
        t += d;
        if (t > MAX_SAFE) r.fail(`timestamps: value ${i} out of range`);
        out[i] = t;
      }
    }
    r.expectEnd('timestamps');
    return out;
  }
  if (mode !== TS_DOD) return r.fail(`timestamps: unknown mode ${mode}`, 0);
  let t = r.zigzag();
  if (t > MAX_SAFE || t < -MAX_SAFE) r.fail('timestamps: first value out of range');
  out[0] = t;
  if (count === 1) {
    r.expectEnd('timestamps');
    return out;
  }
  let d = r.varint();
  if (d < 1 || d > MAX_SAFE || t + d > MAX_SAFE) r.fail('timestamps: first delta out of range');
  t += d;
  out[1] = t;
  const br = new BitReader(buf, r.pos, buf.length);
  if (br.remaining < count - 2) br.fail(`timestamps: ${count - 2} entries cannot fit in ${br.remaining} bits`);
  for (let i = 2; i < count; i++) {
    if (br.readBit() === 1) {
      let dod: number;
      if (br.readBit() === 0) dod = unzz(br.readBits(7));
      else if (br.readBit() === 0) dod = unzz(br.readBits(12));
      else if (br.readBit() === 0) dod = unzz(br.readBits(20));
      else if (br.readBit() === 0) dod = unzz(br.readBits(32));
      else {
        const s = br.readBit();
        const q = br.readBits(21) * TWO_32 + br.readBits(32);
        dod = s === 1 ? -q - 1 : q;
      }
      d += dod;
      if (d < 1 || d > MAX_SAFE) br.fail(`timestamps: delta ${i} out of range`);
    }
    t += d;
    if (t > MAX_SAFE) br.fail(`timestamps: value ${i} out of range`);
    out[i] = t;
  }
  br.expectEnd('timestamps');
  return out;
}

/** Inverse zigzag of an unsigned 32-bit number. */
function unzz(z: number): number {
  return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
}
