/**
 * Bit and byte primitives shared by the chunk column codecs.
 *
 * Bit streams (`BitWriter`, `BitReader`) are MSB-first: the first bit written
 * is bit 7 of byte 0. A multi-bit field is written most significant bit
 * first. The final byte is padded with 1 bits, so that a reader asked for
 * more entries than were written runs out of bits instead of decoding the
 * padding as '0' (repeat) entries; readers check that the padding is all
 * ones and that no whole byte is left over (`expectEnd`).
 *
 * Varints are LevelDB/protobuf style: little-endian base-128, the high bit of
 * each byte set when another byte follows, at most 8 bytes, values 0..2^53.
 * Zigzag maps signed to unsigned (0, -1, 1, -2, ... → 0, 1, 2, 3, ...). JS
 * numbers above 2^31 are handled with arithmetic, never 32-bit bitwise ops.
 * A zigzag varint of n is the varint of 2q+s where s = 1 for negative n and
 * q = n (n >= 0) or -n-1 (n < 0); it is written and read without forming 2q+s
 * as a number, so it is exact for every n in [-2^53, 2^53].
 *
 * Every reader failure is a StrataError CORRUPTION naming the file (by
 * default '<chunk>') and the byte offset in the column buffer.
 */
import { assert, corruption, invalidArgument } from '../../base/index.js';

/** File name used in corruption errors raised by the codecs. */
export const CHUNK_FILE = '<chunk>';

/**
 * Upper bound on the values a decoder will produce for one column. Some
 * codecs (constant, run-length) describe any count in a few bytes, so a
 * corrupt count must not be allowed to allocate an unbounded array.
 */
export const MAX_COLUMN_VALUES = 1 << 24;

const TWO_32 = 4294967296;
const TWO_53 = 9007199254740992;

/** Throws CORRUPTION unless `count` is an integer in 0..MAX_COLUMN_VALUES. */
export function checkCount(count: number, what: string): void {
  if (!Number.isInteger(count) || count < 0 || count > MAX_COLUMN_VALUES) throw corruption(CHUNK_FILE, 0, `${what}: invalid value count ${count}`);
}

/** Zigzag of an integer; exact when the result is at most 2^53 (n in [-2^52, 2^52]). */
export function zigzag(n: number): number {
  if (n >= -0x40000000 && n < 0x40000000) return ((n << 1) ^ (n >> 31)) >>> 0;
  return n >= 0 ? n * 2 : -n * 2 - 1;
}

/** Inverse of `zigzag`; exact for z in 0..2^53. */
export function unzigzag(z: number): number {
  if (z < 0x80000000) return (z >>> 1) ^ -(z & 1);
  return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
}

/** Number of significant bits of a non-negative integer below 2^64 (0 for 0). */
export function bitWidth(v: number): number {
  if (v < TWO_32) return 32 - Math.clz32(v);
  return 64 - Math.clz32(Math.floor(v / TWO_32));
}

export { varintSize, ByteWriter } from '../../base/index.js';
import { varintSize } from '../../base/index.js';
import { ByteReader as BaseByteReader } from '../../base/index.js';

/** A ByteReader whose failures name a chunk unless told otherwise. */
export class ByteReader extends BaseByteReader {
  constructor(buf: Uint8Array, start = 0, end = buf.length, file = CHUNK_FILE) {
    super(buf, start, end, file);
  }
}

/** An MSB-first bit stream writer over a growable buffer. */
export class BitWriter {
  private buf: Uint8Array;
  private len = 0;
  /** Pending bits not yet forming a whole byte (fewer than 8), right-aligned. */
  private acc = 0;
  private accBits = 0;

  constructor(initialBytes = 64) {
    this.buf = new Uint8Array(Math.max(16, initialBytes));
  }

  /** Bits written so far. */
  get bitLength(): number {
    return this.len * 8 + this.accBits;
  }

