import {
  StrataError,
  closedError,
  corruption,
  crc32c,
  invalidArgument,
  joinPath,
  maskCrc,
  type FileLock,
  type Fs,
  type WritableFile,
} from '../../base/index.js';
import {
  ENTRY_FIXED,
  HARD_STATE_FIXED,
  SEGMENT_HEADER_SIZE,
  allZero,
  checkAppend,
  checkConf,
  checkSegmentHeader,
  decodeSnapshotFile,
  encodeSnapshotFile,
  getU53,
  listSegments,
  putU53,
  readOnlyError,
  segmentHeader,
  validIndex,
} from './log-files.js';
import { MemoryRaftLog } from './memory-log.js';
import type { RaftLogStore } from './storage.js';
import type { ConfState, Entry, HardState, Snapshot } from './types.js';

/*
 * The file-based Raft log. docs/formats.md ("Raft log (DiskRaftLog)")
 * describes the files byte by byte; in short:
 *
 * - Segments `<sequence: 20 decimal digits>.rlog`: a 24-byte header (magic
 *   "STRATARL", version, sequence, masked CRC-32C), then records
 *   `length u32 | masked crc32c(type ‖ payload) u32 | type u8 | payload`.
 *   Record kinds: ENTRY, HARD_STATE, SNAPSHOT_MARK. The type byte's high bit
 *   (CONTINUED) chains the records of one call into a group that replay
 *   applies whole or not at all (a torn group is dropped).
 * - Every segment that starts a *checkpoint* begins with a group
 *   SNAPSHOT_MARK, HARD_STATE, ENTRY*: the whole state (snapshot reference,
 *   hard state, every retained entry). One is written when a log is opened
 *   and one for each snapshot (createSnapshot / applySnapshot). Recovery
 *   replays from the newest segment that starts with a complete checkpoint;
 *   older segments are garbage and are removed once a newer checkpoint is
 *   durable.
 * - Snapshots `snap-<index: 16 hex>-<sequence: 20 decimal>.snap` (magic
 *   "STRATARS"): meta and data under one CRC, written to `<name>.tmp`,
 *   synced, renamed and the directory synced before the checkpoint naming
 *   it is written at all.
 */

const SEGMENT_MAGIC = Buffer.from('STRATARL', 'latin1');
/** length (4) + checksum (4) + type (1). */
const RECORD_HEADER_SIZE = 9;
const MARK_SIZE = 25;

/** Record kinds (the low 7 bits of a record's type byte). */
const RaftRecordKind = {
  Entry: 1,
  HardState: 2,
  SnapshotMark: 3,
} as const;
/** Type-byte flag: the next record belongs to the same group (one call). */
const CONTINUED = 0x80;

/** What a SNAPSHOT_MARK records as its origin (byte 16 of its payload). */
const MarkOrigin = {
  /** applySnapshot: the log is replaced by the snapshot. */
  Apply: 0,
  /** createSnapshot: entries up to the index are dropped. */
  Create: 1,
  /** The checkpoint written when the log is opened. */
  Open: 2,
} as const;

const SEGMENT_RE = /^(\d{20})\.rlog$/;
const SNAPSHOT_RE = /^snap-([0-9a-f]{16})-(\d{20})\.snap$/;
const TMP_RE = /^snap-[0-9a-f]{16}-(\d{20})\.snap\.tmp$/;

const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;

export function raftSegmentName(seq: number): string {
  return `${String(seq).padStart(20, '0')}.rlog`;
}

export function raftSnapshotName(index: number, seq: number): string {
  return `snap-${index.toString(16).padStart(16, '0')}-${String(seq).padStart(20, '0')}.snap`;
}

export interface DiskRaftLogOptions {
  /** A new segment is started once the current one holds this many bytes and is synced (default 64 MiB). */
  segmentBytes?: number;
}

