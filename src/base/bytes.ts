/**
 * Bytes helpers: varints (LevelDB/protobuf style, little-endian base-128),
 * comparisons and conversions. Readers take a cursor object so a decoder can
 * walk a buffer without allocating per field.
 */
export interface Cursor {
  pos: number;
}

/** Bytes a varint of `n` (0 <= n <= 2^53-1) occupies. */
export function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

/** Writes `n` (0 <= n <= 2^53-1) at `off`; returns the offset after it. */
export function putVarint(buf: Uint8Array, off: number, n: number): number {
  while (n >= 0x80) {
    buf[off++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[off++] = n;
  return off;
}

/**
 * Reads a varint at `cur.pos`, advancing it. Returns -1 if the buffer ends
 * before the varint does or it is longer than 8 bytes (> 2^56): callers turn
 * that into a corruption error with their own file and offset.
 */
export function getVarint(buf: Uint8Array, cur: Cursor, end = buf.length): number {
  let pos = cur.pos;
  let result = 0;
  let mul = 1;
  for (let i = 0; i < 8; i++) {
    if (pos >= end) return -1;
    const b = buf[pos++]!;
    result += (b & 0x7f) * mul;
    if (b < 0x80) {
      cur.pos = pos;
      return result;
    }
    mul *= 128;
  }
  return -1;
}

export type BytesLike = Uint8Array | string;

/** Accepts a Buffer/Uint8Array (no copy) or a string (UTF-8). */
export function toBuffer(v: BytesLike): Buffer {
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  if (Buffer.isBuffer(v)) return v;
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

/** The smallest key greater than every key starting with `prefix`, or undefined if none (all 0xff). */
export function prefixSuccessor(prefix: Uint8Array): Buffer | undefined {
  let i = prefix.length - 1;
  while (i >= 0 && prefix[i] === 0xff) i--;
  if (i < 0) return undefined;
  const out = Buffer.from(prefix.subarray(0, i + 1));
  out[i] = out[i]! + 1;
  return out;
}

/** A typed array of `length` elements starting with a copy of `a` (the rest zero): growing a buffer. */
export function grownCopy<T extends Uint8Array | Int32Array | Float64Array>(a: T, length: number): T {
  const b = new (a.constructor as new (n: number) => T)(length);
  b.set(a);
  return b;
}

/** Up to this many bytes a JS loop copies faster than a native call (~50 ns of argument checks). */
const SHORT_COPY = 40;

/** Copies src[start, end) to dst at `at`: a loop for short ranges, a native `set` for long ones. */
export function copyRange(src: Uint8Array, start: number, end: number, dst: Uint8Array, at: number): void {
  const n = end - start;
  if (n > SHORT_COPY) {
    dst.set(n === src.length ? src : src.subarray(start, end), at);
    return;
  }
  for (let i = 0; i < n; i++) dst[at + i] = src[start + i]!;
}
