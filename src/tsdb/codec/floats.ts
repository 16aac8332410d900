/**
 * Float column codec. Every codec reproduces the exact 64-bit pattern of each
 * value (NaN payloads, ±Infinity, -0, subnormals).
 *
 * An empty column (count 0) is zero bytes. Otherwise byte 0 is the codec id:
 *
 *   1 gorilla  bit stream (MSB first, padded with 1 bits) after the id byte:
 *              the first value's 64 bits (big-endian IEEE 754), then for each
 *              further value x = bits ^ previous bits:
 *                '0'                                      x = 0
 *                '10' + L bits                            x's significant bits fit the previous
 *                                                         window (L = 64 - lead - trail of the window)
 *                '11' + 5 bits lead + 6 bits (L-1) + L bits  new window: lead = leading zero bits
 *                                                         (at most 31), L significant bits, trail =
 *                                                         64 - lead - L low zero bits
 *  16+k decimal  an integer column (integers.ts format) of the count
 *              mantissas m; value = m / 10^k (k = 0..15; IEEE division,
 *              both operands exact). Used only when that reproduces every
 *              bit pattern: finite values, no -0, |m| <= 2^53-1.
 *   2 decimal  the same with k in a byte of its own after the id (written
 *              before 2026-12; still read).
 *   3 const    8 bytes: the bit pattern (big-endian) shared by every value.
 *   4 delta    integer deltas of the bit patterns (see below).
 *
 * The encoder uses const when every bit pattern is equal, otherwise the
 * smallest of gorilla, delta and (when it applies) decimal.
 *
 * Delta codec: integer deltas of the bit patterns, for full-precision values
 * that move by small amounts (random walks, sensor noise), where the XOR of
 * consecutive patterns has few leading zeros. Each 64-bit pattern p maps to a
 * 64-bit two's complement key: key = p when the sign bit is 0, else
 * p XOR 0x7fffffffffffffff (= -magnitude - 1, so -0 is -1 and +0 is 0). Keys
 * are monotone in the value; within a binade, consecutive keys differ by the
 * value change in ulps. Arithmetic is modulo 2^64, so every column (NaNs,
 * infinities, sign changes) is representable. After the id byte:
 *   byte     s + 64 * (order - 1) + 128 * shared: shift s (0..63), order 1
 *            or 2, and whether the blocks share headers (below; written
 *            before 2026-12 without)
 *   then a bit stream (MSB first, padded with 1 bits):
 *   64 bits  the first value's bit pattern (big-endian IEEE 754)
 *   codes    count - 1 codes: for i = 1 .. count-1, with d[i] = key[i] - key[i-1]
 *            and d[0] = 0, e[i] = d[i] (order 1) or d[i] - d[i-1] (order 2). Every
 *            e[i] is a multiple of 2^s; a code carries z = zigzag(e[i] / 2^s)
 *            (64-bit zigzag: 0, -1, 1, -2, ... -> 0, 1, 2, 3, ...).
 *   The codes come in blocks of 128 (the last block may be shorter). A block
 *   starts with a header of 6 bits k, 4 bits Q, 1 bit mode; each code is a
 *   limited Rice code, q ones followed by a 0 when q < Q, or Q ones alone:
 *     q < Q, or q = Q in mode 0    z = q * 2^k + r, r in the next k bits
 *                                  (z must be below 2^64)
 *     q = Q in mode 1 (escape)     7 bits w (0..64), then z in w bits
 *   Mode 0 with Q = 0 is plain bit packing in k bits (k = 0: every z is 0, in
 *   no bits); with Q = 1 it is bit packing in k + 1 bits. Escapes carry
 *   outliers (NaN, jumps across binades or zero). With shared headers, each
 *   block after the first starts with one bit instead of its header: 1 = the
 *   previous block's (k, Q, mode), 0 = an 11-bit header follows.
 *
 * The delta encoder keeps the order whose deltas have the smaller summed bit
 * lengths, s = their common trailing zero bits (29 or more for float32 data), and for
 * each block the (k, Q, mode) of the smallest size, k searched around the
 * median bit length of z. In mode 1 it also escapes a code with q = 0 when
 * that is shorter (z = 0, a repeat, costs Q + 7 bits instead of k + 1).
 * The blocks are implemented once, by RiceBlocks in bits.ts, shared with the
 * integer rice codecs (integers.ts ids 7 and 8).
 */