/** What `open` found. */
export interface DiskRaftLogRecovery {
  /** The segment replay started at (its first group is a checkpoint), if any. */
  startSegment: string | undefined;
  /** Segments replayed (from startSegment on). */
  segments: number;
  /** Complete groups (calls) replayed. */
  groups: number;
  /** Whether a damaged or incomplete tail was dropped from some replayed segment. */
  tornTail: boolean;
  /** Bytes dropped with torn tails. */
  droppedBytes: number;
  /** The snapshot file loaded (undefined: no snapshot yet). */
  snapshotFile: string | undefined;
}

// ------------------------------------------------------------------ encoding

interface RecordSpec {
  kind: number;
  size: number;
  write(buf: Buffer, off: number): void;
}

function entrySpec(e: Entry): RecordSpec {
  return {
    kind: RaftRecordKind.Entry,
    size: ENTRY_FIXED + e.data.length,
    write(buf, off) {
      putU53(buf, off, e.index);
      putU53(buf, off + 8, e.term);
      buf[off + 16] = e.type;
      buf.set(e.data, off + ENTRY_FIXED);
    },
  };
}

function hardStateSpec(hs: HardState): RecordSpec {
  const vote = Buffer.from(hs.vote, 'utf8');
  return {
    kind: RaftRecordKind.HardState,
    size: HARD_STATE_FIXED + vote.length,
    write(buf, off) {
      putU53(buf, off, hs.term);
      putU53(buf, off + 8, hs.commit);
      vote.copy(buf, off + HARD_STATE_FIXED);
    },
  };
}

function markSpec(index: number, term: number, origin: number, snapSeq: number): RecordSpec {
  return {
    kind: RaftRecordKind.SnapshotMark,
    size: MARK_SIZE,
    write(buf, off) {
      putU53(buf, off, index);
      putU53(buf, off + 8, term);
      buf[off + 16] = origin;
      putU53(buf, off + 17, snapSeq);
    },
  };
}

/** Frames the records of one call; every record but the last carries CONTINUED. */
function encodeGroup(recs: readonly RecordSpec[]): Buffer {
  let total = 0;
  for (const r of recs) total += RECORD_HEADER_SIZE + r.size;
  const buf = Buffer.allocUnsafe(total);
  let off = 0;
  for (let i = 0; i < recs.length; i++) {
    const r = recs[i]!;
    buf.writeUInt32LE(r.size, off);
    buf[off + 8] = r.kind | (i < recs.length - 1 ? CONTINUED : 0);
    r.write(buf, off + RECORD_HEADER_SIZE);
    buf.writeUInt32LE(maskCrc(crc32c(buf.subarray(off + 8, off + RECORD_HEADER_SIZE + r.size))), off + 4);
    off += RECORD_HEADER_SIZE + r.size;
  }
  return buf;
}

// ------------------------------------------------------------------ parsing

interface Mark {
  index: number;
  term: number;
  origin: number;
  snapSeq: number;
}

interface ParsedRecord {
  kind: number;
  offset: number;
  entry?: Entry;
  hardState?: HardState;
  mark?: Mark;
}

interface ParsedGroup {
  offset: number;
  records: ParsedRecord[];
}

interface ParsedSegment {
  seq: number;
  name: string;
  path: string;
  groups: ParsedGroup[];
  /** A damaged or incomplete tail was dropped, starting at tornOffset. */
  torn: boolean;
  tornOffset: number;
  droppedBytes: number;
}

/** Whether a record with a known kind and a matching checksum starts at `q`. */
function validRecordAt(data: Buffer, q: number): boolean {
  if (data.length - q < RECORD_HEADER_SIZE) return false;
  const kind = data[q + 8]! & ~CONTINUED;
  if (kind < RaftRecordKind.Entry || kind > RaftRecordKind.SnapshotMark) return false;
  const end = q + RECORD_HEADER_SIZE + data.readUInt32LE(q);
  if (end > data.length) return false;
  return maskCrc(crc32c(data.subarray(q + 8, end))) === data.readUInt32LE(q + 4);
}

