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