import { corruption } from '../../base/index.js';
import { BitReader, BitWriter, ByteReader, ByteWriter, CHUNK_FILE, checkCount, HI, LO, RiceBlocks, riceHeaderBitsMin, width64, WordWriter } from './bits.js';
import { decodeIntegersRange, encodeIntegers, integersCodecName } from './integers.js';

export const FLOAT_GORILLA = 1;
export const FLOAT_DECIMAL = 2;
/** Ids 16 + k (k = 0..15): the decimal codec with its scale in the id byte (2 and a scale byte: written before 2026-12). */
export const FLOAT_DECIMAL_K = 16;
export const FLOAT_CONST = 3;
export const FLOAT_DELTA = 4;

const FLOAT_NAMES: Record<number, string> = { [FLOAT_GORILLA]: 'gorilla', [FLOAT_DECIMAL]: 'decimal', [FLOAT_CONST]: 'const', [FLOAT_DELTA]: 'delta' };

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const MAX_K = 15;
/** 10^k, exact as doubles for k <= 22. */
const POW10: readonly number[] = Array.from({ length: MAX_K + 1 }, (_, k) => 10 ** k);

/** The human name of the float codec that wrote `buf`. */
export function floatsCodecName(buf: Uint8Array): string {
  if (buf.length === 0) return 'empty';
  if (buf[0]! >= FLOAT_DECIMAL_K && buf[0]! <= FLOAT_DECIMAL_K + MAX_K) return 'decimal';
  return FLOAT_NAMES[buf[0]!] ?? 'unknown';
}

/** For the decimal codec: the inner integer codec's name as well, e.g. 'decimal/simple8b'. */
export function floatsCodecDetail(buf: Uint8Array): string {
  const name = floatsCodecName(buf);
  const ints = buf[0] === FLOAT_DECIMAL ? 2 : 1;
  if (name === 'decimal' && buf.length > ints) return `decimal/${integersCodecName(buf.subarray(ints))}`;
  if (name === 'delta' && buf.length > 1 && (buf[1]! & 64) !== 0) return 'delta/2';
  return name;
}

/** `values` as a Float64Array (copied by index: Float64Array.from would iterate, boxing every double). */
function toFloat64(values: ArrayLike<number>): Float64Array {
  if (values instanceof Float64Array) return values;
  const f = new Float64Array(values.length);
  for (let i = 0; i < f.length; i++) f[i] = values[i]!;
  return f;
}

export function encodeFloats(values: ArrayLike<number>): Buffer {
  const n = values.length;
  if (n === 0) return Buffer.alloc(0);
  const f = toFloat64(values);
  const u = new Uint32Array(f.buffer, f.byteOffset, n * 2);
  const h0 = u[HI]!;
  const l0 = u[LO]!;
  let same = true;
  for (let i = 1; i < n; i++) {
    if (u[2 * i + HI] !== h0 || u[2 * i + LO] !== l0) {
      same = false;
      break;
    }
  }
  if (same) {
    const w = new ByteWriter(9);
    w.byte(FLOAT_CONST);
    w.u32(h0);
    w.u32(l0);
    return w.finish();
  }
  // Sizes first; only the smallest encoding is written (decimal, when it applies, already is).
  // Ties go to decimal over gorilla and to both over delta.
  const dec = decimalEncode(f);
  const gorillaBytes = (gorillaBits(u, n) + 7) >>> 3;
  const useDec = dec !== undefined && dec.length < gorillaBytes;
  const bestBytes = useDec ? dec.length : gorillaBytes;
  const deltaBits = deltaPlan(u, n, bestBytes);
  if (deltaBits >= 0 && (deltaBits + 7) >>> 3 < bestBytes) return deltaWrite(u, n, deltaBits);
  releaseScratch();
  return useDec ? dec : gorillaEncode(u, n);
}

/** Always the delta codec (for comparisons and benchmarks; `encodeFloats` picks the smallest). */
export function encodeFloatsDelta(values: ArrayLike<number>): Buffer {
  const n = values.length;
  if (n === 0) return Buffer.alloc(0);
  const f = toFloat64(values);
  return deltaEncode(new Uint32Array(f.buffer, f.byteOffset, n * 2), n);
}

