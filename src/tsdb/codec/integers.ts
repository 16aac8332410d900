/**
 * Integer column codec: safe integers (±(2^53-1)), e.g. integer fields, the
 * sub-millisecond nanos column, the scaled mantissas of the decimal float
 * codec and the dictionary indexes of the string codec.
 *
 * An empty column (count 0) is zero bytes. Otherwise byte 0 is the codec id:
 *
 *   1 const     zigzag varint v           every value equals v
 *   2 simple8b  zigzag varint v0, then the zigzag deltas v[i]-v[i-1] (count-1 of
 *               them) in simple8b words (below)
 *   3 bitpack   zigzag varint v0, then a bit stream (MSB first, padded with 1
 *               bits) of blocks of up to 128 zigzag deltas: 6-bit width w
 *               (0..53), then each delta in w bits
 *   4 varint    the zigzag varint of every value: used when neither the deltas
 *               (some |delta| >= 2^52) nor the offsets (max - min >= 2^53) would
 *               be exact as doubles
 *   5 simple8b-for  frame of reference: zigzag varint min, then v[i] - min for
 *                   every value (count of them) in simple8b words
 *   6 bitpack-for   zigzag varint min, then v[i] - min for every value in
 *                   bitpack blocks
 *
 * The encoder uses const when it applies. Otherwise it packs the zigzag deltas
 * (when every |delta| < 2^52) and the offsets from the minimum (when
 * max - min < 2^53; better for dictionary indexes and values that oscillate)
 * with both simple8b and bitpack and keeps the smallest; varint when neither
 * form fits.
 *
 * Simple8b word: 8 bytes, big-endian 64-bit. The top 4 bits are the selector,
 * the low 60 bits the payload. Selector 0 is a run: the 28 bits below the
 * selector hold a count (>= 1) and the low 32 bits the value repeated. Selectors
 * 1..14 pack n values of b bits, the first value in the lowest bits:
 *   (n, b) = (60,1) (30,2) (20,3) (15,4) (12,5) (10,6) (8,7) (7,8) (6,10) (5,12) (4,15) (3,20) (2,30) (1,60).
 * Selector 15 is invalid. The last word may be partially used (the decoder
 * knows the count); its unused slots are zero. Words follow each other up to
 * the end of the buffer exactly.
 */
import { invalidArgument } from '../../base/index.js';
import { bitWidth, BitReader, BitWriter, ByteReader, ByteWriter, CHUNK_FILE, checkCount, unzigzag, zigzag } from './bits.js';

export const INT_CONST = 1;
export const INT_SIMPLE8B = 2;
export const INT_BITPACK = 3;
export const INT_VARINT = 4;
export const INT_SIMPLE8B_FOR = 5;
export const INT_BITPACK_FOR = 6;

const INT_NAMES: Record<number, string> = {
  [INT_CONST]: 'const',
  [INT_SIMPLE8B]: 'simple8b',
  [INT_BITPACK]: 'bitpack',
  [INT_VARINT]: 'varint',
  [INT_SIMPLE8B_FOR]: 'simple8b-for',
  [INT_BITPACK_FOR]: 'bitpack-for',
};

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const TWO_32 = 4294967296;
/** Deltas (and raw values) below this in magnitude have zigzag values below 2^53: exact doubles, at most 53 bits. */
const LIMIT = 2 ** 52;
const BLOCK = 128;
const MAX_RUN = (1 << 28) - 1;

/** Values per word and bits per value, by selector (index 0, the run selector, is unused here). */
const SEL_N = [0, 60, 30, 20, 15, 12, 10, 8, 7, 6, 5, 4, 3, 2, 1];
const SEL_B = [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 15, 20, 30, 60];

/** The human name of the integer codec that wrote `buf` ('empty' for a zero-length buffer). */
export function integersCodecName(buf: Uint8Array): string {
  if (buf.length === 0) return 'empty';
  return INT_NAMES[buf[0]!] ?? 'unknown';
}

