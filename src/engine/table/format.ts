/**
 * Sorted table (SSTable) file format, version 1.
 *
 * ```
 * file  := data-block* filter-block? properties-block meta-index-block index-block footer
 * ```
 * All integers are little-endian. "varint" is LEB128 (base-128, low group
 * first, at most 8 bytes). Offsets are absolute file offsets.
 *
 * Block handle
 * ------------
 * `varint offset | varint size`: where a block starts and its stored size,
 * EXCLUDING its 5-byte trailer.
 *
 * Blocks and their trailer
 * ------------------------
 * Every block (data, filter, properties, meta-index, index) is stored as
 * `stored-bytes | uint8 compressionType | uint32 maskedCrc` where
 * - compressionType 0 = none (stored bytes are the block contents),
 *   1 = snappy (raw, unframed snappy of the block contents; decoded with
 *   the `snappy` package's uncompressSync). A block is compressed only when
 *   that saves at least 1/8 (12.5%) of its size, else it is stored raw.
 *   With compression 'snappy' this is tried for data blocks and the index
 *   block; filter, properties and meta-index blocks are always stored raw.
 * - maskedCrc = maskCrc(crc32c(stored-bytes ++ compressionType)), with the
 *   LevelDB mask `rotr(crc, 15) + 0xa282ead8`.
 *
 * Key/value block contents (data, index, meta-index, properties blocks)
 * ---------------------------------------------------------------------
 * ```
 * entry*  | uint32 restartOffset[numRestarts] | uint32 numRestarts
 * entry   := varint shared | varint nonShared | varint valueLength
 *            | byte keyDelta[nonShared] | byte value[valueLength]
 * ```
 * An entry's key is the first `shared` bytes of the previous entry's key
 * followed by `keyDelta`. Every `restartInterval` entries (data blocks:
 * option blockRestartInterval, default 16; index, meta-index and properties
 * blocks: 1) an entry is a restart point: shared = 0 and its offset within
 * the block is listed in restartOffset (strictly increasing; the first is 0).
 * A block always has at least one restart point (an empty block is
 * `uint32 0 | uint32 1`). Keys ascend strictly: data and index blocks in
 * internal-key order, meta-index and properties blocks bytewise.
 *
 * Data blocks
 * -----------
 * Keys are internal keys (user key + 8-byte trailer, see engine/format.ts),
 * values the user values. After each entry, the block is finished if its
 * uncompressed size (entries + restart array + count) is >= blockSize
 * (default 4096); every entry lives in exactly one block, and no data block
 * is empty.
 *
 * Index block
 * -----------
 * One entry per data block, in file order: key = a separator internal key S
 * with lastKey(block) <= S < firstKey(next block) (the separator of the
 * last block is >= its last key), value = the data block's handle. The
 * separator is shortened where possible: the shortest user key between the
 * two blocks' user keys (or the short successor of the last user key for the
 * last block) with trailer (MAX_SEQUENCE, PUT); otherwise the block's last key.
 *
 * Filter block (absent when bloomBitsPerKey = 0)
 * ----------------------------------------------
 * `byte bits[m / 8] | uint8 k`: one bloom filter over the table's distinct
 * USER keys (internal key minus its 8-byte trailer).
 * m = 8 * ceil(max(64, n * bitsPerKey) / 8) for n distinct user keys,
 * k = clamp(round(bitsPerKey * ln 2), 1, 30); readers reject k outside [1, 30].
 * h = MurmurHash3_x86_32(userKey, seed 0xbc9f1d34);
 * delta = fmix32(h XOR 0x9e3779b9), fmix32 being MurmurHash3's finalizer
 * (x ^= x >>> 16; x *= 0x85ebca6b; x ^= x >>> 13; x *= 0xc2b2ae35; x ^= x >>> 16, all mod 2^32).
 * Probe i (0 <= i < k) tests bit (h + i * delta mod 2^32) mod m, where bit j
 * is bit (j mod 8) of byte floor(j / 8). A key may be present only if all k
 * bits are set. Written with no compression.
 *
 * Properties block
 * ----------------
 * Key/value block (bytewise keys, restart interval 1). Keys are ASCII names;
 * numbers are stored as a varint filling the whole value. Readers ignore
 * unknown names; the names below are all required.
 * - `strata.data.blocks`     number of data blocks
 * - `strata.deletions`       entries whose type is DELETE
 * - `strata.entries`         number of entries
 * - `strata.format.version`  1
 * - `strata.largest`         largest internal key (raw bytes; empty if no entries)
 * - `strata.raw.key.bytes`   sum of internal key lengths (user key + 8)
 * - `strata.raw.value.bytes` sum of value lengths
 * - `strata.smallest`        smallest internal key (raw bytes; empty if no entries)
 *
 * Meta-index block
 * ----------------
 * Key/value block (bytewise keys, restart interval 1): name → block handle.
 * - `strata.filter.bloom`  the filter block (absent if no filter)
 * - `strata.properties`    the properties block (required)
 *
 * Footer (the last 48 bytes of the file)
 * --------------------------------------
 * ```
 * [0, 32)  varint-encoded handles: meta-index handle, then index handle;
 *          the rest of the 32 bytes zero
 * [32, 36) uint32 format version = 1
 * [36, 40) uint32 maskCrc(crc32c(footer[0, 36)))
 * [40, 48) magic: ASCII "STRATAT" followed by byte 0x01
 * ```
 * Readers reject (CORRUPTION, naming the file and an offset: the block's
 * start for anything inside a block; for the footer its start, or start + 40
 * for a bad magic and start + 32 for a bad version; 0 for a file shorter than
 * the footer) a file shorter than the footer, a wrong magic, version or footer checksum, a
 * handle pointing outside [0, footer offset), index handles that are out of
 * file order or whose count differs from `strata.data.blocks`, a missing
 * property, a bad filter probe count, and any block failing its checksum
 * (always checked for metadata blocks, for data blocks unless
 * verifyChecksums is off), its decompression, or a structural check (restart
 * array, varints, entry bounds, shared-prefix length, key shorter than 8
 * bytes in an internal-key block).
 */