  private grow(): void {
    const next = new Uint8Array(this.buf.length * 2);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  /** Appends whole bytes; the stream must be byte-aligned. */
  writeBytes(src: Uint8Array): void {
    if (this.accBits !== 0) throw invalidArgument('BitWriter.writeBytes: stream is not byte-aligned');
    while (this.len + src.length + 8 > this.buf.length) this.grow();
    this.buf.set(src, this.len);
    this.len += src.length;
  }

  writeBit(bit: number): void {
    this.acc = (this.acc << 1) | (bit & 1);
    if (++this.accBits === 8) {
      if (this.len + 8 > this.buf.length) this.grow();
      this.buf[this.len++] = this.acc;
      this.acc = 0;
      this.accBits = 0;
    }
  }

  /** Appends the low `n` bits (0..32) of `value` (an unsigned 32-bit number), MSB first. */
  writeBits(value: number, n: number): void {
    if (n > 24) {
      this.put((value >>> 16) & ((1 << (n - 16)) - 1), n - 16);
      this.put(value & 0xffff, 16);
    } else if (n > 0) {
      this.put(value & ((1 << n) - 1), n);
    }
  }

  /** Appends the low `n` bits (0..64) of the 64-bit number hi:lo (two unsigned 32-bit halves), MSB first. */
  writeBits64(hi: number, lo: number, n: number): void {
    if (n > 32) {
      this.writeBits(hi, n - 32);
      this.writeBits(lo, 32);
    } else {
      this.writeBits(lo, n);
    }
  }

  /** `v` already masked to `n` bits, 1 <= n <= 24. */
  private put(v: number, n: number): void {
    if (this.len + 8 > this.buf.length) this.grow();
    let acc = (this.acc << n) | v;
    let bits = this.accBits + n;
    const buf = this.buf;
    while (bits >= 8) {
      bits -= 8;
      buf[this.len++] = acc >>> bits;
    }
    this.acc = acc & ((1 << bits) - 1);
    this.accBits = bits;
  }

  /** Flushes the partial byte (padded with 1 bits) and returns the bytes written. */
  finish(): Buffer {
    if (this.accBits > 0) {
      if (this.len + 1 > this.buf.length) this.grow();
      const pad = 8 - this.accBits;
      this.buf[this.len++] = (this.acc << pad) | ((1 << pad) - 1);
      this.acc = 0;
      this.accBits = 0;
    }
    return Buffer.from(this.buf.buffer, this.buf.byteOffset, this.len);
  }
}

/**
 * An MSB-first bit stream reader over `src[start, end)`. The region is copied
 * into a buffer padded with zero bytes so that reads never index past the end
 * of the array; the bit bound is checked explicitly on every read.
 */
export class BitReader {
  /** The padded copy, the read position and the end, in bits (RiceBlocks.read works on them directly). */
  readonly buf: Uint8Array;
  pos = 0;
  readonly endBit: number;

  constructor(
    src: Uint8Array,
    private readonly start = 0,
    end = src.length,
    readonly file = CHUNK_FILE,
  ) {
    this.buf = new Uint8Array(end - start + 8);
    this.buf.set(src.subarray(start, end));
    this.endBit = (end - start) * 8;
  }

  /** Bits left to read. */
  get remaining(): number {
    return this.endBit - this.pos;
  }

  fail(what: string): never {
    throw corruption(this.file, this.start + (this.pos >>> 3), what);
  }

  readBit(): number {
    const p = this.pos;
    if (p >= this.endBit) this.fail('bit stream truncated');
    this.pos = p + 1;
    return (this.buf[p >>> 3]! >>> (7 - (p & 7))) & 1;
  }

  /** Reads `n` bits (0..32) as an unsigned number. */
  readBits(n: number): number {
    const p = this.pos;
    if (p + n > this.endBit) this.fail('bit stream truncated');
    this.pos = p + n;
    if (n <= 25) return n === 0 ? 0 : this.peek(p, n);
    return this.peek(p, n - 16) * 65536 + this.peek(p + n - 16, 16);
  }

