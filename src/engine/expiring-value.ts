/**
 * The optional value layout that lets compaction drop expired keys
 * (engine option `expiringValues`). Every stored value then starts with a
 * one-byte tag:
 *
 *   0x00 payload...                      no expiry
 *   0x01 expireAtMs (6 bytes LE) payload  expires at that time (ms since epoch)
 *
 * Readers (the key-value service) treat a key whose time has passed as
 * absent at once; compaction turns such a value into a tombstone, and the
 * tombstone goes at the bottom level like any other. A value that does not
 * parse (empty, unknown tag) is kept as is: compaction never guesses.
 * The tag's upper bits are reserved for value types beyond strings.
 */
export const EXPIRY_TAG_NONE = 0x00;
export const EXPIRY_TAG_AT = 0x01;
/** Bytes before the payload of a value that expires. */
export const EXPIRY_HEADER_BYTES = 7;
/** Largest expiry time the 6-byte field holds (year 10889). */
export const EXPIRE_AT_MAX_MS = 2 ** 48 - 1;

/** Encodes payload with an optional absolute expiry; one allocation, one copy. */
export function encodeExpiringValue(payload: Uint8Array, expireAtMs: number | undefined): Buffer {
  if (expireAtMs === undefined) {
    const out = Buffer.allocUnsafe(payload.length + 1);
    out[0] = EXPIRY_TAG_NONE;
    out.set(payload, 1);
    return out;
  }
  const out = Buffer.allocUnsafe(payload.length + EXPIRY_HEADER_BYTES);
  out[0] = EXPIRY_TAG_AT;
  out.writeUIntLE(Math.min(Math.max(0, Math.floor(expireAtMs)), EXPIRE_AT_MAX_MS), 1, 6);
  out.set(payload, EXPIRY_HEADER_BYTES);
  return out;
}

/** The expiry of a stored value: a time, undefined for none, or null when the value does not parse. */
export function expiryOf(stored: Uint8Array): number | undefined | null {
  if (stored.length === 0) return null;
  const tag = stored[0];
  if (tag === EXPIRY_TAG_NONE) return undefined;
  if (tag === EXPIRY_TAG_AT && stored.length >= EXPIRY_HEADER_BYTES) {
    return stored[1]! + stored[2]! * 0x100 + stored[3]! * 0x10000 + stored[4]! * 0x1000000 + (stored[5]! + stored[6]! * 0x100) * 0x100000000;
  }
  return null;
}

/** The payload of a stored value (a view, no copy), or null when it does not parse. */
export function payloadOf(stored: Buffer): Buffer | null {
  if (stored.length === 0) return null;
  const tag = stored[0];
  if (tag === EXPIRY_TAG_NONE) return stored.subarray(1);
  if (tag === EXPIRY_TAG_AT && stored.length >= EXPIRY_HEADER_BYTES) return stored.subarray(EXPIRY_HEADER_BYTES);
  return null;
}

/** True when the stored value has an expiry at or before nowMs. */
export function isExpired(stored: Uint8Array, nowMs: number): boolean {
  if (stored.length < EXPIRY_HEADER_BYTES || stored[0] !== EXPIRY_TAG_AT) return false;
  const at = expiryOf(stored);
  return typeof at === 'number' && at <= nowMs;
}
