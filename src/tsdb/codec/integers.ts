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
 *   9 rice      zigzag varint v0, then a bit stream (MSB first, padded with 1
 *               bits) of count-1 codes z = zigzag(v[i] - v[i-1]), i = 1..count-1,
 *               in blocks of limited Rice codes with shared headers (below)
 *  10 rice-dod  zigzag varint v0, zigzag varint d1 = v1 - v0 (when count >= 2),
 *               then a bit stream of count-2 codes (none when count < 3)
 *               z = zigzag(d[i] - d[i-1]), d[i] = v[i] - v[i-1], i = 2..count-1,
 *               in blocks of limited Rice codes with shared headers
 *   7, 8        rice-v1 and rice-dod-v1: 9 and 10 with every block header in
 *               full, as written before 2026-12 (still read)
 *
 * The encoder uses const when it applies. Otherwise it sizes every candidate
 * that applies without writing it and writes only the smallest (ties go to
 * the candidate sized first, so the rice codecs appear only where they save bytes):
 *   - when every |delta| < 2^52: the zigzag deltas in simple8b, bitpack and
 *     rice; and, when every |delta of deltas| < 2^52 too and their summed
 *     bit lengths are smaller than those of the deltas (smooth data: steady
 *     counters, ramps), rice-dod;
 *   - when max - min < 2^53 and the offsets are no wider than the widest
 *     zigzag delta (dictionary indexes, values that oscillate): the offsets
 *     from the minimum in simple8b and bitpack;
 *   - varint when none of those applies.
 * Rice suits deltas that are roughly Gaussian or Laplacian (random walks,
 * sensor noise): ~1 bit per value under fixed-width packing.
 *
 * Simple8b word: 8 bytes, big-endian 64-bit. The top 4 bits are the selector,
 * the low 60 bits the payload. Selector 0 is a run: the 28 bits below the
 * selector hold a count (>= 1) and the low 32 bits the value repeated. Selectors
 * 1..14 pack n values of b bits, the first value in the lowest bits:
 *   (n, b) = (60,1) (30,2) (20,3) (15,4) (12,5) (10,6) (8,7) (7,8) (6,10) (5,12) (4,15) (3,20) (2,30) (1,60).
 * Selector 15 is invalid. The last word may be partially used (the decoder
 * knows the count); its unused slots are zero. Words follow each other up to
 * the end of the buffer exactly.
 *
 * Blocks of limited Rice codes (the same blocks as the float delta codec's,
 * one implementation: RiceBlocks in bits.ts): the codes come in blocks of
 * 128 (the last block may be shorter). A block starts with a header of 6 bits
 * k, 4 bits Q, 1 bit mode (with shared headers, every block after the first
 * starts with one bit instead: 1 = the previous block's header again, 0 = a
 * header follows); each code is a limited Rice code, q ones followed
 * by a 0 when q < Q, or Q ones alone:
 *   q < Q, or q = Q in mode 0    z = q * 2^k + r, r in the next k bits
 *   q = Q in mode 1 (escape)     7 bits w (0..64), then z in w bits
 * Mode 0 with Q = 0 is plain bit packing in k bits (k = 0: every z is 0, in
 * no bits). Every z must be below 2^53 here (the decoder rejects larger ones
 * as corrupt), and every value and every d[i] within ±(2^53-1). The encoder
 * picks each block's (k, Q, mode) for the smallest size; escapes carry the
 * outliers.
 */
import { invalidArgument } from '../../base/index.js';
import {
  bitWidth,
  BitReader,
  BitWriter,
  ByteReader,
  ByteWriter,
  CHUNK_FILE,
  checkCount,
  RiceBlocks,
  unzigzag,
  WordWriter,
  zigzag,
  zigzagSize,
} from './bits.js';

export const INT_CONST = 1;
export const INT_SIMPLE8B = 2;
export const INT_BITPACK = 3;
export const INT_VARINT = 4;
export const INT_SIMPLE8B_FOR = 5;
export const INT_BITPACK_FOR = 6;
/** Rice codecs written before 2026-12: every block header in full (still read). */
export const INT_RICE_V1 = 7;
export const INT_RICE_DOD_V1 = 8;
export const INT_RICE = 9;
export const INT_RICE_DOD = 10;