  /** The next `n` (1..25) bits without consuming them; bits past the end read as zeros. */
  peekBits(n: number): number {
    return this.peek(this.pos, n);
  }

  /** Consumes `n` bits (e.g. after `peekBits`). */
  skipBits(n: number): void {
    if (this.pos + n > this.endBit) this.fail('bit stream truncated');
    this.pos += n;
  }

  /** `n` (1..25) bits at bit position `p`, without bounds checks (the buffer is padded). */
  private peek(p: number, n: number): number {
    const b = this.buf;
    const i = p >>> 3;
    const w = (b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!;
    return (w << (p & 7)) >>> (32 - n);
  }

  /** Throws unless at most 7 bits remain and they are all ones (the writer's padding). */
  expectEnd(what: string): void {
    const left = this.endBit - this.pos;
    if (left >= 8) this.fail(`${what}: ${left >>> 3} unexpected trailing bytes`);
    if (left > 0 && this.peek(this.pos, left) !== (1 << left) - 1) this.fail(`${what}: padding bits are not all ones`);
  }
}

/** Index of the low and high 32-bit halves of a float64 in a Uint32Array view (platform byte order). */
export const LO = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 0 : 1;
export const HI = 1 - LO;

/** Bytes the zigzag varint of `n` (an integer in [-2^53, 2^53]) occupies. */
export function zigzagSize(n: number): number {
  // Beyond ±2^52 the zigzag is not exact as a double, but its size (8 bytes) is.
  return varintSize(n < 0 ? -2 * n - 1 : 2 * n);
}

/**
 * An MSB-first bit writer into a buffer of known final size (no growth):
 * whole 32-bit words are stored big-endian as they fill; `finish` pads the
 * last byte with 1 bits like BitWriter and checks that exactly the announced
 * number of bits was written.
 */
export class WordWriter {
  private readonly out: Buffer;
  private pos = 0;
  private cur = 0;
  private free = 32;

  /** `bits`: the exact size of what will be written; `what` names the writer in assertion messages. */
  constructor(
    private readonly bits: number,
    private readonly what: string,
  ) {
    this.out = Buffer.allocUnsafe(((bits + 31) >>> 5) * 4);
  }

  /** Appends the low `n` (0..32) bits of `v`. */
  write(v: number, n: number): void {
    if (n === 0) return;
    if (n < 32) v &= (1 << n) - 1;
    const free = this.free;
    if (n < free) {
      this.cur |= v << (free - n);
      this.free = free - n;
      return;
    }
    const over = n - free;
    const w = this.cur | (v >>> over);
    const o = this.out;
    const p = this.pos;
    o[p] = w >>> 24;
    o[p + 1] = w >>> 16;
    o[p + 2] = w >>> 8;
    o[p + 3] = w;
    this.pos = p + 4;
    this.cur = over === 0 ? 0 : v << (32 - over);
    this.free = 32 - over;
  }

  /** Appends the low `n` (0..64) bits of h:l. */
  write64(h: number, l: number, n: number): void {
    if (n > 32) {
      this.write(h, n - 32);
      this.write(l, 32);
    } else {
      this.write(l, n);
    }
  }

  /** Appends whole bytes (8 bits each, at any bit position). */
  writeBytes(src: Uint8Array): void {
    for (let i = 0; i < src.length; i++) this.write(src[i]!, 8);
  }

  /** Bits written so far. */
  get written(): number {
    return this.pos * 8 + 32 - this.free;
  }

