/**
 * Internal keys: the user key followed by an 8-byte little-endian trailer
 * holding `(sequence << 8) | type`. Ordered by user key ascending (bytewise),
 * then sequence descending, so the newest version of a key comes first.
 * Sequences are JS numbers (< 2^53, checked); see docs/formats.md.
 */
export const ValueType = { DELETE: 0, PUT: 1 } as const;
export type ValueType = (typeof ValueType)[keyof typeof ValueType];

/** Type used in seek keys: the largest type, so a seek to (k, s) lands on the newest entry with seq <= s. */
export const VALUE_TYPE_FOR_SEEK: ValueType = ValueType.PUT;

export const MAX_SEQUENCE = Number.MAX_SAFE_INTEGER;
export const TRAILER_SIZE = 8;
const TWO_24 = 0x1000000;

export function makeInternalKey(userKey: Uint8Array, seq: number, type: ValueType): Buffer {
  const out = Buffer.allocUnsafe(userKey.length + TRAILER_SIZE);
  out.set(userKey, 0);
  writeTrailer(out, userKey.length, seq, type);
  return out;
}

export function writeTrailer(buf: Buffer, off: number, seq: number, type: ValueType): void {
  buf.writeUInt32LE((((seq & 0xffffff) << 8) | type) >>> 0, off);
  buf.writeUInt32LE(Math.floor(seq / TWO_24), off + 4);
}

export function userKeyOf(ikey: Buffer): Buffer {
  return ikey.subarray(0, ikey.length - TRAILER_SIZE);
}

export function seqOf(ikey: Buffer): number {
  const n = ikey.length;
  return ikey.readUInt32LE(n - 4) * TWO_24 + (ikey.readUInt32LE(n - 8) >>> 8);
}

export function typeOf(ikey: Buffer): ValueType {
  return (ikey[ikey.length - TRAILER_SIZE]! & 0xff) as ValueType;
}

/** Below this length a JS loop beats the native range compare (which costs ~100-200 ns per call). */
const NATIVE_COMPARE_MIN = 64;

/** Bytewise comparison of a[0..aLen) with b[0..bLen), without allocating. */
export function compareRanges(a: Buffer, aLen: number, b: Buffer, bLen: number): number {
  const n = aLen < bLen ? aLen : bLen;
  if (n >= NATIVE_COMPARE_MIN) return a.compare(b, 0, bLen, 0, aLen);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return aLen === bLen ? 0 : aLen < bLen ? -1 : 1;
}

/** Bytewise comparison of the user-key parts of two internal keys, without allocating. */
export function compareUserKeyParts(a: Buffer, b: Buffer): number {
  return compareRanges(a, a.length - TRAILER_SIZE, b, b.length - TRAILER_SIZE);
}

/** Compares a plain user key with the user-key part of an internal key. */
export function compareUserKeyTo(userKey: Buffer, ikey: Buffer): number {
  return compareRanges(userKey, userKey.length, ikey, ikey.length - TRAILER_SIZE);
}

export function compareInternalKeys(a: Buffer, b: Buffer): number {
  const c = compareRanges(a, a.length - TRAILER_SIZE, b, b.length - TRAILER_SIZE);
  if (c !== 0) return c;
  // Sequence descending: compare high words, then low words, reversed.
  const ah = a.readUInt32LE(a.length - 4);
  const bh = b.readUInt32LE(b.length - 4);
  if (ah !== bh) return ah > bh ? -1 : 1;
  const al = a.readUInt32LE(a.length - 8);
  const bl = b.readUInt32LE(b.length - 8);
  return al === bl ? 0 : al > bl ? -1 : 1;
}

/** Leading user-key bytes a key prefix holds as a number (48 bits: exact in a double). */
export const PREFIX_BYTES = 6;
/** The prefix of keys after the reference prefix (every in-reference prefix is below 2^48). */
export const AFTER_REFERENCE = 2 ** 53;

/**
 * The first PREFIX_BYTES bytes of `buf[off, off+len)`, big-endian, zero-padded.
 * Monotone: if a < b bytewise then prefix(a) <= prefix(b); so different
 * prefixes decide a comparison without touching the keys.
 */
export function keyPrefix(buf: Uint8Array, off: number, len: number): number {
  let p = 0;
  const n = len < PREFIX_BYTES ? len : PREFIX_BYTES;
  let i = 0;
  for (; i < n; i++) p = p * 256 + buf[off + i]!;
  for (; i < PREFIX_BYTES; i++) p *= 256;
  return p;
}

/**
 * A number that decides most comparisons of keys without reading their
 * bytes (monotone: a < b bytewise implies prefixAfter(a) <= prefixAfter(b)).
 * Keys that begin with the reference prefix `ref` (the bytes a set of keys
 * share: fixed-width numbers' leading zeros, "user:") get their next
 * PREFIX_BYTES bytes (0 .. 2^48 - 1); keys below it get -1 and keys above
 * it AFTER_REFERENCE, so they compare by their bytes among themselves.
 * With an empty reference, the first PREFIX_BYTES bytes.
 */
export function prefixAfter(ref: Uint8Array, buf: Uint8Array, off: number, len: number): number {
  const r = ref.length;
  if (r === 0) return keyPrefix(buf, off, len);
  const m = len < r ? len : r;
  for (let i = 0; i < m; i++) {
    const d = buf[off + i]! - ref[i]!;
    if (d !== 0) return d < 0 ? -1 : AFTER_REFERENCE;
  }
  // A key that is a proper prefix of the reference sorts before every key that begins with it.
  return len < r ? -1 : keyPrefix(buf, off + r, len - r);
}
