/**
 * Snappy decompression (the raw format, as written by the `snappy`
 * package's compressSync) into memory the caller supplies.
 *
 * Why not the native package for this direction: its output is a new
 * ArrayBuffer per call (through N-API), which the garbage collector only
 * frees when it next runs; a read-heavy workload decompressing tens of
 * thousands of 4 KiB blocks a second kept 60+ MB of such buffers alive.
 * Decoding here writes straight into the block allocator's slabs, and for
 * 4 KiB blocks measures as fast as the native call (whose fixed cost per
 * call is about a microsecond).
 *
 * Format: varint uncompressed length, then elements. A tag byte's low two
 * bits say what follows: 00 literal (length - 1 in the upper six bits, or
 * 60..63: the length - 1 in the next 1..4 bytes little-endian), 01 copy
 * with a 3-bit length - 4 and an 11-bit offset, 10 copy with a 6-bit
 * length - 1 and a 2-byte offset, 11 copy with a 4-byte offset. A copy
 * repeats bytes from `offset` back in the output (overlapping copies repeat
 * a pattern). Every length and offset is checked: malformed input throws,
 * it never reads or writes out of bounds.
 */

export class SnappyFormatError extends Error {}

function fail(what: string): never {
  throw new SnappyFormatError(what);
}

/** The uncompressed length a compressed buffer declares, and where its elements start. */
export function snappyUncompressedLength(src: Uint8Array, start: number, end: number): { length: number; at: number } {
  let result = 0;
  let shift = 0;
  let p = start;
  for (;;) {
    if (p >= end) fail('truncated length');
    const b = src[p++]!;
    if (shift === 28 && b > 0x0f) fail('length too large');
    result += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) break;
    shift += 7;
    if (shift > 28) fail('length too large');
  }
  return { length: result, at: p };
}

/**
 * Decodes src[at, end) (the elements, after the length header read by
 * snappyUncompressedLength) into dst[dstStart, dstStart + length). `sv` and
 * `dv` are DataViews over the same bytes as `src` and `dst` (same offsets):
 * longer runs move four bytes per step through them. Throws
 * SnappyFormatError on malformed input or when the output would not be
 * exactly `length` bytes.
 */
export function snappyDecodeInto(
  src: Uint8Array,
  sv: DataView,
  at: number,
  end: number,
  dst: Uint8Array,
  dv: DataView,
  dstStart: number,
  length: number,
): void {
  const dstEnd = dstStart + length;
  let p = at;
  let o = dstStart;
  while (p < end) {
    const tag = src[p++]!;
    const kind = tag & 3;
    if (kind === 0) {
      let len = (tag >>> 2) + 1;
      if (len > 60) {
        const extra = len - 60;
        if (p + extra > end) fail('truncated literal length');
        len = 0;
        for (let i = 0; i < extra; i++) len += src[p + i]! * 2 ** (8 * i);
        len += 1;
        p += extra;
      }
      if (p + len > end) fail('literal runs past the input');
      if (o + len > dstEnd) fail('literal runs past the output');
      if (len >= 256) {
        dst.set(src.subarray(p, p + len), o);
      } else {
        let i = 0;
        for (; i + 4 <= len; i += 4) dv.setUint32(o + i, sv.getUint32(p + i));
        for (; i < len; i++) dst[o + i] = src[p + i]!;
      }
      p += len;
      o += len;
      continue;
    }
    let len: number;
    let offset: number;
    if (kind === 1) {
      if (p >= end) fail('truncated copy');
      len = ((tag >>> 2) & 7) + 4;
      offset = ((tag >>> 5) << 8) | src[p++]!;
    } else if (kind === 2) {
      if (p + 2 > end) fail('truncated copy');
      len = (tag >>> 2) + 1;
      offset = src[p]! | (src[p + 1]! << 8);
      p += 2;
    } else {
      if (p + 4 > end) fail('truncated copy');
      len = (tag >>> 2) + 1;
      offset = (src[p]! | (src[p + 1]! << 8) | (src[p + 2]! << 16) | (src[p + 3]! << 24)) >>> 0;
      p += 4;
    }
    if (offset === 0 || offset > o - dstStart) fail('copy offset out of range');
    if (o + len > dstEnd) fail('copy runs past the output');
    const from = o - offset;
    let i = 0;
    // Four bytes a step reads only bytes already written when offset >= 4 (overlap repeats the pattern).
    if (offset >= 4) for (; i + 4 <= len; i += 4) dv.setUint32(o + i, dv.getUint32(from + i));
    for (; i < len; i++) dst[o + i] = dst[from + i]!;
    o += len;
  }
  if (o !== dstEnd) fail(`decoded ${o - dstStart} bytes, header says ${length}`);
}