  finish(): Buffer {
    assert(this.written === this.bits, `${this.what} wrote ${this.written} bits, planned ${this.bits}`);
    if (this.free < 32) this.write((1 << this.free) - 1, this.free);
    return this.out.subarray(0, (this.bits + 7) >>> 3);
  }
}

// ---- blocks of limited Rice codes ----

/**
 * Blocks of limited Rice codes, the entropy stage of the float delta codec
 * (floats.ts) and of the integer rice codecs (integers.ts). A sequence of m
 * codes, each an unsigned 64-bit z (in practice the zigzag of a signed
 * delta: 0, -1, 1, -2, ... -> 0, 1, 2, 3, ...), is written in blocks of
 * RICE_BLOCK codes (the last block may be shorter; m = 0 is no bits at all).
 * A block starts with a header of 6 bits k, 4 bits Q, 1 bit mode; each code
 * is then a limited Rice code, q ones followed by a 0 when q < Q, or Q ones
 * alone:
 *   q < Q, or q = Q in mode 0    z = q * 2^k + r, r in the next k bits
 *                                (z must be below 2^64)
 *   q = Q in mode 1 (escape)     7 bits w (0..64), then z in w bits
 * Mode 0 with Q = 0 is plain bit packing in k bits (k = 0: every z is 0, in
 * no bits); with Q = 1 it is bit packing in k + 1 bits. Escapes carry
 * outliers.
 *
 * With shared headers (the format the encoders write now; the older one,
 * every header in full, is still read), every block after the first starts
 * with one bit instead: 1 = the previous block's (k, Q, mode) again, 0 = an
 * 11-bit header follows. Stationary data (a sensor's noise, a random walk's
 * steps) keeps one k for the whole column, so its headers cost ~1 bit a
 * block instead of 11.
 *
 * The encoder picks for each block the (k, Q, mode) of the smallest size,
 * k searched around the median bit length of z, and with shared headers
 * keeps the previous block's parameters when that costs no more in total
 * (1 bit against 12 for a new header). In mode 1 it also escapes a
 * code with q = 0 when that is shorter (z = 0, a repeat, costs Q + 7 bits
 * instead of k + 1).
 */
export const RICE_BLOCK = 128;
/** Largest Q of a block header (4 bits). */
export const RICE_MAX_Q = 15;
/** Bits of a block header: 6 k, 4 Q, 1 mode. */
export const RICE_HEADER_BITS = 11;
/** Bits of an escape's width field. */
export const RICE_ESC_BITS = 7;

/** The fewest bits the headers of m codes take (m > 0 is at least one block). */
export function riceHeaderBitsMin(m: number, shared: boolean): number {
  const blocks = Math.ceil(m / RICE_BLOCK);
  return blocks === 0 ? 0 : shared ? RICE_HEADER_BITS + blocks - 1 : blocks * RICE_HEADER_BITS;
}

/** Per block being planned: bit lengths (65 counts), and counts by bit length and top five bits (65 x 16). */
const rHist = new Int32Array(65);
const rTop = new Int32Array(65 * 16);
const rCntLE = new Int32Array(65);
const rSumLE = new Int32Array(65);
const rQCount = new Int32Array(RICE_MAX_Q + 2);
const rQWidth = new Int32Array(RICE_MAX_Q + 2);

/** Bit length (0..64) of the 64-bit number h:l (two unsigned 32-bit halves). */
export function width64(h: number, l: number): number {
  return h !== 0 ? 64 - Math.clz32(h) : 32 - Math.clz32(l);
}

/**
 * Scratch and logic of a sequence of blocks of limited Rice codes (format
 * above). Encoding: `reserve(m)`, store each code z as its 32-bit halves in
 * `zh[i]` and `zl[i]`, then `plan(m)` picks the blocks' parameters and returns
 * the size in bits, and `write` writes them. Decoding: `read` fills `zh` and
 * `zl`. Everything is synchronous; `release` drops arrays grown for an
 * unusually long column.
 */
export class RiceBlocks {
  /** High and low 32 bits of each code. */
  zh = new Uint32Array(0);
  zl = new Uint32Array(0);
  /** Per code: bit length and top five bits (z * 2^(5 - w), 16..31; 0 for z = 0). */
  private ws = new Uint8Array(0);
  private tops = new Uint8Array(0);
  /** Per block: the planned parameters. */
  private blockK = new Uint8Array(0);
  private blockQ = new Uint8Array(0);
  private blockMode = new Uint8Array(0);
  /** Per block: 1 when it repeats the previous block's parameters (shared headers only). */
  private blockSame = new Uint8Array(0);
  /** Whether the last `plan` shares headers. */
  private shared = false;