const INT_NAMES: Record<number, string> = {
  [INT_CONST]: 'const',
  [INT_SIMPLE8B]: 'simple8b',
  [INT_BITPACK]: 'bitpack',
  [INT_VARINT]: 'varint',
  [INT_SIMPLE8B_FOR]: 'simple8b-for',
  [INT_BITPACK_FOR]: 'bitpack-for',
  [INT_RICE_V1]: 'rice-v1',
  [INT_RICE_DOD_V1]: 'rice-dod-v1',
  [INT_RICE]: 'rice',
  [INT_RICE_DOD]: 'rice-dod',
};

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const TWO_32 = 4294967296;
/** A Rice code z is below 2^53 when its high 32 bits are below this. */
const TWO_21 = 2097152;
/** Deltas (and raw values) below this in magnitude have zigzag values below 2^53: exact doubles, at most 53 bits. */
const LIMIT = 2 ** 52;
const BLOCK = 128;
const MAX_RUN = (1 << 28) - 1;
/** Rice scratch kept between calls covers columns of up to this many values. */
const SCRATCH_KEEP = 1 << 16;

/** Values per word and bits per value, by selector (index 0, the run selector, is unused here). */
const SEL_N = [0, 60, 30, 20, 15, 12, 10, 8, 7, 6, 5, 4, 3, 2, 1];
const SEL_B = [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 15, 20, 30, 60];

/** Rice codes of the deltas (encoding, and decoding of both rice codecs) and of the deltas of deltas. */
const riceDelta = new RiceBlocks(SCRATCH_KEEP);
const riceDod = new RiceBlocks(SCRATCH_KEEP);

/** The human name of the integer codec that wrote `buf` ('empty' for a zero-length buffer). */
export function integersCodecName(buf: Uint8Array): string {
  if (buf.length === 0) return 'empty';
  return INT_NAMES[buf[0]!] ?? 'unknown';
}

