import {
  ERROR_CODES,
  StrataError,
  assert,
  corruption,
  crc32c,
  invalidArgument,
  joinPath,
  maskCrc,
  type Fs,
} from '../../base/index.js';
import type { ConfState, Entry, Snapshot } from './types.js';

/*
 * What the file-based Raft logs share (DiskRaftLog, one group per directory;
 * MultiRaftLog, every group of a node in one): integer fields, segment
 * headers, the snapshot file, the listing of a log directory, argument
 * checks and the error a failed log answers with. docs/formats.md describes
 * the bytes.
 */

const TWO_32 = 0x100000000;
export const FORMAT_VERSION = 1;
export const SEGMENT_HEADER_SIZE = 24;
const SNAPSHOT_MAGIC = Buffer.from('STRATARS', 'latin1');
/** magic, version, crc, sequence, index, term, voter count, learner count, data length. */
const SNAPSHOT_FIXED = 56;
/** ENTRY record payload before the data: index (8), term (8), type (1). */
export const ENTRY_FIXED = 17;
/** HARD_STATE record payload before the vote: term (8), commit (8). */
export const HARD_STATE_FIXED = 16;

export function putU53(buf: Buffer, off: number, n: number): void {
  buf.writeUInt32LE(n % TWO_32, off);
  buf.writeUInt32LE(Math.floor(n / TWO_32), off + 4);
}

/** A uint64 LE that must be below 2^53; -1 if it is not. */
export function getU53(buf: Buffer, off: number): number {
  const hi = buf.readUInt32LE(off + 4);
  if (hi > 0x1fffff) return -1;
  return hi * TWO_32 + buf.readUInt32LE(off);
}

export function allZero(data: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (data[i] !== 0) return false;
  return true;
}

/** A segment's 24-byte header: magic (8), version (4), sequence (8), masked CRC-32C of the first 20 bytes. */
export function segmentHeader(magic: Buffer, seq: number): Buffer {
  const buf = Buffer.alloc(SEGMENT_HEADER_SIZE);
  magic.copy(buf, 0);
  buf.writeUInt32LE(FORMAT_VERSION, 8);
  putU53(buf, 12, seq);
  buf.writeUInt32LE(maskCrc(crc32c(buf.subarray(0, 20))), 20);
  return buf;
}

/**
 * Checks a segment's header. 'torn' when the file is shorter than a header
 * and a prefix of the expected one, or all zeros (a crash while creating
 * it); anything else wrong is CORRUPTION naming the file.
 */
export function checkSegmentHeader(path: string, data: Buffer, magic: Buffer, seq: number): 'ok' | 'torn' {
  const len = data.length;
  if (len < SEGMENT_HEADER_SIZE || allZero(data, 0, len)) {
    if (allZero(data, 0, len) || segmentHeader(magic, seq).subarray(0, len).equals(data)) return 'torn';
    if (!magic.subarray(0, Math.min(len, 8)).equals(data.subarray(0, Math.min(len, 8)))) throw corruption(path, 0, 'bad segment magic');
    throw corruption(path, 0, `segment header cut off (${len} bytes) and not a prefix of the expected header`);
  }
  if (!data.subarray(0, 8).equals(magic)) throw corruption(path, 0, 'bad segment magic');
  const version = data.readUInt32LE(8);
  if (version !== FORMAT_VERSION) throw corruption(path, 8, `unsupported segment format version ${version}`);
  if (maskCrc(crc32c(data.subarray(0, 20))) !== data.readUInt32LE(20)) throw corruption(path, 20, 'segment header checksum mismatch');
  if (getU53(data, 12) !== seq) throw corruption(path, 12, `segment sequence does not match the file name (${seq})`);
  return 'ok';
}

/**
 * The segments of a log directory in sequence order, and the next free
 * sequence number (after every segment, snapshot and temporary file:
 * `numbered` patterns capture the sequence as their last group).
 */
export function listSegments(fs: Fs, dir: string, segment: RegExp, numbered: readonly RegExp[]): { names: string[]; segments: Array<{ seq: number; name: string }>; nextSeq: number } {
  const names = fs.list(dir);
  const segments: Array<{ seq: number; name: string }> = [];
  let maxSeq = 0;
  const seqOf = (name: string, digits: string): number => {
    const n = Number(digits);
    if (!Number.isSafeInteger(n)) throw corruption(joinPath(dir, name), 0, 'file sequence number out of range');
    if (n > maxSeq) maxSeq = n;
    return n;
  };
  for (const name of names) {
    const s = segment.exec(name);
    if (s) {
      segments.push({ seq: seqOf(name, s[1]!), name });
      continue;
    }
    for (const re of numbered) {
      const m = re.exec(name);
      if (m) {
        seqOf(name, m[m.length - 1]!);
        break;
      }
    }
  }
  segments.sort((a, b) => a.seq - b.seq);
  return { names, segments, nextSeq: maxSeq + 1 };
}