export function encodeIntegers(values: ArrayLike<number>): Buffer {
  const n = values.length;
  if (n === 0) return Buffer.alloc(0);
  const first = values[0]!;
  let min = first;
  let max = first;
  let deltasFit = true;
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (!Number.isSafeInteger(v)) throw invalidArgument(`integer column: ${v} at index ${i} is not a safe integer`);
    if (v < min) min = v;
    else if (v > max) max = v;
    if (i > 0) {
      const d = v - values[i - 1]!;
      if (d >= LIMIT || d <= -LIMIT) deltasFit = false;
    }
  }
  if (min === max) {
    const w = new ByteWriter(16);
    w.byte(INT_CONST);
    w.zigzag(first);
    return w.finish();
  }
  let best: Buffer | undefined;
  let maxZ = Infinity;
  if (deltasFit) {
    const zz = new Float64Array(n - 1);
    maxZ = 0;
    for (let i = 1; i < n; i++) {
      const z = zigzag(values[i]! - values[i - 1]!);
      zz[i - 1] = z;
      if (z > maxZ) maxZ = z;
    }
    best = packSmaller(zz, first, INT_SIMPLE8B, INT_BITPACK, undefined);
  }
  // Offsets from the minimum only pay when their range is no wider than the widest zigzag delta.
  if (max - min < 2 * LIMIT && bitWidth(max - min) <= bitWidth(maxZ === Infinity ? 2 * LIMIT : maxZ)) {
    const offs = new Float64Array(n);
    for (let i = 0; i < n; i++) offs[i] = values[i]! - min;
    best = packSmaller(offs, min, INT_SIMPLE8B_FOR, INT_BITPACK_FOR, best);
  }
  if (best !== undefined) return best;
  const w = new ByteWriter(n * 2 + 8);
  w.byte(INT_VARINT);
  for (let i = 0; i < n; i++) w.zigzag(values[i]!);
  return w.finish();
}

/** Packs `xs` after the id byte and the zigzag varint `head`, both ways; returns the smallest of those and `best`. */
function packSmaller(xs: Float64Array, head: number, s8Id: number, bpId: number, best: Buffer | undefined): Buffer {
  const s8 = new ByteWriter(16 + xs.length);
  s8.byte(s8Id);
  s8.zigzag(head);
  simple8bEncode(xs, s8);
  const bp = new ByteWriter(16 + xs.length);
  bp.byte(bpId);
  bp.zigzag(head);
  bitpackEncode(xs, bp);
  const w = s8.length <= bp.length ? s8 : bp;
  return best !== undefined && best.length <= w.length ? best : w.finish();
}

export function decodeIntegers(buf: Uint8Array, count: number): number[] {
  return decodeIntegersRange(buf, 0, buf.length, count, 'integers');
}

/** Decodes the integer column in `buf[start, end)`; `what` prefixes error messages. */
export function decodeIntegersRange(buf: Uint8Array, start: number, end: number, count: number, what: string): number[] {
  checkCount(count, what);
  const r = new ByteReader(buf, start, end);
  if (count === 0) {
    r.expectEnd(`${what}: empty column`);
    return [];
  }
  const id = r.byte();
  const out = new Array<number>(count);
  switch (id) {
    case INT_CONST: {
      const v = r.zigzag();
      checkSafe(r, v, what);
      out.fill(v);
      r.expectEnd(`${what}: const`);
      return out;
    }
    case INT_VARINT: {
      for (let i = 0; i < count; i++) {
        const v = r.zigzag();
        checkSafe(r, v, what);
        out[i] = v;
      }
      r.expectEnd(`${what}: varint`);
      return out;
    }
    case INT_SIMPLE8B:
    case INT_BITPACK: {
      let v = r.zigzag();
      checkSafe(r, v, what);
      out[0] = v;
      const zz = new Float64Array(count - 1);
      if (id === INT_SIMPLE8B) simple8bDecode(r, zz);
      else bitpackDecode(buf, r.pos, end, zz);
      for (let i = 1; i < count; i++) {
        v += unzigzag(zz[i - 1]!);
        if (v > MAX_SAFE || v < -MAX_SAFE) r.fail(`${what}: value ${i} is outside the safe integer range`, start);
        out[i] = v;
      }
      return out;
    }
    case INT_SIMPLE8B_FOR:
    case INT_BITPACK_FOR: {
      const min = r.zigzag();
      checkSafe(r, min, what);
      const offs = new Float64Array(count);
      if (id === INT_SIMPLE8B_FOR) simple8bDecode(r, offs);
      else bitpackDecode(buf, r.pos, end, offs);
      for (let i = 0; i < count; i++) {
        const v = min + offs[i]!;
        if (v > MAX_SAFE) r.fail(`${what}: value ${i} is outside the safe integer range`, start);
        out[i] = v;
      }
      return out;
    }
    default:
      return r.fail(`${what}: unknown integer codec id ${id}`, start);
  }
}

function checkSafe(r: ByteReader, v: number, what: string): void {
  if (v > MAX_SAFE || v < -MAX_SAFE) r.fail(`${what}: value outside the safe integer range`);
}

/**
 * Packs non-negative integers (each below 2^53) into simple8b words appended
 * to `w` (format in the file comment).
 */