/** Always the gorilla codec (for comparisons and benchmarks; `encodeFloats` picks the smallest). */
export function encodeFloatsGorilla(values: ArrayLike<number>): Buffer {
  const n = values.length;
  if (n === 0) return Buffer.alloc(0);
  const f = toFloat64(values);
  return gorillaEncode(new Uint32Array(f.buffer, f.byteOffset, n * 2), n);
}

export function decodeFloats(buf: Uint8Array, count: number): Float64Array {
  checkCount(count, 'floats');
  if (count === 0) {
    new ByteReader(buf).expectEnd('floats: empty column');
    return new Float64Array(0);
  }
  const r = new ByteReader(buf);
  const id = r.byte();
  switch (id) {
    case FLOAT_GORILLA:
      return gorillaDecode(buf, count);
    case FLOAT_DECIMAL: {
      const k = r.byte();
      if (k > MAX_K) r.fail(`floats: decimal scale ${k} exceeds ${MAX_K}`, 1);
      return decimalDecode(buf, 2, k, count);
    }
    case FLOAT_DELTA:
      return deltaDecode(buf, count);
    case FLOAT_CONST: {
      const h = r.u32();
      const l = r.u32();
      r.expectEnd('floats: const');
      const u = new Uint32Array(count * 2);
      for (let i = 0; i < count; i++) {
        u[2 * i + HI] = h;
        u[2 * i + LO] = l;
      }
      return new Float64Array(u.buffer);
    }
    default: {
      if (id < FLOAT_DECIMAL_K || id > FLOAT_DECIMAL_K + MAX_K) return r.fail(`floats: unknown codec id ${id}`, 0);
      return decimalDecode(buf, 1, id - FLOAT_DECIMAL_K, count);
    }
  }
}

/** Count of trailing zero bits of a non-zero 32-bit number. */
function ctz(x: number): number {
  return 31 - Math.clz32(x & -x);
}

function gorillaEncode(u: Uint32Array, n: number): Buffer {
  const w = new BitWriter(n * 9 + 16);
  w.writeBits(FLOAT_GORILLA, 8);
  let ph = u[HI]!;
  let pl = u[LO]!;
  w.writeBits(ph, 32);
  w.writeBits(pl, 32);
  let wLead = -1;
  let wTrail = 0;
  for (let i = 1; i < n; i++) {
    const h = u[2 * i + HI]!;
    const l = u[2 * i + LO]!;
    const xh = (h ^ ph) >>> 0;
    const xl = (l ^ pl) >>> 0;
    ph = h;
    pl = l;
    if (xh === 0 && xl === 0) {
      w.writeBit(0);
      continue;
    }
    let lead = xh !== 0 ? Math.clz32(xh) : 32 + Math.clz32(xl);
    if (lead > 31) lead = 31;
    const trail = xl !== 0 ? ctz(xl) : 32 + ctz(xh);
    // Reuse the previous window when x fits in it and wastes fewer bits than a new header (11) costs.
    if (wLead >= 0 && lead >= wLead && trail >= wTrail && lead - wLead + trail - wTrail <= 11) {
      w.writeBits(0b10, 2);
      writeShifted(w, xh, xl, wTrail, 64 - wLead - wTrail);
    } else {
      const len = 64 - lead - trail;
      w.writeBits((0b11 << 11) | (lead << 6) | (len - 1), 13);
      writeShifted(w, xh, xl, trail, len);
      wLead = lead;
      wTrail = trail;
    }
  }
  return w.finish();
}

/** The size in bits (before padding) of `gorillaEncode(u, n)`. */
function gorillaBits(u: Uint32Array, n: number): number {
  let bits = 8 + 64;
  let ph = u[HI]!;
  let pl = u[LO]!;
  let wLead = -1;
  let wTrail = 0;
  for (let i = 1; i < n; i++) {
    const h = u[2 * i + HI]!;
    const l = u[2 * i + LO]!;
    const xh = (h ^ ph) >>> 0;
    const xl = (l ^ pl) >>> 0;
    ph = h;
    pl = l;
    if (xh === 0 && xl === 0) {
      bits += 1;
      continue;
    }
    let lead = xh !== 0 ? Math.clz32(xh) : 32 + Math.clz32(xl);
    if (lead > 31) lead = 31;
    const trail = xl !== 0 ? ctz(xl) : 32 + ctz(xh);
    if (wLead >= 0 && lead >= wLead && trail >= wTrail && lead - wLead + trail - wTrail <= 11) {
      bits += 2 + 64 - wLead - wTrail;
    } else {
      bits += 13 + 64 - lead - trail;
      wLead = lead;
      wTrail = trail;
    }
  }
  return bits;
}