/** Decodes a record whose checksum matched; structural damage is CORRUPTION (a crash cannot cause it). */
function decodeRecord(path: string, offset: number, type: number, p: Buffer): ParsedRecord {
  const kind = type & ~CONTINUED;
  switch (kind) {
    case RaftRecordKind.Entry: {
      if (p.length < ENTRY_FIXED) throw corruption(path, offset, `ENTRY record of ${p.length} bytes is too short`);
      const index = getU53(p, 0);
      const term = getU53(p, 8);
      const etype = p[16]!;
      if (index < 0 || term < 0) throw corruption(path, offset, 'entry index or term out of range');
      if (etype > 1) throw corruption(path, offset, `unknown entry type ${etype}`);
      // A copy: entries outlive the segment's buffer.
      const entry: Entry = { index, term, type: etype as 0 | 1, data: new Uint8Array(p.subarray(ENTRY_FIXED)) };
      return { kind, offset, entry };
    }
    case RaftRecordKind.HardState: {
      if (p.length < HARD_STATE_FIXED) throw corruption(path, offset, `HARD_STATE record of ${p.length} bytes is too short`);
      const term = getU53(p, 0);
      const commit = getU53(p, 8);
      if (term < 0 || commit < 0) throw corruption(path, offset, 'hard state term or commit out of range');
      return { kind, offset, hardState: { term, vote: p.toString('utf8', HARD_STATE_FIXED), commit } };
    }
    case RaftRecordKind.SnapshotMark: {
      if (p.length !== MARK_SIZE) throw corruption(path, offset, `SNAPSHOT_MARK record of ${p.length} bytes (expected ${MARK_SIZE})`);
      const mark: Mark = { index: getU53(p, 0), term: getU53(p, 8), origin: p[16]!, snapSeq: getU53(p, 17) };
      if (mark.index < 0 || mark.term < 0 || mark.snapSeq < 0) throw corruption(path, offset, 'snapshot mark field out of range');
      if (mark.origin > MarkOrigin.Open) throw corruption(path, offset, `unknown snapshot mark origin ${mark.origin}`);
      return { kind, offset, mark };
    }
    default:
      throw corruption(path, offset, `unknown record type ${type}`);
  }
}

/**
 * Reads one segment. A damaged record (cut off by the end of the file, or a
 * checksum mismatch) or an incomplete group ends the segment as a torn tail
 * when nothing valid follows it; a checksum mismatch with a valid record
 * anywhere after it is CORRUPTION. A record cut off by the end of the file is
 * not searched: its bytes are a prefix of entry data, which may hold anything.
 */
function parseSegment(fs: Fs, dir: string, seq: number, name: string): ParsedSegment {
  const path = joinPath(dir, name);
  const data = fs.readFile(path);
  const len = data.length;
  const res: ParsedSegment = { seq, name, path, groups: [], torn: false, tornOffset: 0, droppedBytes: 0 };
  if (checkSegmentHeader(path, data, SEGMENT_MAGIC, seq) === 'torn') {
    res.torn = true;
    res.droppedBytes = len;
    return res;
  }
  let pos = SEGMENT_HEADER_SIZE;
  let group: ParsedGroup | undefined;
  let damageAt = -1;
  while (pos < len) {
    let what: string | undefined;
    let cutOff = false;
    let end = len;
    if (len - pos < RECORD_HEADER_SIZE) {
      what = 'record header cut off by end of file';
      cutOff = true;
    } else {
      const length = data.readUInt32LE(pos);
      end = pos + RECORD_HEADER_SIZE + length;
      if (end > len) {
        what = `record of ${length} bytes cut off by end of file`;
        cutOff = true;
      } else if (maskCrc(crc32c(data.subarray(pos + 8, end))) !== data.readUInt32LE(pos + 4)) {
        what = 'record checksum mismatch';
      }
    }
    if (what !== undefined) {
      if (!cutOff && !allZero(data, pos, len)) {
        for (let q = pos + 1; q + RECORD_HEADER_SIZE <= len; q++) {
          if (validRecordAt(data, q)) throw corruption(path, pos, `${what} (a valid record follows at ${q})`);
        }
      }
      damageAt = pos;
      break;
    }
    const type = data[pos + 8]!;
    const rec = decodeRecord(path, pos, type, data.subarray(pos + RECORD_HEADER_SIZE, end));
    group ??= { offset: pos, records: [] };
    group.records.push(rec);
    if ((type & CONTINUED) === 0) {
      res.groups.push(group);
      group = undefined;
    }
    pos = end;
  }
  if (damageAt >= 0 || group !== undefined) {
    // The tail (an incomplete group included) is dropped.
    res.torn = true;
    res.tornOffset = group !== undefined ? group.offset : damageAt;
    res.droppedBytes = len - res.tornOffset;
  }
  return res;
}