/** Stores z (0..2^53) as code i of `rice`. */
function setCode(rice: RiceBlocks, i: number, z: number): void {
  if (z < TWO_32) {
    rice.zh[i] = 0;
    rice.zl[i] = z;
  } else {
    rice.zh[i] = Math.floor(z / TWO_32);
    rice.zl[i] = z >>> 0;
  }
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
  // Size every candidate first (in id order; a later one must be strictly smaller), then write the winner.
  let best = Infinity;
  let kind = INT_VARINT;
  let zz: Float64Array | undefined;
  let offs: Float64Array | undefined;
  let maxZ = Infinity;
  const head = 1 + zigzagSize(first);
  let riceBits = -1;
  let dodBits = -1;
  if (deltasFit) {
    const m = n - 1;
    zz = new Float64Array(m);
    riceDelta.reserve(m);
    maxZ = 0;
    // Summed bit lengths of the zigzag deltas and deltas of deltas from index 2 (whether rice-dod may pay).
    let sumW1 = 0;
    let sumW2 = 0;
    let dodFit = true;
    let prev = 0;
    for (let i = 1; i < n; i++) {
      const d = values[i]! - values[i - 1]!;
      const z = zigzag(d);
      zz[i - 1] = z;
      if (z > maxZ) maxZ = z;
      setCode(riceDelta, i - 1, z);
      if (i >= 2) {
        sumW1 += bitWidth(z);
        const e = d - prev;
        if (e >= LIMIT || e <= -LIMIT) dodFit = false;
        else sumW2 += bitWidth(zigzag(e));
      }
      prev = d;
    }
    const s8 = head + 8 * simple8bPack(zz, undefined);
    const bp = head + bitpackBytes(zz);
    if (s8 <= bp) {
      best = s8;
      kind = INT_SIMPLE8B;
    } else {
      best = bp;
      kind = INT_BITPACK;
    }
    riceBits = riceDelta.plan(m);
    if (dodFit && n > 2 && sumW2 < sumW1) {
      riceDod.reserve(m - 1);
      prev = values[1]! - first;
      for (let i = 2; i < n; i++) {
        const d = values[i]! - values[i - 1]!;
        setCode(riceDod, i - 2, zigzag(d - prev));
        prev = d;
      }
      dodBits = riceDod.plan(m - 1);
    }
  }
  // Offsets from the minimum only pay when their range is no wider than the widest zigzag delta.
  if (max - min < 2 * LIMIT && bitWidth(max - min) <= bitWidth(maxZ === Infinity ? 2 * LIMIT : maxZ)) {
    offs = new Float64Array(n);
    for (let i = 0; i < n; i++) offs[i] = values[i]! - min;
    const forHead = 1 + zigzagSize(min);
    const s8 = forHead + 8 * simple8bPack(offs, undefined);
    if (s8 < best) {
      best = s8;
      kind = INT_SIMPLE8B_FOR;
    }
    const bp = forHead + bitpackBytes(offs);
    if (bp < best) {
      best = bp;
      kind = INT_BITPACK_FOR;
    }
  }
  if (riceBits >= 0 && head + ((riceBits + 7) >>> 3) < best) {
    best = head + ((riceBits + 7) >>> 3);
    kind = INT_RICE;
  }
  if (dodBits >= 0 && head + zigzagSize(values[1]! - first) + ((dodBits + 7) >>> 3) < best) {
    best = head + zigzagSize(values[1]! - first) + ((dodBits + 7) >>> 3);
    kind = INT_RICE_DOD;
  }
  let out: Buffer;
  switch (kind) {
    case INT_RICE:
    case INT_RICE_DOD: {
      const hw = new ByteWriter(24);
      hw.byte(kind);
      hw.zigzag(first);
      if (kind === INT_RICE_DOD) hw.zigzag(values[1]! - first);
      const hb = hw.finish();
      const rice = kind === INT_RICE ? riceDelta : riceDod;
      const bits = kind === INT_RICE ? riceBits : dodBits;
      const bw = new WordWriter(hb.length * 8 + bits, `integers: ${INT_NAMES[kind]}`);
      bw.writeBytes(hb);
      rice.write(bw, kind === INT_RICE ? n - 1 : n - 2);
      out = bw.finish();
      break;
    }
    case INT_SIMPLE8B:
    case INT_BITPACK:
    case INT_SIMPLE8B_FOR:
    case INT_BITPACK_FOR: {
      const w = new ByteWriter(best);
      w.byte(kind);
      const forRef = kind === INT_SIMPLE8B_FOR || kind === INT_BITPACK_FOR;
      w.zigzag(forRef ? min : first);
      const xs = forRef ? offs! : zz!;
      if (kind === INT_SIMPLE8B || kind === INT_SIMPLE8B_FOR) simple8bPack(xs, w);
      else bitpackEncode(xs, w);
      out = w.finish();
      break;
    }
    default: {
      const w = new ByteWriter(n * 2 + 8);
      w.byte(INT_VARINT);
      for (let i = 0; i < n; i++) w.zigzag(values[i]!);
      out = w.finish();
    }
  }
  riceDelta.release();
  riceDod.release();
  return out;
}

/** Always the rice codec (7), or rice-dod (8) with `dod` (for tests and comparisons); undefined when it does not apply. */
export function encodeIntegersRice(values: ArrayLike<number>, dod = false): Buffer | undefined {
  const n = values.length;
  if (n < 2) return undefined;
  const rice = dod ? riceDod : riceDelta;
  const m = dod ? n - 2 : n - 1;
  rice.reserve(m);
  let prev = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (!Number.isSafeInteger(v)) throw invalidArgument(`integer column: ${v} at index ${i} is not a safe integer`);
    if (i === 0) continue;
    const d = v - values[i - 1]!;
    if (d >= LIMIT || d <= -LIMIT) return undefined;
    if (!dod) setCode(rice, i - 1, zigzag(d));
    else if (i >= 2) {
      const e = d - prev;
      if (e >= LIMIT || e <= -LIMIT) return undefined;
      setCode(rice, i - 2, zigzag(e));
    }
    prev = d;
  }
  const bits = rice.plan(m);
  const hw = new ByteWriter(24);
  hw.byte(dod ? INT_RICE_DOD : INT_RICE);
  hw.zigzag(values[0]!);
  if (dod) hw.zigzag(values[1]! - values[0]!);
  const hb = hw.finish();
  const bw = new WordWriter(hb.length * 8 + bits, 'integers: rice');
  bw.writeBytes(hb);
  rice.write(bw, m);
  rice.release();
  return bw.finish();
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
    case INT_RICE_V1:
    case INT_RICE_DOD_V1:
    case INT_RICE:
    case INT_RICE_DOD:
      return riceDecode(r, id, count, out, what);
    default:
      return r.fail(`${what}: unknown integer codec id ${id}`, start);
  }
}

