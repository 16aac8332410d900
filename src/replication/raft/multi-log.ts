import {
  ERROR_CODES,
  StrataError,
  assert,
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
 * One Raft log for every group of a node (docs/formats.md, "Shared Raft log
 * (MultiRaftLog)"). A node hosts dozens of groups; with a log per group,
 * every round of replication costs a write and an fdatasync per group. Here
 * the groups' records go to one file, and the fsyncs of every group asking
 * in the same turn of the event loop are one: a group commit.
 *
 * - Segments `<sequence: 20 digits>.mrlog`: a 24-byte header (magic
 *   "STRATAMR", version, sequence, masked CRC-32C), then *batches*
 *   `length u32 | masked crc32c(payload) u32 | payload`. A batch is what one
 *   flush wrote; replay applies it whole or not at all. Its payload is
 *   records `kind u8 | group id length u16 | body length u32 | group id | body`.
 * - A group's *checkpoint* is MARK, HARD_STATE, ENTRY*: its whole state
 *   (snapshot reference, hard state, every retained entry). A group writes
 *   one when it is created and with each snapshot; the log writes one for
 *   every group at open (a batch starting with FULL: replay starts at the
 *   newest segment that begins with a complete one, or at the oldest segment
 *   once that one is gone) and for each group whose newest checkpoint is more
 *   than a segment old when it starts a segment.
 *   A segment older than every group's newest durable checkpoint is garbage,
 *   and so is the snapshot file of a superseded checkpoint: replay skips a
 *   group's records before its first checkpoint when it did not start at a
 *   FULL, and a missing snapshot file is an error only for the checkpoint a
 *   group ends up with.
 * - Snapshots `snap-<group id, hex>-<index: 16 hex>-<sequence: 20 digits>.snap`
 *   (the DiskRaftLog snapshot file format), written to `<name>.tmp`, synced,
 *   renamed and the directory synced before the checkpoint naming them.
 */

const SEGMENT_MAGIC = Buffer.from('STRATAMR', 'latin1');
const BATCH_HEADER_SIZE = 8;
/** kind (1) + group id length (2) + body length (4). */
const RECORD_HEADER_SIZE = 7;
const MARK_SIZE = 25;
const FULL_SIZE = 4;
const MAX_GROUP_ID_BYTES = 0xffff;

/** Record kinds. */
const Kind = {
  /** Starts the batch written at open: a checkpoint of every group follows (body: their count). */
  Full: 1,
  Mark: 2,
  HardState: 3,
  Entry: 4,
  /** The group is gone (its replica was removed); its files are garbage. */
  Drop: 5,
} as const;

/** Why a checkpoint was written (byte 16 of a MARK body). */
const Origin = {
  /** applySnapshot: the group's log is replaced by the snapshot. */
  Apply: 0,
  /** createSnapshot: entries up to the index are dropped. */
  Create: 1,
  /** At open (in the FULL batch) or when the group was created. */
  Open: 2,
  /** Rewritten so that old segments can go. */
  Rewrite: 3,
} as const;

const SEGMENT_RE = /^(\d{20})\.mrlog$/;
const SNAPSHOT_RE = /^snap-([0-9a-f]+)-([0-9a-f]{16})-(\d{20})\.snap$/;
const TMP_RE = /^snap-[0-9a-f]+-[0-9a-f]{16}-(\d{20})\.snap\.tmp$/;

const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;

export function multiLogSegmentName(seq: number): string {
  return `${String(seq).padStart(20, '0')}.mrlog`;
}

export function multiLogSnapshotName(group: string, index: number, seq: number): string {
  return `snap-${Buffer.from(group, 'utf8').toString('hex')}-${index.toString(16).padStart(16, '0')}-${String(seq).padStart(20, '0')}.snap`;
}

export interface MultiRaftLogOptions {
  /** A new segment is started by the first flush after the current one reaches this many bytes (default 64 MiB). */
  segmentBytes?: number;
  /**
   * Runs a requested flush later, so that every sync asked for until then
   * shares it. Default: a microtask (the syncs asked in the same
   * synchronous run share a flush); a node passes `setImmediate`, so
   * everything the current turn of the event loop does (every message of
   * every group that arrived in it) shares one.
   */
  defer?: (run: () => void) => void;
}

/** What `open` found. */
export interface MultiRaftLogRecovery {
  /** The segment replay started at (its first batch is a FULL checkpoint), if any. */
  startSegment: string | undefined;
  /** Segments replayed. */
  segments: number;
  /** Complete batches replayed. */
  batches: number;
  /** Groups recovered (not dropped). */
  groups: number;
  /** Whether a damaged or incomplete tail was dropped. */
  tornTail: boolean;
  /** Bytes dropped with torn tails. */
  droppedBytes: number;
}

// ------------------------------------------------------------------ encoding

/** A buffer of records being filled, sized up front. */
class RecordBuffer {
  readonly buf: Buffer;
  private off = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }
  /** Writes a record header and the group id; returns the body's offset. */
  record(kind: number, gid: Buffer, bodySize: number): number {
    const b = this.buf;
    const o = this.off;
    b[o] = kind;
    b.writeUInt16LE(gid.length, o + 1);
    b.writeUInt32LE(bodySize, o + 3);
    gid.copy(b, o + RECORD_HEADER_SIZE);
    const body = o + RECORD_HEADER_SIZE + gid.length;
    this.off = body + bodySize;
    return body;
  }
  done(): Buffer {
    assert(this.off === this.buf.length, `record buffer filled ${this.off} of ${this.buf.length} bytes`);
    return this.buf;
  }
}

const recordSize = (gid: Buffer, body: number): number => RECORD_HEADER_SIZE + gid.length + body;

function writeEntry(w: RecordBuffer, gid: Buffer, e: Entry): void {
  const o = w.record(Kind.Entry, gid, ENTRY_FIXED + e.data.length);
  putU53(w.buf, o, e.index);
  putU53(w.buf, o + 8, e.term);
  w.buf[o + 16] = e.type;
  w.buf.set(e.data, o + ENTRY_FIXED);
}

function writeHardState(w: RecordBuffer, gid: Buffer, hs: HardState, vote: Buffer): void {
  const o = w.record(Kind.HardState, gid, HARD_STATE_FIXED + vote.length);
  putU53(w.buf, o, hs.term);
  putU53(w.buf, o + 8, hs.commit);
  vote.copy(w.buf, o + HARD_STATE_FIXED);
}

function encodeEntries(gid: Buffer, entries: readonly Entry[]): Buffer {
  let size = 0;
  for (const e of entries) size += recordSize(gid, ENTRY_FIXED + e.data.length);
  const w = new RecordBuffer(size);
  for (const e of entries) writeEntry(w, gid, e);
  return w.done();
}

function encodeHardState(gid: Buffer, hs: HardState): Buffer {
  const vote = Buffer.from(hs.vote, 'utf8');
  const w = new RecordBuffer(recordSize(gid, HARD_STATE_FIXED + vote.length));
  writeHardState(w, gid, hs, vote);
  return w.done();
}

/** A group's whole state: MARK, HARD_STATE, every retained entry. */
function encodeCheckpoint(gid: Buffer, mem: MemoryRaftLog, origin: number, snapSeq: number): Buffer {
  const meta = mem.snapshot().meta;
  const hs = mem.initialState().hardState;
  const vote = Buffer.from(hs.vote, 'utf8');
  const first = mem.firstIndex();
  const last = mem.lastIndex();
  const ents = last >= first ? mem.entries(first, last + 1, Number.POSITIVE_INFINITY) : [];
  let size = recordSize(gid, MARK_SIZE) + recordSize(gid, HARD_STATE_FIXED + vote.length);
  for (const e of ents) size += recordSize(gid, ENTRY_FIXED + e.data.length);
  const w = new RecordBuffer(size);
  const o = w.record(Kind.Mark, gid, MARK_SIZE);
  putU53(w.buf, o, meta.index);
  putU53(w.buf, o + 8, meta.term);
  w.buf[o + 16] = origin;
  putU53(w.buf, o + 17, snapSeq);
  writeHardState(w, gid, hs, vote);
  for (const e of ents) writeEntry(w, gid, e);
  return w.done();
}

function encodeSimple(kind: number, gid: Buffer, body: number, fill?: (buf: Buffer, off: number) => void): Buffer {
  const w = new RecordBuffer(recordSize(gid, body));
  const o = w.record(kind, gid, body);
  fill?.(w.buf, o);
  return w.done();
}

// ------------------------------------------------------------------ parsing

interface ParsedRecord {
  kind: number;
  group: string;
  /** Offset of the record in its segment. */
  offset: number;
  body: Buffer;
}

interface ParsedBatch {
  offset: number;
  records: ParsedRecord[];
}

interface ParsedSegment {
  seq: number;
  name: string;
  path: string;
  batches: ParsedBatch[];
  torn: boolean;
  tornOffset: number;
  droppedBytes: number;
}

/** Whether a batch with a matching checksum starts at `q`. */
function validBatchAt(data: Buffer, q: number): boolean {
  if (data.length - q < BATCH_HEADER_SIZE) return false;
  const length = data.readUInt32LE(q);
  if (length === 0) return false;
  const end = q + BATCH_HEADER_SIZE + length;
  if (end > data.length) return false;
  return maskCrc(crc32c(data.subarray(q + BATCH_HEADER_SIZE, end))) === data.readUInt32LE(q + 4);
}

/** Splits a checksummed batch into records; structural damage is CORRUPTION (a crash cannot cause it). */
function parseRecords(path: string, data: Buffer, from: number, end: number): ParsedRecord[] {
  const out: ParsedRecord[] = [];
  let p = from;
  while (p < end) {
    if (end - p < RECORD_HEADER_SIZE) throw corruption(path, p, 'record header runs past its batch');
    const kind = data[p]!;
    const gidLen = data.readUInt16LE(p + 1);
    const bodyLen = data.readUInt32LE(p + 3);
    const body = p + RECORD_HEADER_SIZE + gidLen;
    if (body + bodyLen > end) throw corruption(path, p, `record of ${gidLen}+${bodyLen} bytes runs past its batch`);
    if (kind < Kind.Full || kind > Kind.Drop) throw corruption(path, p, `unknown record kind ${kind}`);
    out.push({ kind, group: data.toString('utf8', p + RECORD_HEADER_SIZE, body), offset: p, body: data.subarray(body, body + bodyLen) });
    p = body + bodyLen;
  }
  return out;
}

/**
 * Reads one segment. A damaged batch (cut off by the end of the file, or a
 * checksum mismatch) ends the segment as a torn tail when nothing valid
 * follows it; a checksum mismatch with a valid batch anywhere after it is
 * CORRUPTION.
 */
function parseSegment(fs: Fs, dir: string, seq: number, name: string): ParsedSegment {
  const path = joinPath(dir, name);
  const data = fs.readFile(path);
  const len = data.length;
  const res: ParsedSegment = { seq, name, path, batches: [], torn: false, tornOffset: 0, droppedBytes: 0 };
  if (checkSegmentHeader(path, data, SEGMENT_MAGIC, seq) === 'torn') {
    res.torn = true;
    res.droppedBytes = len;
    return res;
  }
  let pos = SEGMENT_HEADER_SIZE;
  while (pos < len) {
    let what: string | undefined;
    let cutOff = false;
    let end = len;
    if (len - pos < BATCH_HEADER_SIZE) {
      what = 'batch header cut off by end of file';
      cutOff = true;
    } else {
      const length = data.readUInt32LE(pos);
      end = pos + BATCH_HEADER_SIZE + length;
      if (end > len) {
        what = `batch of ${length} bytes cut off by end of file`;
        cutOff = true;
      } else if (length === 0 || maskCrc(crc32c(data.subarray(pos + BATCH_HEADER_SIZE, end))) !== data.readUInt32LE(pos + 4)) {
        what = 'batch checksum mismatch';
      }
    }
    if (what !== undefined) {
      if (!cutOff && !allZero(data, pos, len)) {
        for (let q = pos + 1; q + BATCH_HEADER_SIZE <= len; q++) {
          if (validBatchAt(data, q)) throw corruption(path, pos, `${what} (a valid batch follows at ${q})`);
        }
      }
      res.torn = true;
      res.tornOffset = pos;
      res.droppedBytes = len - pos;
      break;
    }
    res.batches.push({ offset: pos, records: parseRecords(path, data, pos + BATCH_HEADER_SIZE, end) });
    pos = end;
  }
  return res;
}

// ------------------------------------------------------------------ the log

interface OpenSegment {
  seq: number;
  path: string;
  file: WritableFile;
  synced: number;
}

/** A snapshot whose file is not written yet, and the group's records held behind it. */
interface PendingSnapshot {
  snap: Snapshot;
  snapSeq: number;
  /** The checkpoint naming it, then the group's later records, in call order. */
  held: Buffer[];
}

interface GroupState {
  readonly id: string;
  readonly gid: Buffer;
  mem: MemoryRaftLog;
  /** The segment holding the group's newest durable checkpoint (Infinity: none yet). */
  baseSeg: number;
  /** The snapshot file its newest durable checkpoint names. */
  baseSnap: string | undefined;
  /** Sequence and file of the snapshot `mem` starts from when no snapshot is pending (0/undefined: none). */
  snapSeq: number;
  snapFile: string | undefined;
  pending: PendingSnapshot | undefined;
  view: MultiRaftLogGroup | undefined;
  dropped: boolean;
  /** One sync at a time per group, in call order. */
  syncTail: Promise<void>;
}

/** What one flush carries: bytes, and what becomes true once they are durable. */
interface Item {
  buf: Buffer;
  /** A checkpoint of `state` naming snapshot file `snapFile`. */
  checkpoint?: { state: GroupState; snapFile: string | undefined };
  /** A DROP of `state`. */
  drop?: GroupState;
}

const EMPTY = new Uint8Array(0);

/**
 * The node-wide Raft log: `group(id)` hands out one `RaftLogStore` per Raft
 * group, all written to the same segment files. Each group keeps every entry
 * since its last snapshot in memory (as DiskRaftLog does); the files exist to
 * rebuild that at `open`.
 *
 * Writes of every group are held in memory until a flush; a group's `sync`
 * asks for one, and every sync asked for in the same turn of the event loop
 * (or while a flush runs) is served by the same write and fdatasync. A
 * group's `createSnapshot`/`applySnapshot` holds its later records back until
 * its `sync` has written the snapshot file; other groups are not held.
 *
 * Crash contract, per group: after `await sync()` resolves, every call of
 * that group before it survives a crash; a crash leaves each group's state
 * after some prefix of its calls. A failed write or sync makes the whole log
 * refuse writes (READ_ONLY); reopen it.
 */
export class MultiRaftLog {
  readonly recovery: MultiRaftLogRecovery;
  private readonly fs: Fs;
  private readonly dir: string;
  private readonly lock: FileLock;
  private readonly segmentBytes: number;
  private readonly defer: (run: () => void) => void;
  private readonly states = new Map<string, GroupState>();
  /** Dropped groups whose DROP is not durable yet: they still pin their segments. */
  private readonly dropping = new Set<GroupState>();
  /** Snapshot files being written (materialize). */
  private readonly writingSnaps = new Set<string>();
  private nextSeq = 1;
  private seg!: OpenSegment;
  private items: Item[] = [];
  private waiters: Array<{ resolve(): void; reject(err: unknown): void }> = [];
  private flushScheduled = false;
  private flushing: Promise<void> | undefined;
  private cleanupDue = true;
  private dirChanges = 0;
  private dirSynced = 0;
  private failure: unknown;
  private failed = false;
  private closed = false;
  /** Flushes carried out (group commits), for tests and metrics. */
  flushes = 0;

  static open(fs: Fs, dir: string, options?: MultiRaftLogOptions): MultiRaftLog {
    const segmentBytes = options?.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    if (!Number.isSafeInteger(segmentBytes) || segmentBytes < 1) {
      throw invalidArgument(`segmentBytes must be a positive integer, got ${segmentBytes}`);
    }
    fs.mkdir(dir);
    const lock = fs.lock(joinPath(dir, 'LOCK'));
    try {
      return new MultiRaftLog(fs, dir, lock, segmentBytes, options?.defer ?? ((run) => void Promise.resolve().then(run)));
    } catch (err) {
      try {
        lock.release();
      } catch {
        // The original error matters more.
      }
      throw err;
    }
  }

  private constructor(fs: Fs, dir: string, lock: FileLock, segmentBytes: number, defer: (run: () => void) => void) {
    this.fs = fs;
    this.dir = dir;
    this.lock = lock;
    this.segmentBytes = segmentBytes;
    this.defer = defer;
    this.recovery = this.recover();
    // Every run starts a segment whose first batch checkpoints every group:
    // older segments (a torn tail, bytes a crash left unsynced) are never
    // appended to and go once it is durable.
    this.createSegment();
    const live = [...this.states.values()];
    const parts: Buffer[] = [encodeSimple(Kind.Full, Buffer.alloc(0), FULL_SIZE, (b, o) => b.writeUInt32LE(live.length, o))];
    for (const s of live) parts.push(encodeCheckpoint(s.gid, s.mem, Origin.Open, s.snapSeq));
    this.items.push({ buf: Buffer.concat(parts) });
    for (const s of live) this.items.push({ buf: EMPTY_BUF, checkpoint: { state: s, snapFile: s.snapFile } });
  }

  /** Ids of the groups the log holds (recovered or opened, not dropped). */
  groupIds(): string[] {
    return [...this.states.values()].filter((s) => !s.dropped).map((s) => s.id);
  }

  /** Whether the log holds state for `id`. */
  has(id: string): boolean {
    const s = this.states.get(id);
    return s !== undefined && !s.dropped;
  }

  /** The log of group `id` (created empty if the log holds none). One view per group at a time. */
  group(id: string): MultiRaftLogGroup {
    this.checkWritable();
    const gid = Buffer.from(id, 'utf8');
    if (gid.length === 0 || gid.length > MAX_GROUP_ID_BYTES) throw invalidArgument(`group id must be 1 to ${MAX_GROUP_ID_BYTES} bytes`);
    let s = this.states.get(id);
    if (s !== undefined && s.view !== undefined) throw new StrataError(ERROR_CODES.INVALID_ARGUMENT, `raft log group ${id} is already open`);
    if (s === undefined || s.dropped) {
      s = newState(id, gid, new MemoryRaftLog());
      this.states.set(id, s);
      this.enqueue({ buf: encodeCheckpoint(gid, s.mem, Origin.Open, 0), checkpoint: { state: s, snapFile: undefined } });
    }
    const view = new MultiRaftLogGroup(this, s);
    s.view = view;
    return view;
  }

  /**
   * Forgets group `id` (its replica was removed): closes its view, writes a
   * DROP, and its segments and snapshot files become garbage once that is
   * durable (after the next flush).
   */
  dropGroup(id: string): void {
    this.checkWritable();
    const s = this.states.get(id);
    if (s === undefined || s.dropped) return;
    s.dropped = true;
    s.view?.detach();
    s.view = undefined;
    s.pending = undefined;
    this.states.delete(id);
    this.dropping.add(s);
    this.enqueue({ buf: encodeSimple(Kind.Drop, s.gid, 0), drop: s });
  }

  /** Makes every write so far, of every group, durable (snapshot files still pending in a group are its own sync's). */
  sync(): Promise<void> {
    return this.requestFlush();
  }

  /**
   * Releases the LOCK. Does not sync (a flush already running completes);
   * writes not flushed are lost, as with a crash.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.states.values()) {
      s.view?.detach();
      s.view = undefined;
    }
    const err = closedError('raft log');
    const file = this.seg.file;
    const closeFile = (): void => {
      try {
        file.close();
      } catch {
        // Nothing to report it to.
      }
    };
    if (this.flushing !== undefined) void this.flushing.then(closeFile, closeFile);
    else closeFile();
    // Waiters the running flush does not cover (it resolves its own).
    for (const w of this.waiters) w.reject(err);
    this.waiters = [];
    this.lock.release();
  }

  // ---------------------------------------------------------------- group side

  /** @internal Queues a group's records (behind its pending snapshot, if any). */
  write(s: GroupState, buf: Buffer): void {
    this.checkWritable();
    if (s.pending !== undefined) s.pending.held.push(buf);
    else this.enqueue({ buf });
  }

  /** @internal A snapshot call: the group's state is `s.mem` now; its file is written by the group's next sync. */
  queueSnapshot(s: GroupState, origin: number): void {
    const snapSeq = this.nextSeq++;
    // A newer snapshot supersedes a pending one: its checkpoint covers the calls held behind the older one.
    s.pending = { snap: s.mem.snapshot(), snapSeq, held: [encodeCheckpoint(s.gid, s.mem, origin, snapSeq)] };
  }

  /** @internal A group's sync: its pending snapshot file first, then a flush. */
  syncGroup(s: GroupState): Promise<void> {
    if (this.closed) return Promise.reject(closedError('raft log'));
    const run = s.syncTail.then(async () => {
      while (s.pending !== undefined) await this.materialize(s, s.pending);
      await this.requestFlush();
    });
    s.syncTail = run.catch(() => undefined);
    return run;
  }

  /** Writes a group's pending snapshot file, then releases the checkpoint and records held behind it. */
  private async materialize(s: GroupState, p: PendingSnapshot): Promise<void> {
    if (this.failed) throw this.readOnlyError();
    const name = multiLogSnapshotName(s.id, p.snap.meta.index, p.snapSeq);
    // Cleanup must not remove it while it is written, even once a newer snapshot supersedes it.
    this.writingSnaps.add(name);
    try {
      const tmp = joinPath(this.dir, `${name}.tmp`);
      this.checkOpen();
      const file = this.fs.createWritable(tmp);
      this.dirChanges++;
      try {
        file.append(encodeSnapshotFile(p.snap, p.snapSeq));
        await file.sync();
      } finally {
        file.close();
      }
      this.checkOpen();
      this.fs.rename(tmp, joinPath(this.dir, name));
      this.dirChanges++;
      await this.syncDir();
      this.checkOpen();
    } catch (err) {
      if (!this.closed) this.fail(err);
      throw err;
    } finally {
      this.writingSnaps.delete(name);
    }
    // Superseded meanwhile (or dropped): the newer state covers these calls.
    if (s.pending !== p) return;
    s.pending = undefined;
    s.snapSeq = p.snapSeq;
    s.snapFile = name;
    this.enqueue({ buf: p.held[0]!, checkpoint: { state: s, snapFile: name } });
    for (let i = 1; i < p.held.length; i++) this.enqueue({ buf: p.held[i]! });
  }

  // ---------------------------------------------------------------- flushing

  private enqueue(item: Item): void {
    this.items.push(item);
  }

  private requestFlush(): Promise<void> {
    if (this.closed) return Promise.reject(closedError('raft log'));
    if (this.failed) return Promise.reject(this.readOnlyError());
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.scheduleFlush();
    });
  }

  private scheduleFlush(): void {
    if (this.flushing !== undefined || this.flushScheduled) return;
    this.flushScheduled = true;
    // Later (see MultiRaftLogOptions.defer): every group that asks until then shares this flush.
    this.defer(() => {
      this.flushScheduled = false;
      if (this.closed || this.flushing !== undefined) return;
      this.flushing = this.flush().finally(() => {
        this.flushing = undefined;
        if (this.waiters.length > 0 && !this.closed) this.scheduleFlush();
      });
    });
  }

  /** One group commit: every queued item in one batch, one write, one fdatasync. */
  private async flush(): Promise<void> {
    const waiters = this.waiters;
    this.waiters = [];
    try {
      if (this.failed) throw this.readOnlyError();
      if (this.seg.file.size >= this.segmentBytes) this.rotate();
      const items = this.items;
      this.items = [];
      const seg = this.seg;
      let bytes = 0;
      for (const it of items) bytes += it.buf.length;
      if (bytes > 0) {
        const batch = Buffer.allocUnsafe(BATCH_HEADER_SIZE + bytes);
        let off = BATCH_HEADER_SIZE;
        for (const it of items) {
          it.buf.copy(batch, off);
          off += it.buf.length;
        }
        batch.writeUInt32LE(bytes, 0);
        batch.writeUInt32LE(maskCrc(crc32c(batch.subarray(BATCH_HEADER_SIZE))), 4);
        seg.file.append(batch);
      }
      if (seg.synced < seg.file.size) {
        const size = seg.file.size;
        await seg.file.sync();
        seg.synced = size;
      }
      await this.syncDir();
      this.flushes++;
      for (const it of items) {
        if (it.checkpoint !== undefined) {
          const s = it.checkpoint.state;
          s.baseSeg = seg.seq;
          s.baseSnap = it.checkpoint.snapFile;
          this.cleanupDue = true;
        }
        if (it.drop !== undefined) {
          this.dropping.delete(it.drop);
          this.cleanupDue = true;
        }
      }
    } catch (err) {
      if (!this.closed) this.fail(err);
      for (const w of waiters) w.reject(err);
      return;
    }
    for (const w of waiters) w.resolve();
    if (!this.closed) {
      try {
        await this.cleanup();
      } catch (err) {
        this.fail(err);
      }
    }
  }

  /**
   * Starts the next segment (the current one is durable: flushes run one at
   * a time) and rewrites, at the end of this flush's batch, the checkpoint of
   * every group whose newest one is older than the previous segment, so that
   * at most two segments stay live.
   */
  private rotate(): void {
    const previous = this.seg.seq;
    this.createSegment();
    for (const s of this.states.values()) {
      if (s.baseSeg >= previous) continue;
      if (s.pending !== undefined) {
        // Its next checkpoint waits for its snapshot file, which only a sync of the group writes: a group
        // that snapshotted and then went quiet would pin every segment. Write it now.
        void this.syncGroup(s).catch(() => undefined);
        continue;
      }
      // Its checkpoint must follow its records already queued: it goes last.
      this.items.push({ buf: encodeCheckpoint(s.gid, s.mem, Origin.Rewrite, s.snapSeq), checkpoint: { state: s, snapFile: s.snapFile } });
    }
  }

  private createSegment(): void {
    const seq = this.nextSeq++;
    const path = joinPath(this.dir, multiLogSegmentName(seq));
    const file = this.fs.createWritable(path);
    this.dirChanges++;
    file.append(segmentHeader(SEGMENT_MAGIC, seq));
    const old = this.seg as OpenSegment | undefined;
    this.seg = { seq, path, file, synced: 0 };
    old?.file.close();
  }

  private async syncDir(): Promise<void> {
    if (this.dirSynced >= this.dirChanges) return;
    const upTo = this.dirChanges;
    await this.fs.syncDir(this.dir);
    if (upTo > this.dirSynced) this.dirSynced = upTo;
  }

  /** Removes segments older than every group's newest durable checkpoint, and snapshot files nobody names. */
  private async cleanup(): Promise<void> {
    if (!this.cleanupDue) return;
    this.cleanupDue = false;
    let minBase = this.seg.seq;
    const keep = new Set<string>(this.writingSnaps);
    for (const s of [...this.states.values(), ...this.dropping]) {
      if (s.baseSeg < minBase) minBase = s.baseSeg;
      if (s.baseSnap !== undefined) keep.add(s.baseSnap);
      if (s.snapFile !== undefined) keep.add(s.snapFile);
      if (s.pending !== undefined) keep.add(multiLogSnapshotName(s.id, s.pending.snap.meta.index, s.pending.snapSeq));
    }
    let removed = 0;
    for (const name of this.fs.list(this.dir)) {
      const seg = SEGMENT_RE.exec(name);
      let obsolete: boolean;
      if (seg) obsolete = Number(seg[1]) < minBase;
      else if (SNAPSHOT_RE.test(name)) obsolete = !keep.has(name);
      else if (TMP_RE.test(name)) obsolete = !keep.has(name.slice(0, -'.tmp'.length));
      else obsolete = false;
      if (!obsolete) continue;
      this.fs.remove(joinPath(this.dir, name));
      this.dirChanges++;
      removed++;
    }
    if (removed > 0) await this.syncDir();
  }

  // ---------------------------------------------------------------- state

  private checkOpen(): void {
    if (this.closed) throw closedError('raft log');
  }

  /** @internal */
  checkWritable(): void {
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

  // ---------------------------------------------------------------- recovery

  private recover(): MultiRaftLogRecovery {
    const { names, segments: segs, nextSeq } = listSegments(this.fs, this.dir, SEGMENT_RE, [SNAPSHOT_RE, TMP_RE]);
    this.nextSeq = nextSeq;

    const parsed: ParsedSegment[] = [];
    let start = 0;
    for (let i = segs.length - 1; i >= 0; i--) {
      const p = parseSegment(this.fs, this.dir, segs[i]!.seq, segs[i]!.name);
      parsed[i] = p;
      if (p.batches[0]?.records[0]?.kind === Kind.Full) {
        start = i;
        break;
      }
    }
    const recovery: MultiRaftLogRecovery = { startSegment: undefined, segments: 0, batches: 0, groups: 0, tornTail: false, droppedBytes: 0 };
    const snapCache = new Map<string, Snapshot>();
    // Groups whose newest checkpoint so far names a missing snapshot file: an
    // error only if no later checkpoint (or DROP) supersedes it, since cleanup
    // removes the files of superseded checkpoints.
    const missing = new Map<string, StrataError>();
    let torn: ParsedSegment | undefined;
    for (let i = start; i < segs.length; i++) {
      const p = parsed[i]!;
      if (torn && p.batches.length > 0) {
        throw corruption(torn.path, torn.tornOffset, `damaged or incomplete tail, but a later segment (${p.name}) holds batches`);
      }
      for (let b = 0; b < p.batches.length; b++) {
        const batch = p.batches[b]!;
        if (batch.records[0]?.kind === Kind.Full) {
          if (b !== 0) throw corruption(p.path, batch.offset, 'FULL checkpoint not at the start of a segment');
          // Everything before it is superseded.
          this.states.clear();
          snapCache.clear();
          missing.clear();
          recovery.startSegment = p.name;
        }
        this.replayBatch(p, batch, names, snapCache, missing, recovery.startSegment !== undefined);
        recovery.batches++;
      }
      recovery.segments++;
      if (p.torn) {
        torn ??= p;
        recovery.tornTail = true;
        recovery.droppedBytes += p.droppedBytes;
      }
    }
    for (const err of missing.values()) throw err;
    recovery.groups = this.states.size;
    return recovery;
  }

  /**
   * `fromFull`: replay started at a FULL checkpoint, so every record follows
   * its group's checkpoint. Otherwise (the FULL segment was removed) a
   * group's records before its first checkpoint in the replayed segments
   * are superseded by that checkpoint and skipped.
   */
  private replayBatch(
    seg: ParsedSegment,
    batch: ParsedBatch,
    names: readonly string[],
    snapCache: Map<string, Snapshot>,
    missing: Map<string, StrataError>,
    fromFull: boolean,
  ): void {
    const recs = batch.records;
    let fullCount = -1;
    for (let i = 0; i < recs.length; i++) {
      const r = recs[i]!;
      const at = (what: string): StrataError => corruption(seg.path, r.offset, what);
      switch (r.kind) {
        case Kind.Full: {
          if (i !== 0 || r.body.length !== FULL_SIZE) throw at('misplaced or malformed FULL record');
          fullCount = r.body.readUInt32LE(0);
          break;
        }
        case Kind.Mark: {
          if (r.body.length !== MARK_SIZE) throw at(`MARK record of ${r.body.length} bytes (expected ${MARK_SIZE})`);
          const index = getU53(r.body, 0);
          const term = getU53(r.body, 8);
          const origin = r.body[16]!;
          const snapSeq = getU53(r.body, 17);
          if (index < 0 || term < 0 || snapSeq < 0) throw at('snapshot mark field out of range');
          if (origin > Origin.Rewrite) throw at(`unknown checkpoint origin ${origin}`);
          const hsRec = recs[i + 1];
          if (hsRec?.kind !== Kind.HardState || hsRec.group !== r.group) throw at('checkpoint without a hard state record');
          missing.delete(r.group);
          let snap: Snapshot;
          try {
            snap = this.loadSnapshot(seg, r.offset, r.group, index, term, snapSeq, names, snapCache);
          } catch (err) {
            if (!(err instanceof StrataError) || !(err as MissingSnapshotError).missingSnapshot) throw err;
            missing.set(r.group, err);
            snap = { meta: { index, term, conf: { voters: [], learners: [] } }, data: EMPTY };
          }
          const mem = new MemoryRaftLog();
          mem.applySnapshot(snap);
          const s = newState(r.group, Buffer.from(r.group, 'utf8'), mem);
          s.baseSeg = seg.seq;
          s.snapSeq = snapSeq;
          s.snapFile = snapSeq === 0 ? undefined : multiLogSnapshotName(r.group, index, snapSeq);
          s.baseSnap = s.snapFile;
          this.states.set(r.group, s);
          if (fullCount > 0) fullCount--;
          break;
        }
        case Kind.HardState: {
          const s = this.states.get(r.group);
          if (s === undefined) {
            if (!fromFull) break;
            throw at(`hard state of group ${r.group}, which has no checkpoint`);
          }
          if (r.body.length < HARD_STATE_FIXED) throw at(`HARD_STATE record of ${r.body.length} bytes is too short`);
          const term = getU53(r.body, 0);
          const commit = getU53(r.body, 8);
          if (term < 0 || commit < 0) throw at('hard state term or commit out of range');
          s.mem.setHardState({ term, commit, vote: r.body.toString('utf8', HARD_STATE_FIXED) });
          break;
        }
        case Kind.Entry: {
          const s = this.states.get(r.group);
          if (s === undefined) {
            if (!fromFull) break;
            throw at(`entry of group ${r.group}, which has no checkpoint`);
          }
          if (r.body.length < ENTRY_FIXED) throw at(`ENTRY record of ${r.body.length} bytes is too short`);
          const index = getU53(r.body, 0);
          const term = getU53(r.body, 8);
          const type = r.body[16]!;
          if (index < 0 || term < 0) throw at('entry index or term out of range');
          if (type > 1) throw at(`unknown entry type ${type}`);
          const last = s.mem.lastIndex();
          if (index > last + 1) throw at(`entry ${index} of group ${r.group} leaves a gap after ${last}`);
          // A copy: entries outlive the segment's buffer.
          s.mem.append([{ index, term, type: type as 0 | 1, data: new Uint8Array(r.body.subarray(ENTRY_FIXED)) }]);
          break;
        }
        case Kind.Drop: {
          if (r.body.length !== 0) throw at('malformed DROP record');
          missing.delete(r.group);
          this.states.delete(r.group);
          break;
        }
      }
    }
    if (fullCount > 0) throw corruption(seg.path, batch.offset, `FULL checkpoint is missing ${fullCount} group checkpoints`);
  }

  private loadSnapshot(
    seg: ParsedSegment,
    offset: number,
    group: string,
    index: number,
    term: number,
    snapSeq: number,
    names: readonly string[],
    cache: Map<string, Snapshot>,
  ): Snapshot {
    if (snapSeq === 0) {
      if (index !== 0 || term !== 0) throw corruption(seg.path, offset, `snapshot mark at ${index} names no snapshot file`);
      return { meta: { index: 0, term: 0, conf: { voters: [], learners: [] } }, data: EMPTY };
    }
    const name = multiLogSnapshotName(group, index, snapSeq);
    const cached = cache.get(name);
    if (cached !== undefined) return cached;
    const path = joinPath(this.dir, name);
    if (!names.includes(name)) {
      const err: MissingSnapshotError = corruption(path, 0, `snapshot file named by the checkpoint at ${seg.path}:${offset} is missing`);
      err.missingSnapshot = true;
      throw err;
    }
    const snap = decodeSnapshotFile(path, this.fs.readFile(path), snapSeq);
    if (snap.meta.index !== index || snap.meta.term !== term) {
      throw corruption(path, 24, `snapshot is at ${snap.meta.index}/${snap.meta.term}, its mark says ${index}/${term}`);
    }
    cache.set(name, snap);
    return snap;
  }
}

