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
 *   2 decimal  byte k (0..15), then an integer column (integers.ts format) of
 *              the count mantissas m; value = m / 10^k (IEEE division, both
 *              operands exact). Used only when that reproduces every bit
 *              pattern: finite values, no -0, |m| <= 2^53-1.
 *   3 const    8 bytes: the bit pattern (big-endian) shared by every value.
 *
 * The encoder uses const when every bit pattern is equal, otherwise the
 * smaller of gorilla and (when it applies) decimal.
 */
import { BitReader, BitWriter, ByteReader, ByteWriter, checkCount, HI, LO } from './bits.js';
import { decodeIntegersRange, encodeIntegers, integersCodecName } from './integers.js';

export const FLOAT_GORILLA = 1;
export const FLOAT_DECIMAL = 2;
export const FLOAT_CONST = 3;

const FLOAT_NAMES: Record<number, string> = { [FLOAT_GORILLA]: 'gorilla', [FLOAT_DECIMAL]: 'decimal', [FLOAT_CONST]: 'const' };

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const MAX_K = 15;
/** 10^k, exact as doubles for k <= 22. */
const POW10: readonly number[] = Array.from({ length: MAX_K + 1 }, (_, k) => 10 ** k);

/** The human name of the float codec that wrote `buf`. */
export function floatsCodecName(buf: Uint8Array): string {
  if (buf.length === 0) return 'empty';
  return FLOAT_NAMES[buf[0]!] ?? 'unknown';
}

/** For the decimal codec: the inner integer codec's name as well, e.g. 'decimal/simple8b'. */
export function floatsCodecDetail(buf: Uint8Array): string {
  const name = floatsCodecName(buf);
  return name === 'decimal' && buf.length > 2 ? `decimal/${integersCodecName(buf.subarray(2))}` : name;
}

export function encodeFloats(values: ArrayLike<number>): Buffer {
  const n = values.length;
  if (n === 0) return Buffer.alloc(0);
  const f = values instanceof Float64Array ? values : Float64Array.from(values);
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
  const gorilla = gorillaEncode(u, n);
  const dec = decimalEncode(f);
  return dec !== undefined && dec.length < gorilla.length ? dec : gorilla;
}

/** Always the gorilla codec (for comparisons and benchmarks; `encodeFloats` picks the smallest). */
export function encodeFloatsGorilla(values: ArrayLike<number>): Buffer {
  const n = values.length;
  if (n === 0) return Buffer.alloc(0);
  const f = values instanceof Float64Array ? values : Float64Array.from(values);
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
      const ms = decodeIntegersRange(buf, 2, buf.length, count, 'floats/decimal');
      const p = POW10[k]!;
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = ms[i]! / p;
      return out;
    }
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
    default:
      return r.fail(`floats: unknown codec id ${id}`, 0);
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
  const w = new ByteWriter(ints.length + 2);
  w.byte(FLOAT_DECIMAL);
  w.byte(k);
  w.bytes(ints);
  return w.finish();
}
