/**
 * Growable byte writing and bounds-checked reading with varints (LEB128 up
 * to 2^53) and zigzag varints: the helpers every binary codec here shares
 * (time-series chunks and log records, cluster commands and frames).
 */
import { varintLength } from './bytes.js';
import { corruption } from './errors.js';

const TWO_53 = 9007199254740992;

/** Bytes the varint of `n` (0..2^53) occupies (the codecs' name for varintLength). */
export const varintSize = varintLength;

/** A growable byte buffer with varint helpers. */
export class ByteWriter {
  private buf: Buffer;
  private len = 0;

  constructor(initialCapacity = 64) {
    // Unzeroed: finish() returns only bytes written.
    this.buf = Buffer.allocUnsafe(Math.max(16, initialCapacity));
  }

  get length(): number {
    return this.len;
  }

  /** Makes room for `n` more bytes. */
  ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = Buffer.allocUnsafe(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  /** Leaves `n` bytes for the caller to fill in later (their contents are unspecified until then). */
  skip(n: number): void {
    this.ensure(n);
    this.len += n;
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

  /** A double, little-endian. */
  f64le(v: number): void {
    this.ensure(8);
    this.len = this.buf.writeDoubleLE(v, this.len);
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
    readonly file = '<bytes>',
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