// ------------------------------------------------------------------ the log

interface OpenSegment {
  seq: number;
  path: string;
  file: WritableFile;
  /** Bytes known durable (a sync of the file completed covering them). */
  synced: number;
  /** Value of dirChanges when the file was created: durable once dirSynced reaches it. */
  dirChange: number;
}

/** A snapshot whose file and checkpoint are not yet written (see sync). */
interface PendingSnapshot {
  snap: Snapshot;
  snapSeq: number;
  /** The checkpoint group, encoded when the call was made. */
  checkpoint: Buffer;
  /** Groups of the calls made after it, in order. */
  after: Buffer[];
}

/** The newest checkpoint: once durable, everything older is garbage. */
interface Base {
  seg: OpenSegment;
  /** End offset of the checkpoint group in seg. */
  checkpointEnd: number;
  /** The snapshot file it names (undefined: the empty initial snapshot). */
  snapFile: string | undefined;
}

const EMPTY_SNAPSHOT_DATA = new Uint8Array(0);

/**
 * A `RaftLogStore` in segment files (format: docs/formats.md, "Raft log
 * (DiskRaftLog)").
 *
 * Every entry since the last snapshot is kept in memory (as etcd's
 * MemoryStorage does), so the read side (`term`, `entries`, ...) never touches
 * the disk; the files exist to rebuild that state at `open`, which replays
 * them with `readFile`.
 *
 * Writes: `append` and `setHardState` append one record group to the current
 * segment at once (a page-cache write); `sync` makes them durable.
 * `createSnapshot` and `applySnapshot` update the in-memory state at once but
 * their files are written by the next `sync`: first the snapshot file
 * (written to a temporary name, synced, renamed, directory synced), then a new
 * segment starting with a checkpoint of the state as of that call, followed
 * by the groups of the calls made after it (held in memory until then, so the
 * files always hold the calls in order). Only after that segment is durable
 * are older segments and snapshot files removed.
 *
 * Crash contract: after `await sync()` resolves, a crash leaves exactly the
 * state as of that sync; a crash at any moment leaves the state after some
 * prefix of the mutating calls that includes every call made before the last
 * completed sync. A failed sync (or write) makes the log refuse further
 * writes (READ_ONLY); reopen it.
 *
 * `close` does not sync: calls after the last `sync` may be lost (a suffix
 * of them, as with a crash). A `sync` called before `close` still makes the
 * bytes already written durable, but one that would have to write a pending
 * snapshot rejects with CLOSED (close drops it).
 *
 * As with MemoryRaftLog, entries and snapshots are held by reference: their
 * `data` must not be modified after the call (a snapshot's file is written
 * from it by the next `sync`).
 */
export class DiskRaftLog implements RaftLogStore {
  /** What open found (torn tails dropped, segments replayed). */
  readonly recovery: DiskRaftLogRecovery;

  private readonly fs: Fs;
  private readonly dir: string;
  private readonly lock: FileLock;
  private readonly segmentBytes: number;
  private mem = new MemoryRaftLog();
  private nextSeq = 1;
  private seg!: OpenSegment;
  private base!: Base;
  /** The base is not yet known to be durable and older files not yet removed. */
  private cleanupPending = true;
  private pending: PendingSnapshot | undefined;
  /** Directory changes made (creations, renames, removals) and how many a completed syncDir covered. */
  private dirChanges = 0;
  private dirSynced = 0;
  private syncTail: Promise<void> = Promise.resolve();
  /** sync() calls not yet settled. */
  private syncsOutstanding = 0;
  /** close() dropped a snapshot (and the calls behind it) that no sync had written. */
  private lostAtClose = false;
  /** The first write or sync failure; later writes are refused. */
  private failure: unknown;
  private failed = false;
  private closed = false;