export function encodeSnapshotFile(snap: Snapshot, seq: number): Buffer {
  const ids = [...snap.meta.conf.voters, ...snap.meta.conf.learners].map((id) => Buffer.from(id, 'utf8'));
  let size = SNAPSHOT_FIXED + snap.data.length;
  for (const id of ids) size += 2 + id.length;
  const buf = Buffer.allocUnsafe(size);
  SNAPSHOT_MAGIC.copy(buf, 0);
  buf.writeUInt32LE(FORMAT_VERSION, 8);
  putU53(buf, 16, seq);
  putU53(buf, 24, snap.meta.index);
  putU53(buf, 32, snap.meta.term);
  buf.writeUInt32LE(snap.meta.conf.voters.length, 40);
  buf.writeUInt32LE(snap.meta.conf.learners.length, 44);
  let off = 48;
  for (const id of ids) {
    buf.writeUInt16LE(id.length, off);
    id.copy(buf, off + 2);
    off += 2 + id.length;
  }
  putU53(buf, off, snap.data.length);
  buf.set(snap.data, off + 8);
  buf.writeUInt32LE(maskCrc(crc32c(buf.subarray(16))), 12);
  return buf;
}

export function decodeSnapshotFile(path: string, data: Buffer, seq: number): Snapshot {
  if (data.length < SNAPSHOT_MAGIC.length || !data.subarray(0, 8).equals(SNAPSHOT_MAGIC)) {
    throw corruption(path, 0, 'bad snapshot file magic');
  }
  if (data.length < SNAPSHOT_FIXED) throw corruption(path, 0, `snapshot file of ${data.length} bytes is cut off`);
  const version = data.readUInt32LE(8);
  if (version !== FORMAT_VERSION) throw corruption(path, 8, `unsupported snapshot format version ${version}`);
  if (maskCrc(crc32c(data.subarray(16))) !== data.readUInt32LE(12)) throw corruption(path, 12, 'snapshot checksum mismatch');
  if (getU53(data, 16) !== seq) throw corruption(path, 16, `snapshot sequence does not match the file name (${seq})`);
  const index = getU53(data, 24);
  const term = getU53(data, 32);
  if (index < 0 || term < 0) throw corruption(path, 24, 'snapshot index or term out of range');
  const nVoters = data.readUInt32LE(40);
  const nLearners = data.readUInt32LE(44);
  const dataEnd = data.length - 8;
  let off = 48;
  // Each id takes at least its 2-byte length: bound the counts before allocating.
  if ((nVoters + nLearners) * 2 > dataEnd - off) throw corruption(path, 40, `member counts ${nVoters}+${nLearners} exceed the file`);
  const readIds = (n: number): string[] => {
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      if (off + 2 > dataEnd) throw corruption(path, off, 'member id cut off');
      const len = data.readUInt16LE(off);
      if (off + 2 + len > dataEnd) throw corruption(path, off, `member id of ${len} bytes runs past the data length`);
      out.push(data.toString('utf8', off + 2, off + 2 + len));
      off += 2 + len;
    }
    return out;
  };
  const voters = readIds(nVoters);
  const learners = readIds(nLearners);
  const dataLen = getU53(data, off);
  if (dataLen !== data.length - off - 8) throw corruption(path, off, `data length ${dataLen} does not match the file size`);
  return { meta: { index, term, conf: { voters, learners } }, data: data.subarray(off + 8) };
}

export function validIndex(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

export function checkConf(conf: ConfState): void {
  for (const id of [...conf.voters, ...conf.learners]) {
    if (Buffer.byteLength(id, 'utf8') > 0xffff) throw invalidArgument(`node id longer than 65535 bytes`);
  }
}

/** Checks the entries of an `append` (consecutive, after `last` or overlapping it, valid numbers and sizes). */
export function checkAppend(entries: readonly Entry[], last: number, maxData: number): void {
  const first = entries[0]!.index;
  assert(first <= last + 1, `append at ${first} leaves a gap after ${last}`);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    assert(e.index === first + i, `append: entry ${i} has index ${e.index}, expected ${first + i}`);
    if (!validIndex(e.index) || !validIndex(e.term)) throw invalidArgument(`entry index/term out of range: ${e.index}/${e.term}`);
    if (e.type !== 0 && e.type !== 1) throw invalidArgument(`unknown entry type ${String(e.type)}`);
    if (e.data.length > maxData) throw invalidArgument(`entry ${e.index} of ${e.data.length} bytes is too large`);
  }
}

/** What a log answers once a write or sync failed: it refuses writes until reopened. */
export function readOnlyError(failure: unknown): StrataError {
  const detail = failure instanceof Error ? failure.message : String(failure);
  return new StrataError(ERROR_CODES.READ_ONLY, `raft log refuses writes after a failed write or sync (${detail}); reopen it`, { cause: failure });
}