  /** `keep`: scratch kept between calls covers sequences of up to this many codes. */
  constructor(private readonly keep = 1 << 16) {}

  /** Makes room for m codes in `zh` and `zl` (their contents are not kept). */
  reserve(m: number): void {
    if (this.zh.length >= m && this.zh.length > 0) return;
    const cap = Math.max(m, 1024);
    this.zh = new Uint32Array(cap);
    this.zl = new Uint32Array(cap);
  }

  /** Drops scratch grown beyond `keep` codes. */
  release(): void {
    if (this.zh.length > this.keep) {
      this.zh = this.zl = new Uint32Array(0);
      this.ws = this.tops = this.blockK = this.blockQ = this.blockMode = this.blockSame = new Uint8Array(0);
    }
  }

  /**
   * Chooses the parameters of every block of the m codes in `zh`/`zl`, with
   * shared headers unless `shared` is false; returns their size in bits.
   */
  plan(m: number, shared = true): number {
    this.shared = shared;
    if (this.ws.length < m || this.ws.length === 0) {
      const cap = Math.max(m, 1024);
      this.ws = new Uint8Array(cap);
      this.tops = new Uint8Array(cap);
    }
    const blocks = Math.ceil(m / RICE_BLOCK);
    if (this.blockK.length < blocks || this.blockK.length === 0) {
      const cap = Math.max(blocks, 8);
      this.blockK = new Uint8Array(cap);
      this.blockQ = new Uint8Array(cap);
      this.blockMode = new Uint8Array(cap);
      this.blockSame = new Uint8Array(cap);
    }
    const zhs = this.zh;
    const zls = this.zl;
    const ws = this.ws;
    const tops = this.tops;
    for (let i = 0; i < m; i++) {
      const zh = zhs[i]!;
      const zl = zls[i]!;
      const w = width64(zh, zl);
      ws[i] = w;
      const sh = w - 5;
      tops[i] = sh >= 32 ? zh >>> (sh - 32) : sh > 0 ? ((zl >>> sh) | (zh << (32 - sh))) & 31 : zl << -sh;
    }
    let bits = 0;
    for (let b = 0, j = 0; b < m; b += RICE_BLOCK, j++) bits += this.planBlock(j, b, Math.min(b + RICE_BLOCK, m));
    return bits;
  }

  /** Picks the cheapest (k, Q, mode) for the codes [from, to) of block j; returns the block's size in bits. */
  private planBlock(j: number, from: number, to: number): number {
    const ws = this.ws;
    const tops = this.tops;
    const bHist = rHist;
    const bTop = rTop;
    const cntLE = rCntLE;
    const sumLE = rSumLE;
    const len = to - from;
    bHist.fill(0);
    for (let i = from; i < to; i++) {
      const w = ws[i]!;
      bHist[w]!++;
      if (w >= 2) bTop[w * 16 + tops[i]! - 16]!++;
    }
    let c = 0;
    let sw = 0;
    let med = -1;
    for (let w = 0; w <= 64; w++) {
      c += bHist[w]!;
      sw += w * bHist[w]!;
      cntLE[w] = c;
      sumLE[w] = sw;
      if (med < 0 && 2 * c >= len) med = w;
    }
    // The cost is near-unimodal in k around the median bit length (the best k is med - 2 .. med + 1
    // on sensor and monitoring data): try med - 1 and med, then walk on from the better one while
    // the cost falls, within med - 4 .. med + 1.
    const kLo = Math.max(0, med - 4);
    const kHi = Math.min(63, med + 1);
    this.bestBits = Infinity;
    const k0 = Math.max(kLo, med - 1);
    const c0 = this.costAtK(k0, len, sw);
    if (k0 + 1 <= kHi && this.costAtK(k0 + 1, len, sw) < c0) {
      for (let k = k0 + 2, prev = this.bestBits; k <= kHi && this.costAtK(k, len, sw) < prev; k++) prev = this.bestBits;
    } else {
      for (let k = k0 - 1, prev = c0; k >= kLo && this.costAtK(k, len, sw) < prev; k--) prev = this.bestBits;
    }
    let bits = RICE_HEADER_BITS + this.bestBits;
    this.blockSame[j] = 0;
    if (this.shared && j > 0) {
      // One bit says "as before" or "new header follows".
      const k = this.blockK[j - 1]!;
      const Q = this.blockQ[j - 1]!;
      const mode = this.blockMode[j - 1]!;
      const again = this.costOf(k, Q, mode, len, sw);
      if (again <= RICE_HEADER_BITS + this.bestBits) {
        this.bestK = k;
        this.bestQ = Q;
        this.bestMode = mode;
        this.blockSame[j] = 1;
        bits = again;
      }
      bits += 1;
    }
    // Clear the rows of the top-bits histogram this block used.
    for (let i = from; i < to; i++) if (ws[i]! >= 2) bTop[ws[i]! * 16 + tops[i]! - 16] = 0;
    this.blockK[j] = this.bestK;
    this.blockQ[j] = this.bestQ;
    this.blockMode[j] = this.bestMode;
    return bits;
  }