  /**
   * Opens (creating `dir` if needed) and recovers the log. Takes the
   * directory's LOCK file until `close`.
   */
  static open(fs: Fs, dir: string, options?: DiskRaftLogOptions): DiskRaftLog {
    const segmentBytes = options?.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    if (!Number.isSafeInteger(segmentBytes) || segmentBytes < 1) {
      throw invalidArgument(`segmentBytes must be a positive integer, got ${segmentBytes}`);
    }
    fs.mkdir(dir);
    const lock = fs.lock(joinPath(dir, 'LOCK'));
    try {
      return new DiskRaftLog(fs, dir, lock, segmentBytes);
    } catch (err) {
      try {
        lock.release();
      } catch {
        // The original error matters more.
      }
      throw err;
    }
  }

  private constructor(fs: Fs, dir: string, lock: FileLock, segmentBytes: number) {
    this.fs = fs;
    this.dir = dir;
    this.lock = lock;
    this.segmentBytes = segmentBytes;
    const { recovery, snapSeq } = this.recover();
    this.recovery = recovery;
    // Every run starts a new segment with a checkpoint of the recovered state:
    // the older segments (a torn tail, unsynced bytes of a run that ended
    // without sync) are never appended to and go once it is durable.
    const seg = this.createSegment();
    seg.file.append(this.encodeCheckpoint(MarkOrigin.Open, snapSeq));
    this.base = { seg, checkpointEnd: seg.file.size, snapFile: recovery.snapshotFile };
  }

  // ---------------------------------------------------------------- reads