/** Writes bits [t, t+len) of the 64-bit number xh:xl. */
function writeShifted(w: BitWriter, xh: number, xl: number, t: number, len: number): void {
  if (t === 0) w.writeBits64(xh, xl, len);
  else if (t < 32) w.writeBits64(xh >>> t, ((xl >>> t) | (xh << (32 - t))) >>> 0, len);
  else w.writeBits(xh >>> (t - 32), len);
}

function gorillaDecode(buf: Uint8Array, count: number): Float64Array {
  const br = new BitReader(buf, 1, buf.length);
  if (br.remaining < 64 + (count - 1)) br.fail(`floats: ${count} values cannot fit in ${buf.length} bytes`);
  const u = new Uint32Array(count * 2);
  let ph = br.readBits(32);
  let pl = br.readBits(32);
  u[HI] = ph;
  u[LO] = pl;
  let wTrail = -1;
  let wLen = 0;
  for (let i = 1; i < count; i++) {
    if (br.readBit() === 1) {
      if (br.readBit() === 1) {
        const lead = br.readBits(5);
        wLen = br.readBits(6) + 1;
        wTrail = 64 - lead - wLen;
        if (wTrail < 0) br.fail(`floats: gorilla window ${lead}+${wLen} exceeds 64 bits`);
      } else if (wTrail < 0) {
        br.fail('floats: gorilla reuses a window before defining one');
      }
      let xh: number;
      let xl: number;
      if (wLen <= 32) {
        xh = 0;
        xl = br.readBits(wLen);
      } else {
        xh = br.readBits(wLen - 32);
        xl = br.readBits(32);
      }
      const t = wTrail;
      if (t >= 32) {
        xh = xl << (t - 32);
        xl = 0;
      } else if (t > 0) {
        xh = (xh << t) | (xl >>> (32 - t));
        xl = xl << t;
      }
      ph = (ph ^ xh) >>> 0;
      pl = (pl ^ xl) >>> 0;
    }
    u[2 * i + HI] = ph;
    u[2 * i + LO] = pl;
  }
  br.expectEnd('floats: gorilla');
  return new Float64Array(u.buffer);
}

/** The values of a decimal column whose integer column starts at `from`, at scale k. */
function decimalDecode(buf: Uint8Array, from: number, k: number, count: number): Float64Array {
  const ms = decodeIntegersRange(buf, from, buf.length, count, 'floats/decimal');
  const p = POW10[k]!;
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) out[i] = ms[i]! / p;
  return out;
}

/**
 * The decimal encoding of `f`, or undefined when some value is not exactly
 * m / 10^k for one k (see the file comment).
 */
function decimalEncode(f: Float64Array): Buffer | undefined {
  const n = f.length;
  let k = 0;
  let p = 1;
  for (let i = 0; i < n; i++) {
    const v = f[i]!;
    if (v === 0) {
      if (1 / v < 0) return undefined;
      continue;
    }
    if (!Number.isFinite(v)) return undefined;
    for (;;) {
      const m = Math.round(v * p);
      if (m / p === v && m <= MAX_SAFE && m >= -MAX_SAFE) break;
      if (++k > MAX_K) return undefined;
      p = POW10[k]!;
    }
  }
  const ms = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = f[i]!;
    const m = Math.round(v * p);
    if (m / p !== v || m > MAX_SAFE || m < -MAX_SAFE) return undefined;
    ms[i] = m === 0 ? 0 : m;
  }
  const ints = encodeIntegers(ms);
  const w = new ByteWriter(ints.length + 1);
  w.byte(FLOAT_DECIMAL_K + k);
  w.bytes(ints);
  return w.finish();
}

// ---- delta ----

/** Bits before the blocks: id byte, header byte, first value. */
const DELTA_HEAD_BITS = 80;
/** Header byte bit: the Rice blocks share headers (bits.ts). */
const DELTA_SHARED_HEADERS = 128;
/** Scratch kept between calls covers columns of up to this many values. */
const SCRATCH_KEEP = 1 << 16;

/**
 * Scratch of the delta encoder, grown on demand (encoding is synchronous):
 * key deltas (dh:dl); the codes and the blocks' parameters live in `rice`.
 */
let sDh = new Uint32Array(0);
let sDl = new Uint32Array(0);
const rice = new RiceBlocks(SCRATCH_KEEP);