/** Decodes the rest of a rice or rice-dod column (after the id byte) into `out`. */
function riceDecode(r: ByteReader, id: number, count: number, out: number[], what: string): number[] {
  const start = r.pos - 1;
  let v = r.zigzag();
  checkSafe(r, v, what);
  out[0] = v;
  let d = 0;
  let from = 1;
  const dod = id === INT_RICE_DOD || id === INT_RICE_DOD_V1;
  if (dod && count >= 2) {
    d = r.zigzag();
    v += d;
    if (d > MAX_SAFE || d < -MAX_SAFE || v > MAX_SAFE || v < -MAX_SAFE) r.fail(`${what}: value 1 is outside the safe integer range`, start);
    out[1] = v;
    from = 2;
  }
  const m = count - from;
  const label = `${what}: ${INT_NAMES[id]}`;
  const br = new BitReader(r.buf, r.pos, r.end);
  const rice = riceDelta;
  rice.read(br, m, label, id === INT_RICE || id === INT_RICE_DOD);
  br.expectEnd(label);
  const zhs = rice.zh;
  const zls = rice.zl;
  for (let i = 0; i < m; i++) {
    const zh = zhs[i]!;
    if (zh >= TWO_21) r.fail(`${label}: code ${i} is 2^53 or more`, start);
    const e = unzigzag(zh * TWO_32 + zls[i]!);
    if (dod) {
      d += e;
      if (d > MAX_SAFE || d < -MAX_SAFE) r.fail(`${label}: delta ${from + i} is outside the safe integer range`, start);
      v += d;
    } else {
      v += e;
    }
    if (v > MAX_SAFE || v < -MAX_SAFE) r.fail(`${label}: value ${from + i} is outside the safe integer range`, start);
    out[from + i] = v;
  }
  rice.release();
  return out;
}

function checkSafe(r: ByteReader, v: number, what: string): void {
  if (v > MAX_SAFE || v < -MAX_SAFE) r.fail(`${what}: value outside the safe integer range`);
}

/**
 * Packs non-negative integers (each below 2^53) into simple8b words appended
 * to `w` (format in the file comment).
 */
export function simple8bEncode(zz: ArrayLike<number>, w: ByteWriter): void {
  simple8bPack(zz, w);
}

/** The simple8b words of `zz`, appended to `w` unless it is undefined (sizing only); returns their count. */
function simple8bPack(zz: ArrayLike<number>, w: ByteWriter | undefined): number {
  const n = zz.length;
  let words = 0;
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
        words++;
        if (w !== undefined) {
          w.u32(run);
          w.u32(v0);
        }
        i = k;
        continue;
      }
    }
    words++;
    if (w === undefined) {
      i += take;
      continue;
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
  return words;
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

/** The size in bytes of `bitpackEncode(zz)`. */
function bitpackBytes(zz: ArrayLike<number>): number {
  const n = zz.length;
  let bits = 0;
  for (let i = 0; i < n; i += BLOCK) {
    const end = Math.min(i + BLOCK, n);
    let max = 0;
    for (let k = i; k < end; k++) if (zz[k]! > max) max = zz[k]!;
    bits += 6 + bitWidth(max) * (end - i);
  }
  return (bits + 7) >>> 3;
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