  initialState(): { hardState: HardState; confState: ConfState } {
    return this.mem.initialState();
  }
  firstIndex(): number {
    return this.mem.firstIndex();
  }
  lastIndex(): number {
    return this.mem.lastIndex();
  }
  term(index: number): number | undefined {
    return this.mem.term(index);
  }
  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    return this.mem.entries(lo, hi, maxBytes);
  }
  snapshot(): Snapshot {
    return this.mem.snapshot();
  }

  // ---------------------------------------------------------------- writes

  append(entries: readonly Entry[]): void {
    this.checkWritable();
    if (entries.length === 0) return;
    checkAppend(entries, this.mem.lastIndex(), 0xffffffff - ENTRY_FIXED);
    const off = this.mem.firstIndex() - 1;
    let skip = 0;
    // Entries at or before the snapshot are already covered by it.
    while (skip < entries.length && entries[skip]!.index <= off) skip++;
    if (skip === entries.length) return;
    this.write(encodeGroup(entries.slice(skip).map(entrySpec)));
    this.mem.append(entries);
  }

  setHardState(hs: HardState): void {
    this.checkWritable();
    if (!validIndex(hs.term) || !validIndex(hs.commit)) throw invalidArgument(`hard state term/commit out of range: ${hs.term}/${hs.commit}`);
    if (Buffer.byteLength(hs.vote, 'utf8') > 0xffffffff - HARD_STATE_FIXED) throw invalidArgument('vote too long');
    this.write(encodeGroup([hardStateSpec(hs)]));
    this.mem.setHardState(hs);
  }

  applySnapshot(snap: Snapshot): void {
    this.checkWritable();
    if (!validIndex(snap.meta.index) || !validIndex(snap.meta.term)) {
      throw invalidArgument(`snapshot index/term out of range: ${snap.meta.index}/${snap.meta.term}`);
    }
    checkConf(snap.meta.conf);
    this.mem.applySnapshot(snap);
    this.queueSnapshot(MarkOrigin.Apply);
  }

  createSnapshot(index: number, conf: ConfState, data: Uint8Array): void {
    this.checkWritable();
    checkConf(conf);
    this.mem.createSnapshot(index, conf, data);
    this.queueSnapshot(MarkOrigin.Create);
  }

  sync(): Promise<void> {
    if (this.closed) return Promise.reject(closedError('raft log'));
    // One sync at a time, in call order: each covers every call made before it started.
    this.syncsOutstanding++;
    const run = this.syncTail.then(() => this.doSync());
    this.syncTail = run.then(
      () => {
        this.syncsOutstanding--;
      },
      () => {
        this.syncsOutstanding--;
      },
    );
    return run;
  }

  /**
   * Releases the LOCK. Does not sync, but a `sync()` called before still
   * runs: it makes the bytes already written durable (it creates and removes
   * no files once the lock is released), and rejects with CLOSED if close
   * dropped a snapshot it had not written yet.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.pending) {
      this.pending = undefined;
      this.lostAtClose = true;
    }
    let first: unknown;
    const file = this.seg.file;
    if (this.syncsOutstanding > 0) {
      void this.syncTail.then(() => {
        try {
          file.close();
        } catch {
          // Nothing to report it to.
        }
      });
    } else {
      try {
        file.close();
      } catch (err) {
        first = err;
      }
    }
    try {
      this.lock.release();
    } catch (err) {
      first ??= err;
    }
    if (first !== undefined) throw first;
  }

  // ---------------------------------------------------------------- internals

  private checkWritable(): void {
    this.checkOpen();
    if (this.failed) throw this.readOnlyError();
  }

  private readOnlyError(): StrataError {
    return readOnlyError(this.failure);
  }

  private fail(err: unknown): void {
    if (!this.failed) {
      this.failed = true;
      this.failure = err;
    }
  }

  /** The whole state as one checkpoint group: mark, hard state, every held entry. */
  private encodeCheckpoint(origin: number, snapSeq: number): Buffer {
    const meta = this.mem.snapshot().meta;
    const recs: RecordSpec[] = [markSpec(meta.index, meta.term, origin, snapSeq), hardStateSpec(this.mem.initialState().hardState)];
    const first = this.mem.firstIndex();
    const last = this.mem.lastIndex();
    if (last >= first) for (const e of this.mem.entries(first, last + 1, Number.POSITIVE_INFINITY)) recs.push(entrySpec(e));
    return encodeGroup(recs);
  }

  private queueSnapshot(origin: number): void {
    const snapSeq = this.nextSeq++;
    // A newer snapshot supersedes a pending one: its checkpoint covers the
    // older one's calls and those made after it.
    this.pending = { snap: this.mem.snapshot(), snapSeq, checkpoint: this.encodeCheckpoint(origin, snapSeq), after: [] };
  }

  /** Appends one call's group, or holds it behind a pending snapshot. */
  private write(group: Buffer): void {
    if (this.pending) {
      this.pending.after.push(group);
      return;
    }
    try {
      let seg = this.seg;
      // Rotate only when the segment is wholly durable: then a later segment
      // can never hold records while an earlier one lost some.
      if (seg.file.size >= this.segmentBytes && seg.synced === seg.file.size) {
        seg = this.createSegment();
      }
      seg.file.append(group);
    } catch (err) {
      this.fail(err);
      throw err;
    }
  }

  /** Creates the next segment (header written) and makes it current. */
  private createSegment(): OpenSegment {
    const seq = this.nextSeq++;
    const path = joinPath(this.dir, raftSegmentName(seq));
    const file = this.fs.createWritable(path);
    this.dirChanges++;
    const seg: OpenSegment = { seq, path, file, synced: 0, dirChange: this.dirChanges };
    file.append(segmentHeader(SEGMENT_MAGIC, seq));
    const old = this.seg as OpenSegment | undefined;
    this.seg = seg;
    old?.file.close();
    return seg;
  }

  private async doSync(): Promise<void> {
    if (this.failed) throw this.readOnlyError();
    try {
      while (this.pending) await this.materialize(this.pending);
      if (this.lostAtClose) throw closedError('raft log');
      await this.syncSegment(this.seg);
      await this.syncDir();
      if (!this.closed) await this.cleanup();
    } catch (err) {
      if (!this.closed) this.fail(err);
      throw err;
    }
  }

  /** Throws CLOSED once close() ran: a running sync creates no files after it. */
  private checkOpen(): void {
    if (this.closed) throw closedError('raft log');
  }

  private async syncSegment(seg: OpenSegment): Promise<void> {
    const size = seg.file.size;
    if (seg.synced >= size) return;
    await seg.file.sync();
    if (size > seg.synced) seg.synced = size;
  }

  private async syncDir(): Promise<void> {
    if (this.dirSynced >= this.dirChanges) return;
    const upTo = this.dirChanges;
    await this.fs.syncDir(this.dir);
    if (upTo > this.dirSynced) this.dirSynced = upTo;
  }

  /**
   * Writes a pending snapshot: the segment so far durable, then the snapshot
   * file durable under its final name, then a new segment with the
   * checkpoint and the calls held behind it. The checkpoint (which names the
   * file) can thus never be durable without the file.
   */
  private async materialize(p: PendingSnapshot): Promise<void> {
    // While p is pending, nothing is appended to the current segment.
    await this.syncSegment(this.seg);
    this.checkOpen();
    const name = raftSnapshotName(p.snap.meta.index, p.snapSeq);
    const tmp = joinPath(this.dir, `${name}.tmp`);
    const file = this.fs.createWritable(tmp);
    this.dirChanges++;
    file.append(encodeSnapshotFile(p.snap, p.snapSeq));
    await file.sync();
    file.close();
    this.checkOpen();
    this.fs.rename(tmp, joinPath(this.dir, name));
    this.dirChanges++;
    await this.syncDir();
    this.checkOpen();
    // A newer snapshot replaced p meanwhile: its checkpoint covers p's calls.
    if (this.pending !== p) return;
    const seg = this.createSegment();
    seg.file.append(p.checkpoint);
    const checkpointEnd = seg.file.size;
    for (const g of p.after) seg.file.append(g);
    this.pending = undefined;
    this.base = { seg, checkpointEnd, snapFile: name };
    this.cleanupPending = true;
  }

  /** Once the newest checkpoint is durable: removes older segments, other snapshot files and temporaries. */
  private async cleanup(): Promise<void> {
    const b = this.base;
    if (!this.cleanupPending || b.seg.synced < b.checkpointEnd || this.dirSynced < b.seg.dirChange) return;
    this.cleanupPending = false;
    for (const name of this.fs.list(this.dir)) {
      const seg = SEGMENT_RE.exec(name);
      const obsolete = seg ? Number(seg[1]) < b.seg.seq : SNAPSHOT_RE.test(name) ? name !== b.snapFile : TMP_RE.test(name);
      if (!obsolete) continue;
      this.fs.remove(joinPath(this.dir, name));
      this.dirChanges++;
    }
    await this.syncDir();
  }

  // ---------------------------------------------------------------- recovery

  /**
   * Replays the segments from the newest one that starts with a complete
   * checkpoint (all of them if none does) into `mem`.
   */
  private recover(): { recovery: DiskRaftLogRecovery; snapSeq: number } {
    const { names, segments: segs, nextSeq } = listSegments(this.fs, this.dir, SEGMENT_RE, [SNAPSHOT_RE, TMP_RE]);
    this.nextSeq = nextSeq;

    const parsed: ParsedSegment[] = [];
    let start = 0;
    for (let i = segs.length - 1; i >= 0; i--) {
      const p = parseSegment(this.fs, this.dir, segs[i]!.seq, segs[i]!.name);
      parsed[i] = p;
      if (p.groups[0]?.records[0]?.kind === RaftRecordKind.SnapshotMark) {
        start = i;
        break;
      }
    }

    const recovery: DiskRaftLogRecovery = {
      startSegment: undefined,
      segments: 0,
      groups: 0,
      tornTail: false,
      droppedBytes: 0,
      snapshotFile: undefined,
    };
    let snapSeq = 0;
    let torn: ParsedSegment | undefined;
    for (let i = start; i < segs.length; i++) {
      const p = parsed[i]!;
      if (torn && p.groups.length > 0) {
        throw corruption(torn.path, torn.tornOffset, `damaged or incomplete tail, but a later segment (${p.name}) holds records`);
      }
      for (let g = 0; g < p.groups.length; g++) {
        const mark = this.replayGroup(p, p.groups[g]!, g === 0, names);
        if (mark) {
          recovery.startSegment = p.name;
          snapSeq = mark.snapSeq;
          recovery.snapshotFile = mark.snapSeq === 0 ? undefined : raftSnapshotName(mark.index, mark.snapSeq);
        }
        recovery.groups++;
      }
      recovery.segments++;
      if (p.torn) {
        torn ??= p;
        recovery.tornTail = true;
        recovery.droppedBytes += p.droppedBytes;
      }
    }
    return { recovery, snapSeq };
  }

  /** Applies one complete group; returns its mark if it is a checkpoint. */
  private replayGroup(seg: ParsedSegment, group: ParsedGroup, firstInSegment: boolean, names: readonly string[]): Mark | undefined {
    const recs = group.records;
    let i = 0;
    let mark: Mark | undefined;
    if (recs[0]!.kind === RaftRecordKind.SnapshotMark) {
      if (!firstInSegment) throw corruption(seg.path, group.offset, 'snapshot mark not at the start of a segment');
      mark = recs[0]!.mark!;
      if (recs[1]?.kind !== RaftRecordKind.HardState) throw corruption(seg.path, group.offset, 'checkpoint without a hard state record');
      const snap = this.loadSnapshot(seg, group.offset, mark, names);
      const m = this.mem;
      const off = m.firstIndex() - 1;
      if (mark.origin === MarkOrigin.Create && mark.index > off && mark.index <= m.lastIndex() && m.term(mark.index) === mark.term) {
        m.createSnapshot(mark.index, snap.meta.conf, snap.data);
      } else {
        m.applySnapshot(snap);
      }
      i = 1;
    }
    let batch: Entry[] = [];
    let batchOffset = 0;
    const flush = (): void => {
      if (batch.length === 0) return;
      const first = batch[0]!.index;
      const last = this.mem.lastIndex();
      if (first > last + 1) throw corruption(seg.path, batchOffset, `entry ${first} leaves a gap after ${last}`);
      this.mem.append(batch);
      batch = [];
    };
    for (; i < recs.length; i++) {
      const r = recs[i]!;
      if (r.kind === RaftRecordKind.SnapshotMark) throw corruption(seg.path, r.offset, 'snapshot mark inside a group');
      if (r.kind === RaftRecordKind.HardState) {
        flush();
        this.mem.setHardState(r.hardState!);
        continue;
      }
      const e = r.entry!;
      if (batch.length === 0) batchOffset = r.offset;
      else if (e.index !== batch[batch.length - 1]!.index + 1) throw corruption(seg.path, r.offset, `entry ${e.index} out of order`);
      batch.push(e);
    }
    flush();
    return mark;
  }

  private loadSnapshot(seg: ParsedSegment, offset: number, mark: Mark, names: readonly string[]): Snapshot {
    if (mark.snapSeq === 0) {
      if (mark.index !== 0 || mark.term !== 0) throw corruption(seg.path, offset, `snapshot mark at ${mark.index} names no snapshot file`);
      return { meta: { index: 0, term: 0, conf: { voters: [], learners: [] } }, data: EMPTY_SNAPSHOT_DATA };
    }
    const name = raftSnapshotName(mark.index, mark.snapSeq);
    const path = joinPath(this.dir, name);
    if (!names.includes(name)) throw corruption(path, 0, `snapshot file named by the checkpoint at ${seg.path}:${offset} is missing`);
    const snap = decodeSnapshotFile(path, this.fs.readFile(path), mark.snapSeq);
    if (snap.meta.index !== mark.index || snap.meta.term !== mark.term) {
      throw corruption(path, 24, `snapshot is at ${snap.meta.index}/${snap.meta.term}, its mark says ${mark.index}/${mark.term}`);
    }
    return snap;
  }
}
