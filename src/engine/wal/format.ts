/**
 * Write-ahead log format (the LevelDB log format).
 *
 * A log file is a sequence of 32 KiB blocks (32768 bytes; the last block may
 * be short). A block holds fragments back to back, starting at the block's
 * first byte. Each fragment is:
 *
 *   offset  size  field
 *   0       4     checksum: uint32 LE, masked CRC-32C (see maskCrc) of the
 *                 type byte followed by the payload
 *   4       2     length: uint16 LE, payload bytes (0 .. 32761)
 *   6       1     type: FULL=1, FIRST=2, MIDDLE=3, LAST=4 (0 is reserved:
 *                 zeros as from preallocation are never a fragment)
 *   7       len   payload
 *
 * A fragment never crosses a block boundary. When fewer than 7 bytes (a
 * header) remain in a block, the writer fills them with zeros and continues
 * at the next block. A record (one WriteBatch rep) is written as one FULL
 * fragment if it fits in the rest of the block, otherwise as FIRST, zero or
 * more MIDDLE, and LAST; every fragment but the last fills its block to the
 * end. A record may be empty (a FULL fragment with length 0); a FIRST
 * fragment may also be empty when exactly 7 bytes remain in a block.
 *
 * Reading, and what counts as damage: a fragment is damaged if its header is
 * cut off by the end of the file, its length runs past the end of its block
 * or of the file, its type is not 1..4 (a zero header included), its checksum
 * does not match, or it is out of order (MIDDLE/LAST without a FIRST; end of
 * file while a record is open). A non-zero byte in a block trailer is damage
 * too. On damage the reader looks for later data: it walks every block that
 * starts after the damaged fragment, from the block's first byte, following
 * valid fragments; if it finds a valid FULL or FIRST fragment (the start of a
 * later record) the damage is in the middle of the log: CORRUPTION naming the
 * file and the damaged fragment's offset. A valid FULL or FIRST fragment
 * while a record is open is itself such a later start: CORRUPTION at the
 * offset of the open record's FIRST fragment. Otherwise the damage is a torn
 * tail: reading stops, `tornTail` is true and `droppedBytes` counts every
 * byte after the end of the last complete record (damaged record, padding
 * and anything after it).
 *
 * A file whose bytes after the last complete record are all zeros (a cut in
 * block padding, preallocated space) ends cleanly: `tornTail` false,
 * `droppedBytes` 0. Damage inside the last record, even with valid
 * MIDDLE/LAST fragments of that record after it, is a torn tail: only the
 * start of a later record proves the log went on.
 *
 * A crash leaves a prefix of what was appended, so a torn tail has a
 * particular shape: the file ends inside the last fragment's header, or that
 * fragment has a valid type, stays inside its block and runs past the end of
 * the file (or only zeros follow). Damage of any other shape (a complete
 * fragment with a bad checksum or type, a length crossing its block, a
 * non-zero trailer, MIDDLE/LAST without FIRST) cannot come from a crash: the
 * reader then also looks for a valid FULL or FIRST fragment at every offset
 * after the damage, in its own block too, and reports CORRUPTION if it finds
 * one. (A torn-shaped tail is not searched that way: its bytes are a torn
 * record's payload, which may contain anything.) With the `strict` option
 * (MANIFEST: each record is synced before the next is appended), damage that
 * is not torn-shaped is always CORRUPTION, and a torn-shaped one is
 * CORRUPTION when a later record start follows it anywhere.
 */

/** Bytes per block. */
export const BLOCK_SIZE = 32 * 1024;
/** checksum (4) + length (2) + type (1). */
export const HEADER_SIZE = 7;
/** Largest payload of one fragment (a block minus its header). */
export const MAX_FRAGMENT_PAYLOAD = BLOCK_SIZE - HEADER_SIZE;

export const RecordType = {
  /** Reserved: preallocated (zero) space. Never written. */
  ZERO: 0,
  FULL: 1,
  FIRST: 2,
  MIDDLE: 3,
  LAST: 4,
} as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

export const MAX_RECORD_TYPE = RecordType.LAST;