export function simple8bEncode(zz: ArrayLike<number>, w: ByteWriter): void {
  const n = zz.length;
  let i = 0;
  while (i < n) {
    // Greedy: the first selector (most values per word) whose b fits the next n values (or all that remain).
    let j = i;
    let maxW = 0;
    let sel = 14;
    for (let s = 1; s <= 14; s++) {
      const b = SEL_B[s]!;
      if (maxW > b) continue;
      const lim = Math.min(i + SEL_N[s]!, n);
      while (j < lim) {
        const wd = bitWidth(zz[j]!);
        if (wd > b) {
          maxW = wd;
          break;
        }
        j++;
      }
      if (j >= lim) {
        sel = s;
        break;
      }
    }
    const take = Math.min(SEL_N[sel]!, n - i);
    const v0 = zz[i]!;
    if (v0 < TWO_32 && i + take < n && zz[i + take] === v0) {
      let k = i + 1;
      while (k < n && zz[k] === v0 && k - i < MAX_RUN) k++;
      if (k - i > take) {
        const run = k - i;
        w.u32(run);
        w.u32(v0);
        i = k;
        continue;
      }
    }
    const b = SEL_B[sel]!;
    if (b === 60) {
      w.u32((14 << 28) | Math.floor(v0 / TWO_32));
      w.u32(v0 >>> 0);
    } else {
      let lo = 0;
      let hi = 0;
      for (let k = 0; k < take; k++) {
        const v = zz[i + k]!;
        const o = k * b;
        if (o + b <= 32) lo |= v << o;
        else if (o >= 32) hi |= v << (o - 32);
        else {
          lo |= v << o;
          hi |= v >>> (32 - o);
        }
      }
      w.u32((sel << 28) | hi);
      w.u32(lo >>> 0);
    }
    i += take;
  }
}

/** Fills `out` from simple8b words read from `r`; the words must end exactly at the reader's end. */
export function simple8bDecode(r: ByteReader, out: Float64Array): void {
  const n = out.length;
  let i = 0;
  while (i < n) {
    const at = r.pos;
    if (r.remaining < 8) r.fail(`simple8b: truncated word (${n - i} values missing)`);
    const hi = r.u32();
    const lo = r.u32();
    const sel = hi >>> 28;
    if (sel === 0) {
      const run = hi & 0x0fffffff;
      if (run === 0 || run > n - i) r.fail(`simple8b: run of ${run} with ${n - i} values left`, at);
      out.fill(lo, i, i + run);
      i += run;
    } else if (sel === 14) {
      const v = (hi & 0x0fffffff) * TWO_32 + lo;
      if (v > 2 ** 53) r.fail('simple8b: value out of range', at);
      out[i++] = v;
    } else if (sel === 15) {
      r.fail('simple8b: invalid selector 15', at);
    } else {
      const b = SEL_B[sel]!;
      const take = Math.min(SEL_N[sel]!, n - i);
      const mask = (1 << b) - 1;
      for (let k = 0; k < take; k++) {
        const o = k * b;
        let v: number;
        if (o + b <= 32) v = (lo >>> o) & mask;
        else if (o >= 32) v = (hi >>> (o - 32)) & mask;
        else v = ((lo >>> o) | (hi << (32 - o))) & mask;
        out[i + k] = v;
      }
      i += take;
    }
  }
  r.expectEnd('simple8b');
}

/** Bit-packs non-negative integers below 2^53 in blocks of 128 with a 6-bit width per block. */
export function bitpackEncode(zz: ArrayLike<number>, w: ByteWriter): void {
  const n = zz.length;
  const bw = new BitWriter(n + 16);
  for (let i = 0; i < n; i += BLOCK) {
    const end = Math.min(i + BLOCK, n);
    let max = 0;
    for (let k = i; k < end; k++) if (zz[k]! > max) max = zz[k]!;
    const width = bitWidth(max);
    bw.writeBits(width, 6);
    if (width === 0) continue;
    if (width <= 32) {
      for (let k = i; k < end; k++) bw.writeBits(zz[k]!, width);
    } else {
      for (let k = i; k < end; k++) {
        const v = zz[k]!;
        bw.writeBits64(Math.floor(v / TWO_32), v >>> 0, width);
      }
    }
  }
  w.bytes(bw.finish());
}

/** Fills `out` from the bit-packed blocks in `buf[start, end)`. */
export function bitpackDecode(buf: Uint8Array, start: number, end: number, out: Float64Array): void {
  const n = out.length;
  const br = new BitReader(buf, start, end, CHUNK_FILE);
  for (let i = 0; i < n; i += BLOCK) {
    const stop = Math.min(i + BLOCK, n);
    const width = br.readBits(6);
    if (width > 53) br.fail(`bitpack: block width ${width} exceeds 53`);
    if (width === 0) {
      out.fill(0, i, stop);
    } else if (width <= 32) {
      if (br.remaining < (stop - i) * width) br.fail('bitpack: block truncated');
      for (let k = i; k < stop; k++) out[k] = br.readBits(width);
    } else {
      if (br.remaining < (stop - i) * width) br.fail('bitpack: block truncated');
      for (let k = i; k < stop; k++) {
        const h = br.readBits(width - 32);
        out[k] = h * TWO_32 + br.readBits(32);
      }
    }
  }
  br.expectEnd('bitpack');
}