const EMPTY_BUF = Buffer.alloc(0);

/** loadSnapshot's error when the file is absent (not damaged). */
type MissingSnapshotError = StrataError & { missingSnapshot?: boolean };

function newState(id: string, gid: Buffer, mem: MemoryRaftLog): GroupState {
  return { id, gid, mem, baseSeg: Number.POSITIVE_INFINITY, baseSnap: undefined, snapSeq: 0, snapFile: undefined, pending: undefined, view: undefined, dropped: false, syncTail: Promise.resolve() };
}

/**
 * One group's `RaftLogStore` over a MultiRaftLog. Reads come from memory;
 * writes are queued for the log's next flush, which the group's `sync` asks
 * for. `close` detaches the view (the group's state stays in the log).
 */
export class MultiRaftLogGroup implements RaftLogStore {
  private closed = false;
  constructor(
    private readonly log: MultiRaftLog,
    private readonly s: GroupState,
  ) {}

  get id(): string {
    return this.s.id;
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return this.s.mem.initialState();
  }
  firstIndex(): number {
    return this.s.mem.firstIndex();
  }
  lastIndex(): number {
    return this.s.mem.lastIndex();
  }
  term(index: number): number | undefined {
    return this.s.mem.term(index);
  }
  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    return this.s.mem.entries(lo, hi, maxBytes);
  }
  snapshot(): Snapshot {
    return this.s.mem.snapshot();
  }

  append(entries: readonly Entry[]): void {
    this.checkWritable();
    if (entries.length === 0) return;
    const mem = this.s.mem;
    checkAppend(entries, mem.lastIndex(), 0xffffffff - ENTRY_FIXED - MAX_GROUP_ID_BYTES);
    const off = mem.firstIndex() - 1;
    let skip = 0;
    // Entries at or before the snapshot are already covered by it.
    while (skip < entries.length && entries[skip]!.index <= off) skip++;
    if (skip === entries.length) return;
    this.log.write(this.s, encodeEntries(this.s.gid, skip === 0 ? entries : entries.slice(skip)));
    mem.append(entries);
  }

  setHardState(hs: HardState): void {
    this.checkWritable();
    if (!validIndex(hs.term) || !validIndex(hs.commit)) throw invalidArgument(`hard state term/commit out of range: ${hs.term}/${hs.commit}`);
    if (Buffer.byteLength(hs.vote, 'utf8') > 0xffff) throw invalidArgument('vote too long');
    this.log.write(this.s, encodeHardState(this.s.gid, hs));
    this.s.mem.setHardState(hs);
  }

  applySnapshot(snap: Snapshot): void {
    this.checkWritable();
    if (!validIndex(snap.meta.index) || !validIndex(snap.meta.term)) {
      throw invalidArgument(`snapshot index/term out of range: ${snap.meta.index}/${snap.meta.term}`);
    }
    checkConf(snap.meta.conf);
    this.s.mem.applySnapshot(snap);
    this.log.queueSnapshot(this.s, Origin.Apply);
  }

  createSnapshot(index: number, conf: ConfState, data: Uint8Array): void {
    this.checkWritable();
    checkConf(conf);
    this.s.mem.createSnapshot(index, conf, data);
    this.log.queueSnapshot(this.s, Origin.Create);
  }

  sync(): Promise<void> {
    if (this.closed) return Promise.reject(closedError(`raft log of group ${this.s.id}`));
    return this.log.syncGroup(this.s);
  }

  /** Detaches this view; the group's state stays in the log (dropGroup forgets it). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.s.view === this) this.s.view = undefined;
  }

  /** @internal The log closed or dropped the group. */
  detach(): void {
    this.closed = true;
  }

  private checkWritable(): void {
    if (this.closed) throw closedError(`raft log of group ${this.s.id}`);
    this.log.checkWritable();
  }
}