  /** The best plan of the block just histogrammed by `planBlock` so far (its cost in bits and parameters). */
  private bestBits = Infinity;
  private bestK = 0;
  private bestQ = 0;
  private bestMode = 1;

  /**
   * The cheapest (Q, mode) for Rice parameter k over the block histogrammed in
   * the shared tables (`len` codes, `totalW` summed bit lengths): returns its
   * size in bits, and makes it the block's best plan when it beats that.
   */
  private costAtK(k: number, len: number, totalW: number): number {
    const cntLE = rCntLE;
    const sumLE = rSumLE;
    const qCount = rQCount;
    const qWidth = rQWidth;
    let best = Infinity;
    let bestQ = 0;
    let bestMode = 1;
    this.quotients(k, len, totalW);
    // Mode 0: every q at most RICE_MAX_Q; Q = the largest q.
    let qMax = RICE_MAX_Q + 1;
    while (qMax > 0 && qCount[qMax] === 0) qMax--;
    if (qMax <= RICE_MAX_Q) {
      let bits = len * k - qCount[qMax]!;
      for (let q = 0; q <= qMax; q++) bits += qCount[q]! * (q + 1);
      best = bits;
      bestQ = qMax;
      bestMode = 0;
    }
    // Mode 1: codes with q >= Q escape, and so do those with q = 0 whose escape is
    // shorter (bit length w <= k - Q - 7: Q + 7 + w < k + 1 bits), e.g. repeats.
    let below = 0;
    let escN = len;
    let escW = totalW;
    for (let Q = 0; Q <= RICE_MAX_Q; Q++) {
      let bits = below + escN * (Q + RICE_ESC_BITS) + escW;
      const lim = k - Q - RICE_ESC_BITS;
      if (Q > 0 && lim >= 0) bits -= cntLE[lim]! * (lim + 1) - sumLE[lim]!;
      if (bits < best) {
        best = bits;
        bestQ = Q;
        bestMode = 1;
      }
      below += qCount[Q]! * (k + Q + 1);
      escN -= qCount[Q]!;
      escW -= qWidth[Q]!;
    }
    if (best < this.bestBits) {
      this.bestBits = best;
      this.bestK = k;
      this.bestQ = bestQ;
      this.bestMode = bestMode;
    }
    return best;
  }