/** The plan of the last `deltaPlan` call. */
let planOrder = 1;
let planShift = 0;

function ensureScratch(m: number): void {
  rice.reserve(m);
  if (sDh.length >= m && sDh.length > 0) return;
  const cap = Math.max(m, 1024);
  sDh = new Uint32Array(cap);
  sDl = new Uint32Array(cap);
}

/** Trailing zero bits of h:l, at most 63. */
function ctz64(h: number, l: number): number {
  if (l !== 0) return ctz(l);
  if (h !== 0) return 32 + ctz(h);
  return 63;
}

function deltaEncode(u: Uint32Array, n: number): Buffer {
  return deltaWrite(u, n, deltaPlan(u, n, Infinity));
}

/** Drops scratch arrays grown for an unusually long column. */
function releaseScratch(): void {
  if (sDh.length > SCRATCH_KEEP) sDh = sDl = new Uint32Array(0);
  rice.release();
}

/**
 * Computes the codes of the delta encoding of the n values in `u` and each
 * block's parameters into the scratch arrays; returns the encoding's size in
 * bits (before padding), or -1 without planning the blocks when the encoding
 * cannot be smaller than `beatBytes`. The bound: every Rice code takes at
 * least its bit length (k + q + 1 bits with q >= 2^(w-k-1) >= w - k, k + Q
 * for the largest quotient, Q + 7 + w as an escape), and the code of e >> t
 * is at least as long as the bit length of e's magnitude, less t.
 */
function deltaPlan(u: Uint32Array, n: number, beatBytes: number): number {
  const m = n - 1;
  ensureScratch(m);
  const fixedBits = DELTA_HEAD_BITS + riceHeaderBitsMin(m, true);
  const dhs = sDh;
  const dls = sDl;
  // Pass 1: the key deltas d (stored), and for both orders the OR of the values (common
  // trailing zeros) and the summed bit lengths of their magnitudes (a size estimate).
  let h = u[HI]!;
  let mask = h >> 31;
  let pkh = (h ^ (mask >>> 1)) >>> 0;
  let pkl = (u[LO]! ^ mask) >>> 0;
  let pdh = 0;
  let pdl = 0;
  let or1h = 0;
  let or1l = 0;
  let or2h = 0;
  let or2l = 0;
  let sum1 = 0;
  let sum2 = 0;
  let nz1 = 0;
  let nz2 = 0;
  for (let i = 0; i < m; i++) {
    h = u[2 * i + 2 + HI]!;
    mask = h >> 31;
    const kh = (h ^ (mask >>> 1)) >>> 0;
    const kl = (u[2 * i + 2 + LO]! ^ mask) >>> 0;
    const dl = (kl - pkl) >>> 0;
    const dh = (kh - pkh - (kl < pkl ? 1 : 0)) >>> 0;
    pkh = kh;
    pkl = kl;
    dhs[i] = dh;
    dls[i] = dl;
    or1h |= dh;
    or1l |= dl;
    let s = dh >> 31;
    let w = width64((dh ^ s) >>> 0, (dl ^ s) >>> 0);
    sum1 += w;
    if (w !== 0) nz1++;
    const el = (dl - pdl) >>> 0;
    const eh = (dh - pdh - (dl < pdl ? 1 : 0)) >>> 0;
    pdh = dh;
    pdl = dl;
    or2h |= eh;
    or2l |= el;
    s = eh >> 31;
    w = width64((eh ^ s) >>> 0, (el ^ s) >>> 0);
    sum2 += w;
    if (w !== 0) nz2++;
    // The bound over the codes so far can only grow (later codes add w - t >= 0, and t only
    // shrinks): once it rules the encoding out, the rest need not be looked at.
    if ((i & 63) === 63 && fixedBits + Math.min(sum1 - nz1 * ctz64(or1h >>> 0, or1l >>> 0), sum2 - nz2 * ctz64(or2h >>> 0, or2l >>> 0)) + 7 >= 8 * beatBytes) return -1;
  }
  const t1 = ctz64(or1h >>> 0, or1l >>> 0);
  const t2 = ctz64(or2h >>> 0, or2l >>> 0);
  const order = sum2 - nz2 * t2 < sum1 - nz1 * t1 ? 2 : 1;
  const t = order === 1 ? t1 : t2;
  planOrder = order;
  planShift = t;
  if (fixedBits + (order === 1 ? sum1 - nz1 * t1 : sum2 - nz2 * t2) + 7 >= 8 * beatBytes) return -1;
  // Pass 2: the zigzags z of e >> t, the codes.
  const zhs = rice.zh;
  const zls = rice.zl;
  pdh = 0;
  pdl = 0;
  for (let i = 0; i < m; i++) {
    let eh = dhs[i]!;
    let el = dls[i]!;
    if (order === 2) {
      const dh = eh;
      const dl = el;
      el = (dl - pdl) >>> 0;
      eh = (dh - pdh - (dl < pdl ? 1 : 0)) >>> 0;
      pdh = dh;
      pdl = dl;
    }
    // Arithmetic shift right by t (exact: the low t bits are zero).
    if (t >= 32) {
      el = eh >> (t - 32);
      eh = eh >> 31;
    } else if (t > 0) {
      el = (el >>> t) | (eh << (32 - t));
      eh = eh >> t;
    }
    const s = eh >> 31;
    zhs[i] = (((eh << 1) | (el >>> 31)) ^ s) >>> 0;
    zls[i] = ((el << 1) ^ s) >>> 0;
  }
  return DELTA_HEAD_BITS + rice.plan(m);
}