import { corruption, crc32c, getVarint, maskCrc, putVarint } from '../../base/index.js';
import type { Cursor } from '../../base/index.js';

export const FORMAT_VERSION = 1;

export const BLOCK_TRAILER_SIZE = 5;

export const CompressionType = { NONE: 0, SNAPPY: 1 } as const;
export type CompressionType = (typeof CompressionType)[keyof typeof CompressionType];

/** Largest encoded handle: two varints of at most 8 bytes each (values < 2^56). */
export const MAX_HANDLE_LENGTH = 16;
const HANDLES_AREA = 2 * MAX_HANDLE_LENGTH;
export const FOOTER_SIZE = HANDLES_AREA + 4 + 4 + 8;
export const TABLE_MAGIC = Buffer.from([0x53, 0x54, 0x52, 0x41, 0x54, 0x41, 0x54, 0x01]); // "STRATAT\x01"

export const META_FILTER_KEY = 'strata.filter.bloom';
export const META_PROPERTIES_KEY = 'strata.properties';

export const PROP_DATA_BLOCKS = 'strata.data.blocks';
export const PROP_DELETIONS = 'strata.deletions';
export const PROP_ENTRIES = 'strata.entries';
export const PROP_FORMAT_VERSION = 'strata.format.version';
export const PROP_LARGEST = 'strata.largest';
export const PROP_RAW_KEY_BYTES = 'strata.raw.key.bytes';
export const PROP_RAW_VALUE_BYTES = 'strata.raw.value.bytes';
export const PROP_SMALLEST = 'strata.smallest';

export interface BlockHandle {
  offset: number;
  size: number;
}

/** Writes `h` at `off`; returns the offset after it. `buf` needs MAX_HANDLE_LENGTH bytes of room. */
export function encodeHandle(buf: Buffer, off: number, h: BlockHandle): number {
  return putVarint(buf, putVarint(buf, off, h.offset), h.size);
}

/**
 * Decodes a handle at `cur.pos` (advancing it) into `out`. Returns false if
 * the bytes end early or a varint is malformed.
 */
export function decodeHandle(buf: Buffer, cur: Cursor, end: number, out: BlockHandle): boolean {
  const offset = getVarint(buf, cur, end);
  if (offset < 0) return false;
  const size = getVarint(buf, cur, end);
  if (size < 0) return false;
  out.offset = offset;
  out.size = size;
  return true;
}

export interface Footer {
  metaIndex: BlockHandle;
  index: BlockHandle;
}

export function encodeFooter(footer: Footer, crc: (data: Buffer) => number): Buffer {
  const buf = Buffer.alloc(FOOTER_SIZE);
  let off = encodeHandle(buf, 0, footer.metaIndex);
  off = encodeHandle(buf, off, footer.index);
  buf.writeUInt32LE(FORMAT_VERSION, HANDLES_AREA);
  buf.writeUInt32LE(crc(buf.subarray(0, HANDLES_AREA + 4)), HANDLES_AREA + 4);
  TABLE_MAGIC.copy(buf, HANDLES_AREA + 8);
  return buf;
}

/**
 * Parses and checks the footer in `buf` (exactly FOOTER_SIZE bytes read at
 * `fileOffset` of `file`). Throws CORRUPTION on a bad magic, checksum,
 * version or handle encoding.
 */
export function decodeFooter(buf: Buffer, file: string, fileOffset: number, crc: (data: Buffer) => number): Footer {
  if (buf.length !== FOOTER_SIZE) throw corruption(file, fileOffset, 'short table footer');
  if (buf.compare(TABLE_MAGIC, 0, 8, HANDLES_AREA + 8, FOOTER_SIZE) !== 0) {
    throw corruption(file, fileOffset + HANDLES_AREA + 8, 'bad table magic (not a table file)');
  }
  if (crc(buf.subarray(0, HANDLES_AREA + 4)) !== buf.readUInt32LE(HANDLES_AREA + 4)) {
    throw corruption(file, fileOffset, 'table footer checksum mismatch');
  }
  const version = buf.readUInt32LE(HANDLES_AREA);
  if (version !== FORMAT_VERSION) {
    throw corruption(file, fileOffset + HANDLES_AREA, `unsupported table format version ${version}`);
  }
  const metaIndex: BlockHandle = { offset: 0, size: 0 };
  const index: BlockHandle = { offset: 0, size: 0 };
  const cur = { pos: 0 };
  if (!decodeHandle(buf, cur, HANDLES_AREA, metaIndex) || !decodeHandle(buf, cur, HANDLES_AREA, index)) {
    throw corruption(file, fileOffset, 'malformed block handle in table footer');
  }
  return { metaIndex, index };
}

/** Whether `buf` (a block's `size` stored bytes, then its trailer) carries the right checksum. */
export function blockChecksumMatches(buf: Buffer, size: number): boolean {
  return maskCrc(crc32c(buf.subarray(0, size + 1))) === buf.readUInt32LE(size + 1);
}
