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
import { corruption, invalidArgument } from '../../base/index.js';

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

/** Bytes the varint of `n` (0..2^53) occupies. */
export function varintSize(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

/** A growable byte buffer with varint helpers. */
export class ByteWriter {
  private buf: Buffer;
  private len = 0;

  constructor(initialCapacity = 64) {
    this.buf = Buffer.alloc(Math.max(16, initialCapacity));
  }

  get length(): number {
    return this.len;
  }

  /** Makes room for `n` more bytes. */
  ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = Buffer.alloc(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.len++] = b;
  }

  bytes(src: Uint8Array): void {
    this.ensure(src.length);
    this.buf.set(src, this.len);
    this.len += src.length;
  }

  /** Writes a string as UTF-8 (no length prefix). */
  utf8(s: string, byteLength: number): void {
    this.ensure(byteLength);
    this.buf.write(s, this.len, byteLength, 'utf8');
    this.len += byteLength;
  }

  /** Big-endian 32-bit unsigned. */
  u32(v: number): void {
    this.ensure(4);
    const b = this.buf;
    b[this.len] = v >>> 24;
    b[this.len + 1] = v >>> 16;
    b[this.len + 2] = v >>> 8;
    b[this.len + 3] = v;
    this.len += 4;
  }

  /** Varint of an integer in 0..2^53. */
  varint(n: number): void {
    this.ensure(8);
    const b = this.buf;
    let p = this.len;
    while (n >= 0x80000000) {
      b[p++] = (n % 128) | 0x80;
      n = Math.floor(n / 128);
    }
    while (n >= 0x80) {
      b[p++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    b[p++] = n;
    this.len = p;
  }

  /** Zigzag varint of an integer in [-2^53, 2^53] (exact over the whole range). */
  zigzag(n: number): void {
    if (n >= -0x40000000 && n < 0x40000000) {
      this.varint(((n << 1) ^ (n >> 31)) >>> 0);
      return;
    }
    const s = n < 0 ? 1 : 0;
    const q = s === 1 ? -n - 1 : n;
    this.ensure(8);
    const low = ((q % 64) << 1) | s;
    const rest = Math.floor(q / 64);
    this.buf[this.len++] = low | 0x80;
    this.varint(rest);
  }

  finish(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}

/** Reads a byte buffer region with bounds checks; failures are CORRUPTION at the absolute offset. */
export class ByteReader {
  pos: number;

  constructor(
    readonly buf: Uint8Array,
    start = 0,
    readonly end = buf.length,
    readonly file = CHUNK_FILE,
  ) {
    this.pos = start;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  fail(what: string, at = this.pos): never {
    throw corruption(this.file, at, what);
  }

  byte(): number {
    if (this.pos >= this.end) this.fail('unexpected end of data');
    return this.buf[this.pos++]!;
  }

  /** Returns a view of the next `n` bytes. */
  bytes(n: number): Uint8Array {
    if (n > this.end - this.pos) this.fail(`length ${n} runs past the end`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** Big-endian 32-bit unsigned. */
  u32(): number {
    if (this.end - this.pos < 4) this.fail('unexpected end of data');
    const b = this.buf;
    const p = this.pos;
    this.pos = p + 4;
    return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
  }

  /** A varint in 0..2^53. */
  varint(): number {
    const start = this.pos;
    const b = this.buf;
    let p = start;
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      if (p >= this.end) this.fail('truncated varint', start);
      const x = b[p++]!;
      result += (x & 0x7f) * mul;
      if (x < 0x80) {
        if (result > TWO_53) this.fail('varint out of range', start);
        this.pos = p;
        return result;
      }
      mul *= 128;
    }
    return this.fail('varint longer than 8 bytes', start);
  }

  /** A zigzag varint (see the file comment), an integer in [-2^53, 2^53]. */
  zigzag(): number {
    const start = this.pos;
    if (start >= this.end) this.fail('truncated varint');
    const first = this.buf[start]!;
    if (first < 0x80) {
      this.pos = start + 1;
      return (first >>> 1) ^ -(first & 1);
    }
    this.pos = start + 1;
    const s = first & 1;
    const rest = this.varint();
    if (this.pos - start > 8) this.fail('varint longer than 8 bytes', start);
    const q = ((first & 0x7f) >>> 1) + rest * 64;
    if (q > TWO_53 - s) this.fail('zigzag varint out of range', start);
    return s === 1 ? -q - 1 : q;
  }

  /** Throws unless every byte was consumed. */
  expectEnd(what: string): void {
    if (this.pos !== this.end) this.fail(`${what}: ${this.end - this.pos} unexpected trailing bytes`);
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
  private readonly buf: Uint8Array;
  private pos = 0;
  private readonly endBit: number;

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