  /** The size in bits of the block histogrammed by `planBlock` coded with exactly (k, Q, mode); Infinity when mode 0 cannot code it. */
  private costOf(k: number, Q: number, mode: number, len: number, totalW: number): number {
    const qCount = rQCount;
    const qWidth = rQWidth;
    this.quotients(k, len, totalW);
    let bits = 0;
    if (mode === 0) {
      for (let q = Q + 1; q <= RICE_MAX_Q + 1; q++) if (qCount[q]! > 0) return Infinity;
      bits = len * k - qCount[Q]!;
      for (let q = 0; q <= Q; q++) bits += qCount[q]! * (q + 1);
      return bits;
    }
    let escN = len;
    let escW = totalW;
    for (let q = 0; q < Q; q++) {
      bits += qCount[q]! * (k + q + 1);
      escN -= qCount[q]!;
      escW -= qWidth[q]!;
    }
    bits += escN * (Q + RICE_ESC_BITS) + escW;
    const lim = k - Q - RICE_ESC_BITS;
    if (Q > 0 && lim >= 0) bits -= rCntLE[lim]! * (lim + 1) - rSumLE[lim]!;
    return bits;
  }

  /** Counts and summed bit lengths of the block's codes by quotient q = floor(z / 2^k), capped at RICE_MAX_Q + 1, into rQCount/rQWidth. */
  private quotients(k: number, len: number, totalW: number): void {
    const bHist = rHist;
    const bTop = rTop;
    const cntLE = rCntLE;
    const sumLE = rSumLE;
    const qCount = rQCount;
    const qWidth = rQWidth;
    qCount.fill(0);
    qWidth.fill(0);
    qCount[0] = cntLE[k]!;
    qWidth[0] = sumLE[k]!;
    if (k + 1 <= 64) {
      qCount[1] = bHist[k + 1]!;
      qWidth[1] = (k + 1) * bHist[k + 1]!;
    }
    for (let d = 2; d <= 4 && k + d <= 64; d++) {
      const w = k + d;
      if (bHist[w] === 0) continue;
      const base = w * 16;
      for (let x = 0; x < 16; x++) {
        const cnt = bTop[base + x]!;
        if (cnt === 0) continue;
        const q = (16 + x) >>> (5 - d);
        qCount[q]! += cnt;
        qWidth[q]! += w * cnt;
      }
    }
    const capAt = Math.min(64, k + 4);
    qCount[RICE_MAX_Q + 1] = len - cntLE[capAt]!;
    qWidth[RICE_MAX_Q + 1] = totalW - sumLE[capAt]!;
  }

  /** Writes the m codes planned by the last `plan(m)`. */
  write(bw: WordWriter, m: number): void {
    const zhs = this.zh;
    const zls = this.zl;
    const ws = this.ws;
    const tops = this.tops;
    for (let b = 0, j = 0; b < m; b += RICE_BLOCK, j++) {
      const to = Math.min(b + RICE_BLOCK, m);
      const k = this.blockK[j]!;
      const Q = this.blockQ[j]!;
      const esc = this.blockMode[j]!;
      if (this.shared && j > 0) bw.write(this.blockSame[j]!, 1);
      if (!this.shared || j === 0 || this.blockSame[j] === 0) bw.write((k << 5) | (Q << 1) | esc, RICE_HEADER_BITS);
      const allOnes = (1 << Q) - 1;
      const escBelow = esc === 1 && Q > 0 ? k - Q - RICE_ESC_BITS : -1;
      for (let i = b; i < to; i++) {
        const zh = zhs[i]!;
        const zl = zls[i]!;
        const w = ws[i]!;
        // q = floor(z / 2^k) from the bit length and top five bits (q > RICE_MAX_Q as 16).
        const q = w <= k ? 0 : w - k >= 5 ? RICE_MAX_Q + 1 : tops[i]! >>> (5 - w + k);
        if (q < Q && w > escBelow) {
          bw.write(((1 << q) - 1) << 1, q + 1);
          bw.write64(zh, zl, k);
        } else if (esc === 0) {
          bw.write(allOnes, Q);
          bw.write64(zh, zl, k);
        } else {
          bw.write((allOnes << RICE_ESC_BITS) | w, Q + RICE_ESC_BITS);
          bw.write64(zh, zl, w);
        }
      }
    }
  }