/** Writes the encoding planned by the last `deltaPlan(u, n)`, which returned `bits`. */
function deltaWrite(u: Uint32Array, n: number, bits: number): Buffer {
  const bw = new WordWriter(bits, 'floats: delta');
  bw.write(FLOAT_DELTA, 8);
  bw.write(DELTA_SHARED_HEADERS | (planShift + 64 * (planOrder - 1)), 8);
  bw.write(u[HI]!, 32);
  bw.write(u[LO]!, 32);
  rice.write(bw, n - 1);
  releaseScratch();
  return bw.finish();
}

function deltaDecode(buf: Uint8Array, count: number): Float64Array {
  if (buf.length < 2) throw corruption(CHUNK_FILE, buf.length, 'floats: delta header truncated');
  const shared = (buf[1]! & DELTA_SHARED_HEADERS) !== 0;
  const hdr = buf[1]! & ~DELTA_SHARED_HEADERS;
  const t = hdr & 63;
  const order = hdr >= 64 ? 2 : 1;
  const m = count - 1;
  const br = new BitReader(buf, 2, buf.length);
  // Codes may take no bits (k = Q = 0), but every block has a header or a header bit.
  if (br.remaining < 64 + riceHeaderBitsMin(m, shared)) {
    br.fail(`floats: ${count} values cannot fit in ${buf.length} bytes`);
  }
  const out = new Uint32Array(count * 2);
  const h0 = br.readBits(32);
  const l0 = br.readBits(32);
  out[HI] = h0;
  out[LO] = l0;
  rice.read(br, m, 'floats: delta', shared);
  br.expectEnd('floats: delta');
  const zhs = rice.zh;
  const zls = rice.zl;
  let mask = h0 >> 31;
  let kh = (h0 ^ (mask >>> 1)) >>> 0;
  let kl = (l0 ^ mask) >>> 0;
  let dh = 0;
  let dl = 0;
  for (let i = 0; i < m; i++) {
    const zh = zhs[i]!;
    const zl = zls[i]!;
    // e = unzigzag(z) << t, then d (order 2: d += e) and key += d, all modulo 2^64.
    const s = -(zl & 1);
    let el = ((zl >>> 1) | (zh << 31)) ^ s;
    let eh = (zh >>> 1) ^ s;
    if (t >= 32) {
      eh = el << (t - 32);
      el = 0;
    } else if (t > 0) {
      eh = (eh << t) | (el >>> (32 - t));
      el = el << t;
    }
    el >>>= 0;
    eh >>>= 0;
    if (order === 2) {
      const nl = (dl + el) >>> 0;
      dh = (dh + eh + (nl < dl ? 1 : 0)) >>> 0;
      dl = nl;
    } else {
      dh = eh;
      dl = el;
    }
    const nkl = (kl + dl) >>> 0;
    kh = (kh + dh + (nkl < kl ? 1 : 0)) >>> 0;
    kl = nkl;
    mask = kh >> 31;
    out[2 * i + 2 + HI] = kh ^ (mask >>> 1);
    out[2 * i + 2 + LO] = kl ^ mask;
  }
  rice.release();
  return new Float64Array(out.buffer);
}