  /**
   * Reads m codes from `br` into `zh`/`zl` (growing them as needed). Throws
   * CORRUPTION, prefixed with `what`, on a truncated stream, an escape wider
   * than 64 bits or a code of 2^64 or more.
   */
  read(br: BitReader, m: number, what: string, shared: boolean): void {
    // Codes may take no bits (k = Q = 0), but every block has a header or a header bit.
    if (br.remaining < riceHeaderBitsMin(m, shared)) br.fail(`${what}: ${m} codes cannot fit in the remaining bits`);
    this.reserve(m);
    const zhs = this.zh;
    const zls = this.zl;
    let header = 0;
    for (let b = 0; b < m; b += RICE_BLOCK) {
      const stop = Math.min(b + RICE_BLOCK, m);
      if (!shared || b === 0 || br.readBits(1) === 0) header = br.readBits(RICE_HEADER_BITS);
      const k = header >>> 5;
      const Q = (header >>> 1) & 15;
      const esc = header & 1;
      const kHi = k > 32 ? k - 32 : 0;
      const kLo = k > 32 ? 32 : k;
      // q * 2^k + r must stay below 2^64: q < 2^(64 - k).
      const qLimit = k > 60 ? 2 ** (64 - k) : RICE_MAX_Q + 1;
      if (k <= 25) {
        // The common case, on the reader's bytes directly: a unary quotient and at most 25
        // remainder bits, each read from one 32-bit window (the buffer is padded, and the
        // position never passes the end: it is checked after every code).
        const buf = br.buf;
        const end = br.endBit;
        let pos = br.pos;
        for (let i = b; i < stop; i++) {
          let x = pos >>> 3;
          const win = ((buf[x]! << 24) | (buf[x + 1]! << 16) | (buf[x + 2]! << 8) | buf[x + 3]!) << (pos & 7);
          const ones = Math.clz32(~(win | 0xffff));
          if (ones >= Q && esc === 1) {
            br.pos = pos;
            this.readEscape(br, i, Q, what);
            pos = br.pos;
            continue;
          }
          const q = ones < Q ? ones : Q;
          pos += ones < Q ? q + 1 : q;
          if (pos + k > end) {
            br.pos = Math.min(pos, end);
            br.fail(`${what}: bit stream truncated`);
          }
          let r = 0;
          if (k > 0) {
            x = pos >>> 3;
            r = ((((buf[x]! << 24) | (buf[x + 1]! << 16) | (buf[x + 2]! << 8) | buf[x + 3]!) << (pos & 7)) >>> (32 - k)) >>> 0;
            pos += k;
          }
          zls[i] = (r | (q << k)) >>> 0;
          zhs[i] = 0;
        }
        br.pos = pos;
        continue;
      }
      for (let i = b; i < stop; i++) {
        // Leading ones (up to 16) of the next 16 bits: the unary part.
        const ones = Math.clz32(~(br.peekBits(16) << 16));
        if (ones < Q || esc === 0) {
          const q = ones < Q ? ones : Q;
          br.skipBits(ones < Q ? q + 1 : q);
          if (q >= qLimit) br.fail(`${what}: quotient ${q} overflows 64 bits with k = ${k}`);
          const rh = br.readBits(kHi);
          const rl = br.readBits(kLo);
          if (k >= 32) {
            zhs[i] = (rh | (q << (k - 32))) >>> 0;
            zls[i] = rl;
          } else {
            zls[i] = (rl | (q << k)) >>> 0;
            zhs[i] = k === 0 ? 0 : q >>> (32 - k);
          }
        } else {
          this.readEscape(br, i, Q, what);
        }
      }
    }
  }

  /** An escaped code (Q ones, 7 bits of width w, z in w bits) into slot `i`. */
  private readEscape(br: BitReader, i: number, Q: number, what: string): void {
    br.skipBits(Q);
    const w = br.readBits(RICE_ESC_BITS);
    if (w > 64) br.fail(`${what}: escape width ${w} exceeds 64`);
    this.zh[i] = br.readBits(w > 32 ? w - 32 : 0);
    this.zl[i] = br.readBits(w > 32 ? 32 : w);
  }
}
