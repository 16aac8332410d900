import {
  closedError,
  copyRange,
  corruption,
  ERROR_CODES,
  invalidArgument,
  isStrataError,
  joinPath,
  NodeFs,
  StrataError,
  toBuffer,
} from '../base/index.js';
import type { BytesLike, FileLock, Fs } from '../base/index.js';
import { BlockCache } from './block-cache.js';
import { pickCompaction, pickLevelForFlush, planBottomCompaction, planManualCompaction } from './compaction-picker.js';
import type { CompactionPlan, LevelPolicy, SeekCandidate } from './compaction-picker.js';
import type { CompactionJobSpec } from './compaction-job.js';
import { InlineCompactionRunner, WorkerCompactionRunner } from './compaction-runner.js';
import type { CompactionRunner } from './compaction-runner.js';
import { ConcatIterator } from './concat-iterator.js';
import { DbIterator } from './db-iterator.js';
import type { Entry, IteratorOptions } from './db-iterator.js';
import { EXPIRING_VALUES_MARK, currentFile, lockFile, logFile, parseFileName, tableFile, tableName, valueFormatFile } from './filenames.js';
import { compareInternalKeys, compareUserKeyTo, TRAILER_SIZE, ValueType, writeTrailer } from './format.js';
import type { InternalIterator } from './iterator.js';
import { Memtable } from './memtable.js';
import type { MemtableGetResult } from './memtable.js';
import { MergingIterator } from './merging-iterator.js';
import { resolveOptions } from './options.js';
import type { OpenOptions, ResolvedOptions } from './options.js';
import { Snapshot, SnapshotList } from './snapshot.js';
import { EngineCounters } from './stats.js';
import { bloomHash, FIND_MISS, FIND_NONE, FIND_VALUE, releaseBlock } from './table/index.js';
import type { Block, BlockHandle, FindResult, TableBuilderOptions, TableReader } from './table/index.js';
import { ReadHelper } from './read-helper.js';
import { TableCache } from './table-cache.js';
import { findFile, userKeyRange } from './version.js';
import type { Version } from './version.js';
import { VersionEdit } from './version-edit.js';
import type { FileMeta } from './version-edit.js';
import { VersionSet } from './version-set.js';
import { LogReader, LogWriter } from './wal/index.js';
import { BATCH_HEADER_SIZE, WriteBatch } from './write-batch.js';
import type { BatchInsertion } from './write-batch.js';
import { YieldGate } from './yield-gate.js';

/** Largest capacity `batch()` preallocates from the last batch's size. */
const BATCH_HINT_MAX = 1024 * 1024;

export interface ReadOptions {
  /** Read as of this snapshot. */
  snapshot?: Snapshot;
  /** Return a UTF-8 string instead of a Buffer. */
  encoding?: 'buffer' | 'utf8';
}

export interface WriteOptions {
  /** fsync the WAL before the write is acknowledged (LevelDB `sync`). Default false. */
  sync?: boolean;
  /**
   * Skip the WAL (RocksDB `WriteOptions.disableWAL`): the write goes to the
   * memtable only, so a crash loses it unless a flush wrote it to a table
   * first; `close` flushes memtables that hold such writes. For callers that
   * keep their own log and replay it (StrataDB's cluster shards: the Raft
   * log). Not allowed with `sync`. Default false.
   */
  disableWal?: boolean;
}

/** One operation of `db.write([...])`, in abstract-level's shape. */
export type BatchOperation =
  | { type: 'put'; key: BytesLike; value: BytesLike }
  | { type: 'del'; key: BytesLike };

export interface LevelStats {
  level: number;
  files: number;
  bytes: number;
}

/** What `db.stats()` returns; see README "Statistics" for each field. */
export interface EngineStats {
  levels: LevelStats[];
  sequence: number;
  memtableBytes: number;
  memtableEntries: number;
  immutableMemtables: number;
  liveSnapshots: number;
  openIterators: number;
  tableCacheSize: number;
  blockCache: { capacityBytes: number; usageBytes: number; entries: number; hits: number; misses: number };
  bloom: { checks: number; negatives: number; falsePositives: number };
  /** Block reads of gets issued together: by the read helper thread, and taken back by the event loop (option parallelReads). */
  parallelReads: { helper: number; eventLoop: number };
  wal: { bytesWritten: number; records: number; syncs: number; tornBytesDropped: number };
  flush: { count: number; bytesWritten: number };
  /** `seekTriggered`: how many of `count` were picked by seek accounting (reads paying for a table), not by size. */
  compaction: { count: number; seekTriggered: number; bytesRead: number; bytesWritten: number; running: boolean };
  /** (WAL + flush + compaction bytes written) / bytes of keys and values written by the user. */
  writeAmplification: number;
  stalls: { slowdowns: number; stops: number; stallMs: number };
  userBytesWritten: number;
  /** Set when a write or background error turned the database read-only. */
  backgroundError: string | undefined;
}

interface Writer {
  batch: WriteBatch;
  sync: boolean;
  /** Memtable only (WriteOptions.disableWal). */
  noWal: boolean;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** A memtable and the WAL file that holds its writes. */
interface MemtableWithLog {
  mem: Memtable;
  logNumber: number;
  /** Holds writes its WAL does not (disableWal): close flushes it. */
  unlogged?: boolean;
}

/** A WAL switched away from with writes not yet synced (see DB.unsyncedLogs). */
interface OldLog {
  number: number;
  log: LogWriter;
  /** Its sync, once one has started (it closes the log when done). */
  synced: Promise<void> | undefined;
}

const MAX_GROUP_BYTES = 1024 * 1024;
/** Entries a group inserts into the memtable between looks at the clock (see applyGroup). */
const INSERT_SLICE = 128;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

class PinnedIterator implements InternalIterator {
  constructor(
    private readonly inner: InternalIterator,
    private readonly release: () => void,
  ) {}
  valid(): boolean {
    return this.inner.valid();
  }
  seekToFirst(): void {
    this.inner.seekToFirst();
  }
  seekToLast(): void {
    this.inner.seekToLast();
  }
  seek(t: Buffer): void {
    this.inner.seek(t);
  }
  seekForPrev(t: Buffer): void {
    this.inner.seekForPrev(t);
  }
  next(): void {
    this.inner.next();
  }
  prev(): void {
    this.inner.prev();
  }
  key(): Buffer {
    return this.inner.key();
  }
  value(): Buffer {
    return this.inner.value();
  }
  get keySrc(): Buffer {
    return this.inner.keySrc;
  }
  get keyStart(): number {
    return this.inner.keyStart;
  }
  get keyEnd(): number {
    return this.inner.keyEnd;
  }
  get valSrc(): Buffer {
    return this.inner.valSrc;
  }
  get valStart(): number {
    return this.inner.valStart;
  }
  get valEnd(): number {
    return this.inner.valEnd;
  }
  close(): void {
    this.inner.close();
    this.release();
  }
}

/**
 * An open database. Create one with `open(dir, options)`.
 *
 * Writes go to the WAL and the memtable through one commit loop, so
 * concurrent writers share a WAL write and an fsync (group commit). Full
 * memtables are flushed to L0 tables in the background; compactions run in a
 * worker thread. Reads are synchronous underneath (a block cache miss is a
 * `pread`), so `getSync` and iterators never wait on the thread pool.
 */
export class DB {
  readonly counters = new EngineCounters();
  /** Lets the event loop turn every few ms while callers await one synchronous completion after another. */
  private readonly gate: YieldGate;
  private readonly opts: ResolvedOptions;
  private readonly fs: Fs;
  private readonly versions: VersionSet;
  private readonly blockCache: BlockCache<Block> | undefined;
  private readonly tableCache: TableCache;
  private readonly snapshots = new SnapshotList();
  private readonly iterators = new Set<DbIterator<unknown, unknown>>();
  /** Runs flushes and compactions (a flush never waits for a long compaction: see WORKER_YIELD_EVERY). */
  private readonly runner: CompactionRunner;
  /** Reads blocks for gets issued together (see getConcurrent); undefined with parallelReads off. */
  private readonly readHelper: ReadHelper | undefined;
  private readonly tableOptions: TableBuilderOptions;
  private readonly policy: LevelPolicy;
  private lock: FileLock | undefined;
  private active: MemtableWithLog;
  /** Frozen memtables awaiting flush, oldest first. */
  private readonly frozen: MemtableWithLog[] = [];
  private log!: LogWriter;
  private readonly queue: Writer[] = [];
  private committing = false;
  /** Writes enqueued / acknowledged or failed so far (drainQueue waits for earlier writes only). */
  private writesEnqueued = 0;
  private writesFinished = 0;
  /** Callers waiting in withCommitLock: the commit loop stops between groups to let them in. */
  private lockWaiters = 0;
  private walDirty = false;
  /**
   * WALs switched away from while holding unsynced writes, oldest first.
   * Syncing them at the switch held the writer for an fdatasync of a whole
   * write buffer (~7 ms per switch here, a tenth of a batched fill); instead
   * they are synced before anything newer becomes durable (`syncWal`), and
   * dropped unsynced once their memtable is in a table.
   */
  private unsyncedLogs: OldLog[] = [];
  /** A flushed memtable whose memory the next memtable takes over (see Memtable.retire). */
  private spareMemtable: Memtable | undefined;
  /** Number of the newest WAL whose directory entry is not known durable, if any. */
  private walDirPending: number | undefined;
  private syncTimer: NodeJS.Timeout | undefined;
  private periodicSync: Promise<void> | undefined;
  /** Table numbers being written by a flush or compaction: not obsolete yet. */
  private readonly pendingOutputs = new Set<number>();
  private flushTask: Promise<void> | undefined;
  private compactTask: Promise<void> | undefined;
  private manualCompactions = 0;
  private roomWaiters: Array<() => void> = [];
  private bgError: StrataError | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  private cleanupScheduled = false;
  private dirSyncPending = false;

  private constructor(
    readonly location: string,
    opts: ResolvedOptions,
  ) {
    this.opts = opts;
    this.fs = opts.fs;
    this.versions = new VersionSet(this.fs, location, opts.numLevels);
    this.gate = new YieldGate(256, () => opts.clock.nowMs());
    this.blockCache = opts.blockCacheSize > 0 ? new BlockCache<Block>(opts.blockCacheSize, this.counters, releaseBlock) : undefined;
    this.tableCache = new TableCache(this.fs, location, opts.maxOpenFiles, this.blockCache, this.counters, opts.verifyChecksums);
    if (opts.compactionWorker) {
      // The process's one background thread, shared with every other open database.
      this.runner = WorkerCompactionRunner.acquire();
    } else {
      this.runner = new InlineCompactionRunner(this.fs);
    }
    this.readHelper = opts.parallelReads ? ReadHelper.get() : undefined;
    this.tableOptions = {
      blockSize: opts.blockSize,
      restartInterval: opts.blockRestartInterval,
      bloomBitsPerKey: opts.bloomBitsPerKey,
      compression: opts.compression,
    };
    this.policy = {
      numLevels: opts.numLevels,
      level0CompactionTrigger: opts.level0CompactionTrigger,
      maxBytesForLevelBase: opts.maxBytesForLevelBase,
      levelSizeMultiplier: opts.levelSizeMultiplier,
      targetFileSize: opts.targetFileSize,
    };
    this.active = { mem: new Memtable(this.opts.writeBufferSize), logNumber: 0 };
  }

  /** True when the database in `dir` stores expiring values (a server data directory): open it with `expiringValues: true`. */
  static storesExpiringValues(dir: string, fs: Fs = new NodeFs()): boolean {
    return fs.exists(valueFormatFile(dir));
  }

  /** Opens (or creates) the database in `dir`. */
  static async open(dir: string, options?: OpenOptions): Promise<DB> {
    if (typeof dir !== 'string' || dir.length === 0) throw invalidArgument('open: dir must be a non-empty string');
    const db = new DB(dir, resolveOptions(options));
    try {
      await db.recover();
    } catch (err) {
      await db.runner.close();
      db.tableCache.close();
      db.versions.close();
      db.lock?.release();
      throw err;
    }
    return db;
  }

  // ---------------------------------------------------------------- open

  /**
   * A database that stores expiring values (a server data directory) says so
   * in its VALUE-FORMAT file, so it is never opened with the other layout:
   * plain values would read as corrupt through the server, and header bytes
   * would show up in embedded reads.
   */
  private async checkValueFormat(exists: boolean): Promise<void> {
    const { fs, location: dir, opts } = this;
    const path = valueFormatFile(dir);
    const marked = fs.exists(path);
    if (marked) {
      const mark = fs.readFile(path).toString('latin1');
      if (mark !== EXPIRING_VALUES_MARK) throw corruption(path, 0, `unknown value format ${JSON.stringify(mark.slice(0, 32))}`);
    }
    if (opts.expiringValues && exists && !marked) {
      throw invalidArgument(`the database in ${dir} stores plain values (an embedded database); it cannot be opened with expiringValues (as a server data directory)`);
    }
    if (!opts.expiringValues && marked) {
      throw invalidArgument(`the database in ${dir} stores expiring values (a strata serve data directory); open it with { expiringValues: true } or through the server`);
    }
    if (opts.expiringValues && !marked) {
      const f = fs.createWritable(path);
      try {
        f.append(Buffer.from(EXPIRING_VALUES_MARK, 'latin1'));
        await f.sync();
      } finally {
        f.close();
      }
      await fs.syncDir(dir);
    }
  }

  private async recover(): Promise<void> {
    const { fs, location: dir, opts } = this;
    const exists = fs.exists(currentFile(dir));
    if (!exists && !opts.createIfMissing) throw invalidArgument(`no database in ${dir} (and createIfMissing is false)`);
    if (exists && opts.errorIfExists) throw invalidArgument(`a database already exists in ${dir} (errorIfExists)`);
    fs.mkdir(dir);
    this.lock = fs.lock(lockFile(dir));
    await this.checkValueFormat(exists);

    const vs = this.versions;
    if (exists) vs.recover();

    // Replay WALs not yet flushed, oldest first. Only the newest may end torn.
    const logs: number[] = [];
    for (const name of fs.list(dir)) {
      const p = parseFileName(name);
      if (!p) continue;
      vs.markFileNumberUsed(p.number);
      if (p.kind === 'log' && p.number >= vs.logNumber) logs.push(p.number);
    }
    logs.sort((a, b) => a - b);
    const edit = new VersionEdit();
    let mem = new Memtable(opts.writeBufferSize);
    for (let i = 0; i < logs.length; i++) {
      const path = logFile(dir, logs[i]!);
      const reader = new LogReader(fs.readFile(path), path);
      for (let rec = reader.readRecord(); rec !== undefined; rec = reader.readRecord()) {
        const { seq, batch } = WriteBatch.decode(rec, path, reader.lastRecordOffset);
        batch.insertInto(mem, seq); // the memtable copies
        const last = seq + batch.count - 1;
        if (last > vs.lastSequence) vs.lastSequence = last;
        if (mem.approximateBytes >= opts.writeBufferSize) {
          await this.writeLevel0(mem, edit);
          mem = new Memtable(this.opts.writeBufferSize);
        }
      }
      if (reader.tornTail) {
        // Only the newest log may end torn. Later logs that are empty do not count: a crash
        // right after creating a WAL can leave its directory entry without any data.
        const newest = logs.slice(i + 1).every((n) => fs.fileSize(logFile(dir, n)) === 0);
        if (!newest) {
          throw new StrataError(ERROR_CODES.CORRUPTION, `WAL ${path} ends torn but is not the newest log`, { file: path, offset: 0 });
        }
        this.counters.walTornBytesDropped += reader.droppedBytes;
      }
    }
    if (mem.entries > 0) await this.writeLevel0(mem, edit);

    // A fresh WAL for new writes, then a new MANIFEST recording the recovered state.
    const logNumber = vs.newFileNumber();
    this.log = new LogWriter(fs.createWritable(logFile(dir, logNumber)));
    this.active = { mem: new Memtable(this.opts.writeBufferSize), logNumber };
    vs.current = vs.current.apply(edit);
    vs.logNumber = logNumber;
    await vs.writeNewManifest();
    for (const { file } of edit.newFiles) this.pendingOutputs.delete(file.number);
    this.deleteObsoleteFiles();
    this.preloadTables();
    if (opts.syncIntervalMs > 0) {
      this.syncTimer = setInterval(() => this.periodicWalSync(), opts.syncIntervalMs);
      this.syncTimer.unref();
    }
    this.maybeScheduleCompaction();
  }

  /**
   * Opens the live tables (index, filter, properties) up to maxOpenFiles at
   * open, as RocksDB does with max_open_files = -1: the first reads then find
   * them ready instead of paying for several table opens (and a cold JIT)
   * while holding the event loop. A table that fails to open here is left
   * alone: reading it reports the same error where it matters.
   */
  private preloadTables(): void {
    let budget = this.opts.maxOpenFiles;
    for (const files of this.versions.current.levels) {
      for (const f of files) {
        if (budget-- <= 0) return;
        try {
          this.tableCache.reader(f);
        } catch {
          // Reported by the read that needs this table.
        }
      }
    }
  }

  /** Recovery only: writes `mem` as an L0 table recorded in `edit` (installed with the new MANIFEST). */
  private async writeLevel0(mem: Memtable, edit: VersionEdit): Promise<void> {
    const number = this.versions.newFileNumber();
    this.pendingOutputs.add(number);
    const meta = await this.runner.flush(this.location, number, mem, this.tableOptions);
    if (meta) {
      edit.addFile(0, meta);
      this.counters.flushes++;
      this.counters.flushBytesWritten += meta.size;
    }
  }

  // ---------------------------------------------------------------- checks

  private checkOpen(): void {
    if (this.closed) throw closedError();
  }

  private checkWritable(): void {
    if (this.closed || this.closing) throw closedError();
    if (this.bgError) throw this.bgError;
  }

  private key(k: BytesLike, what = 'key'): Buffer {
    if (typeof k !== 'string' && !(k instanceof Uint8Array)) throw invalidArgument(`${what} must be a string or Uint8Array`);
    const b = toBuffer(k);
    if (b.length > this.opts.maxKeySize) throw invalidArgument(`${what} is ${b.length} bytes, over maxKeySize ${this.opts.maxKeySize}`);
    return b;
  }

  private value(v: BytesLike): Buffer {
    if (typeof v !== 'string' && !(v instanceof Uint8Array)) throw invalidArgument('value must be a string or Uint8Array');
    const b = toBuffer(v);
    if (b.length > this.opts.maxValueSize) throw invalidArgument(`value is ${b.length} bytes, over maxValueSize ${this.opts.maxValueSize}`);
    return b;
  }

  private readSequence(options: ReadOptions | undefined): number {
    const s = options?.snapshot;
    if (s === undefined) return this.versions.lastSequence;
    if (!(s instanceof Snapshot)) throw invalidArgument('snapshot must come from db.snapshot()');
    return s.check();
  }

  // ---------------------------------------------------------------- writes

  put(key: BytesLike, value: BytesLike, options?: WriteOptions): Promise<void> {
    try {
      this.checkWritable();
      const k = this.key(key);
      const v = this.value(value);
      const b = new WriteBatch(k.length + v.length + 32);
      b.put(k, v);
      return this.enqueue(b, options?.sync === true, noWal(options));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  delete(key: BytesLike, options?: WriteOptions): Promise<void> {
    try {
      this.checkWritable();
      const k = this.key(key);
      const b = new WriteBatch(k.length + 24);
      b.delete(k);
      return this.enqueue(b, options?.sync === true, noWal(options));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Alias of `delete`, as in abstract-level. */
  del(key: BytesLike, options?: WriteOptions): Promise<void> {
    return this.delete(key, options);
  }

  /**
   * Applies every operation of `batch` atomically: all or none survive a
   * crash, and readers never see part of it.
   */
  write(batch: WriteBatch | ReadonlyArray<BatchOperation>, options?: WriteOptions): Promise<void> {
    try {
      this.checkWritable();
      let own: WriteBatch;
      if (batch instanceof WriteBatch) {
        if (batch.maxKeyBytes > this.opts.maxKeySize) throw invalidArgument(`a key in the batch is ${batch.maxKeyBytes} bytes, over maxKeySize ${this.opts.maxKeySize}`);
        if (batch.maxValueBytes > this.opts.maxValueSize) throw invalidArgument(`a value in the batch is ${batch.maxValueBytes} bytes, over maxValueSize ${this.opts.maxValueSize}`);
        this.batchBytesHint = Math.min(batch.byteLength, BATCH_HINT_MAX);
        // The caller may reuse its batch once this returns: commit a batch sharing its encoding,
        // which the caller's batch copies before its next change (no copy if it never changes).
        own = batch.detach();
      } else if (Array.isArray(batch)) {
        own = new WriteBatch();
        for (const op of batch as ReadonlyArray<BatchOperation>) {
          if (op === null || typeof op !== 'object') throw invalidArgument('batch operations must be objects');
          if (op.type === 'put') own.put(this.key(op.key), this.value(op.value));
          else if (op.type === 'del') own.delete(this.key(op.key));
          else throw invalidArgument(`unknown batch operation type ${String((op as { type: unknown }).type)}`);
        }
      } else {
        throw invalidArgument('write: batch must be a WriteBatch or an array of operations');
      }
      if (own.count === 0) return Promise.resolve();
      return this.enqueue(own, options?.sync === true, noWal(options));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * A new empty WriteBatch to fill and pass to `write`, with room for as
   * many bytes as the last batch written (up to BATCH_HINT_MAX): callers
   * tend to write batches of one size, and a 1,000-entry batch grown from
   * empty was reallocated and copied nine times (a tenth of a fillbatch
   * writer's event-loop time, and garbage for the collector).
   */
  batch(): WriteBatch {
    return new WriteBatch(this.batchBytesHint || undefined);
  }

  /** Encoded size of the last WriteBatch given to `write` (see `batch`). */
  private batchBytesHint = 0;

  private enqueue(batch: WriteBatch, sync: boolean, noWal = false): Promise<void> {
    this.writesEnqueued++;
    return new Promise<void>((resolve, reject) => {
      this.queue.push({
        batch,
        sync,
        noWal,
        resolve: () => {
          this.writesFinished++;
          resolve();
        },
        reject: (err: unknown) => {
          this.writesFinished++;
          reject(err);
        },
      });
      if (!this.committing) {
        this.committing = true;
        queueMicrotask(() => void this.commitLoop());
      }
    });
  }

  /**
   * The single writer: takes the queued writers as a group, writes one WAL
   * record, fsyncs once if any of them asked for sync, applies the group to
   * the memtable and acknowledges them all.
   */
  private async commitLoop(): Promise<void> {
    try {
      let delayed = false;
      while (this.queue.length > 0 && this.lockWaiters === 0) {
        if (this.bgError) {
          this.failQueue(this.bgError);
          break;
        }
        const wait = this.makeRoomForWrite(delayed);
        if (wait !== undefined) {
          delayed = true;
          try {
            await wait;
          } catch (err) {
            this.setBackgroundError(err, 'switching memtable');
          }
          continue;
        }
        delayed = false;
        this.commitGroup();
        const applying = this.pendingApply;
        if (applying !== undefined) {
          this.pendingApply = undefined;
          await applying;
        }
        if (this.pendingSync !== undefined) {
          const { writers, sync } = this.pendingSync;
          this.pendingSync = undefined;
          try {
            await sync;
          } catch (err) {
            this.setBackgroundError(err, 'fsync of the WAL');
            for (const w of writers) w.reject(this.bgError);
            continue;
          }
          // Nothing was appended while waiting (this loop is the only writer): the WAL is clean.
          this.walDirty = false;
          const applyingSynced = this.applyGroup(writers);
          if (applyingSynced !== undefined) await applyingSynced;
        }
      }
    } finally {
      this.committing = false;
      if (this.queue.length > 0 && !this.closed && this.lockWaiters === 0) {
        this.committing = true;
        queueMicrotask(() => void this.commitLoop());
      }
    }
  }

  /** Set by commitGroup when the group's memtable insert goes on over later turns (see applyGroup). */
  private pendingApply: Promise<void> | undefined;
  /** Set by commitGroup when the group must wait for an fsync before it is applied. */
  private pendingSync: { writers: Writer[]; sync: Promise<void> } | undefined;
  /** The group being committed: its combined batch and first sequence. */
  private groupBatch: WriteBatch | undefined;
  private groupSeq = 0;

  private commitGroup(): void {
    const q = this.queue;
    const first = q[0]!;
    let n = 1;
    let bytes = first.batch.byteLength;
    let sync = first.sync;
    const maxBytes = bytes <= 128 * 1024 ? bytes + 128 * 1024 : MAX_GROUP_BYTES;
    // A group is all logged or all unlogged.
    while (n < q.length && q[n]!.noWal === first.noWal && bytes + q[n]!.batch.byteLength <= maxBytes) {
      bytes += q[n]!.batch.byteLength;
      sync ||= q[n]!.sync;
      n++;
    }
    const writers = q.splice(0, n);
    let batch = first.batch;
    if (n > 1) {
      batch = new WriteBatch();
      for (const w of writers) batch.append(w.batch);
    }
    const seq = this.versions.lastSequence + 1;
    if (first.noWal) {
      batch.encode(seq);
      this.active.unlogged = true;
      this.groupBatch = batch;
      this.groupSeq = seq;
      this.pendingApply = this.applyGroup(writers);
      return;
    }
    try {
      const rep = batch.encode(seq);
      this.counters.walBytesWritten += this.log.addRecord(rep);
      this.counters.walRecords++;
    } catch (err) {
      this.setBackgroundError(err, 'WAL write');
      for (const w of writers) w.reject(this.bgError);
      return;
    }
    this.groupBatch = batch;
    this.groupSeq = seq;
    if (sync) {
      this.counters.walSyncs++;
      this.pendingSync = { writers, sync: this.syncWal() };
      return;
    }
    // Unsynced WAL bytes: synced by the periodic sync, at close, and by the
    // next sync write (see syncWal).
    this.walDirty = true;
    this.pendingApply = this.applyGroup(writers);
  }

  /**
   * Inserts the group into the memtable, publishes its sequences and
   * acknowledges its writers. A large group goes in slices of
   * INSERT_SLICE entries while the event loop's turn lasts (YieldGate's
   * clock), then continues on the next turn: a batch of 100,000 entries, or
   * the first batches of a process before the JIT has compiled the insert
   * path (measured: 1,000 entries held the loop 40-70 ms), never holds the
   * loop for long. Readers see none of it until the last slice is in (they
   * read at most lastSequence), and the commit loop waits for it.
   */
  private applyGroup(writers: Writer[]): Promise<void> | undefined {
    const batch = this.groupBatch!;
    const at: BatchInsertion = { pos: BATCH_HEADER_SIZE, seq: this.groupSeq, bytes: 0 };
    if (!this.insertSlices(batch, at)) return this.applyRest(writers, batch, at);
    this.finishGroup(writers, batch, at);
    return undefined;
  }

  /** Inserts slices of the group until it is all in (true) or the turn has run out (false). */
  private insertSlices(batch: WriteBatch, at: BatchInsertion): boolean {
    const mem = this.active.mem;
    while (!batch.insertSome(mem, at, INSERT_SLICE)) {
      if (this.gate.turnExpired()) return false;
    }
    return true;
  }

  private async applyRest(writers: Writer[], batch: WriteBatch, at: BatchInsertion): Promise<void> {
    try {
      do await this.gate.nextTurn();
      while (!this.insertSlices(batch, at));
    } catch (err) {
      this.setBackgroundError(err, 'memtable insert');
      for (const w of writers) w.reject(this.bgError);
      return;
    }
    this.finishGroup(writers, batch, at);
  }

  private finishGroup(writers: Writer[], batch: WriteBatch, at: BatchInsertion): void {
    const mem = this.active.mem;
    this.counters.userBytesWritten += at.bytes;
    if (!this.workersWarm && mem.approximateBytes >= this.opts.writeBufferSize >>> 1) this.warmWorkers();
    this.versions.lastSequence = this.groupSeq + batch.count - 1;
    this.groupBatch = undefined;
    if (this.gate.shouldYield(batch.count)) {
      setImmediate(() => {
        for (const w of writers) w.resolve();
      });
    } else {
      for (const w of writers) w.resolve();
    }
  }

  /**
   * The background thread starts once the first memtable is half full, so
   * the first flush finds it ready, and not at open: booting a Node thread
   * took ~50–100 ms of CPU from the first operations of every database (a
   * sync put cost 240–320 µs instead of 170–200 for the first second), and a
   * database that is only read, or written little, never needs it.
   */
  private warmWorkers(): void {
    this.workersWarm = true;
    this.runner.warmUp();
  }

  private workersWarm = false;

  private failQueue(err: unknown): void {
    const q = this.queue.splice(0);
    for (const w of q) w.reject(err);
  }

  /**
   * Returns undefined when the active memtable has room, or a promise to
   * wait on first: a 1 ms slowdown when L0 is getting deep, a stall while
   * too many memtables or L0 files wait for background work, or the switch
   * to a new memtable and WAL.
   */
  private makeRoomForWrite(alreadyDelayed: boolean): Promise<void> | undefined {
    const l0 = this.versions.current.levels[0]!.length;
    if (!alreadyDelayed && l0 >= this.opts.level0SlowdownTrigger && l0 < this.opts.level0StopTrigger) {
      this.counters.writeSlowdowns++;
      return sleep(1);
    }
    if (this.active.mem.approximateBytes < this.opts.writeBufferSize) return undefined;
    if (this.frozen.length >= this.opts.maxWriteBufferNumber - 1 || l0 >= this.opts.level0StopTrigger) {
      this.counters.writeStalls++;
      this.maybeScheduleFlush();
      this.maybeScheduleCompaction();
      const t0 = this.opts.clock.nowMs();
      return new Promise<void>((resolve) => this.roomWaiters.push(resolve)).then(() => {
        this.counters.writeStallMs += this.opts.clock.nowMs() - t0;
      });
    }
    return this.switchMemtable();
  }

  private async switchMemtable(): Promise<void> {
    const logNumber = this.versions.newFileNumber();
    const log = new LogWriter(this.fs.createWritable(logFile(this.location, logNumber)));
    const old = this.log;
    // A periodic sync still running may have cleared walDirty before its sync of this WAL is done.
    if (this.walDirty || this.periodicSync !== undefined) {
      this.walDirty = false;
      this.unsyncedLogs.push({ number: this.active.logNumber, log: old, synced: undefined });
    } else {
      old.close();
    }
    // The new WAL's directory entry is synced with it, before a sync write in it is acknowledged.
    this.walDirPending = logNumber;
    this.log = log;
    this.frozen.push(this.active);
    const spare = this.spareMemtable;
    this.spareMemtable = undefined;
    this.active = { mem: new Memtable(this.opts.writeBufferSize, this.active.mem.commonPrefix(), spare), logNumber };
    this.maybeScheduleFlush();
  }

  /**
   * Makes every write logged so far durable: first the older WALs still
   * unsynced (a write must never be durable while an earlier one is not), then
   * the current WAL's directory entry, then the current WAL. Callers that
   * overlap share each older WAL's sync, which closes it once done.
   */
  private syncWal(): Promise<void> {
    if (this.unsyncedLogs.length === 0 && this.walDirPending === undefined) return this.log.sync();
    return this.syncWalAfterOlder(this.log);
  }

  private async syncWalAfterOlder(log: LogWriter): Promise<void> {
    await Promise.all(this.unsyncedLogs.map((o) => (o.synced ??= this.syncOldLog(o))));
    const dir = this.walDirPending;
    if (dir !== undefined) {
      await this.fs.syncDir(this.location);
      if (this.walDirPending === dir) this.walDirPending = undefined;
    }
    if (log === this.log) {
      await log.sync();
      return;
    }
    // Switched away meanwhile (a periodic sync does not hold the commit loop): it is an older
    // WAL now, synced as one; if it is not listed, its memtable already reached a table.
    const o = this.unsyncedLogs.find((x) => x.log === log);
    if (o !== undefined) await (o.synced ??= this.syncOldLog(o));
  }

  private async syncOldLog(o: OldLog): Promise<void> {
    try {
      await o.log.sync();
    } finally {
      // Synced, or failed (never retried: the database turns read-only).
      const i = this.unsyncedLogs.indexOf(o);
      if (i >= 0) this.unsyncedLogs.splice(i, 1);
      o.log.close();
    }
  }

  /** Closes the unsynced older WALs below `logNumber`: their memtables are in tables now. */
  private dropObsoleteLogs(logNumber: number): void {
    const keep: OldLog[] = [];
    for (const o of this.unsyncedLogs) {
      if (o.number >= logNumber) keep.push(o);
      // One being synced closes itself when done.
      else if (o.synced === undefined) o.log.close();
    }
    this.unsyncedLogs = keep;
  }

  private periodicWalSync(): void {
    if ((!this.walDirty && this.unsyncedLogs.length === 0) || this.periodicSync || this.closed || this.bgError) return;
    this.walDirty = false;
    this.counters.walSyncs++;
    this.periodicSync = this.syncWal()
      .catch((err: unknown) => this.setBackgroundError(err, 'periodic fsync of the WAL'))
      .finally(() => {
        this.periodicSync = undefined;
      });
  }

  /**
   * An fsync or write failure is never retried and never followed by an
   * acknowledgement (the page cache may have dropped the data): the database
   * turns read-only until reopened, which replays what is really on disk.
   */
  private setBackgroundError(err: unknown, during: string): void {
    if (this.bgError) return;
    const detail = err instanceof Error ? err.message : String(err);
    this.bgError = new StrataError(ERROR_CODES.READ_ONLY, `database is read-only after a failure during ${during}: ${detail}; reopen it to recover`, {
      cause: err,
    });
    this.failQueue(this.bgError);
    this.wakeRoomWaiters();
  }

  private wakeRoomWaiters(): void {
    const w = this.roomWaiters;
    this.roomWaiters = [];
    for (const r of w) r();
  }

  // ---------------------------------------------------------------- flush

  private maybeScheduleFlush(): void {
    if (this.flushTask || this.frozen.length === 0 || this.bgError || this.closed) return;
    this.flushTask = this.flushFrozen().finally(() => {
      this.flushTask = undefined;
      this.wakeRoomWaiters();
      if (this.frozen.length > 0) this.maybeScheduleFlush();
    });
  }

  private async flushFrozen(): Promise<void> {
    while (this.frozen.length > 0 && !this.bgError) {
      const { mem } = this.frozen[0]!;
      const nextLog = this.frozen[1]?.logNumber ?? this.active.logNumber;
      const number = this.versions.newFileNumber();
      this.pendingOutputs.add(number);
      try {
        const meta = await this.runner.flush(this.location, number, mem, this.tableOptions);
        const edit = new VersionEdit();
        if (meta) {
          const { lo, hi } = userKeyRange([meta]);
          // Pushed below L0 only when no compaction is running or about to be planned (compactRange):
          // one planned on a version without this file could write outputs overlapping it.
          const level = this.compactTask || this.manualCompactions > 0 ? 0 : pickLevelForFlush(this.versions.current, lo, hi);
          edit.addFile(level, meta);
          this.counters.flushes++;
          this.counters.flushBytesWritten += meta.size;
        }
        edit.logNumber = nextLog;
        await this.versions.logAndApply(edit);
        this.frozen.shift();
        mem.retire((m) => {
          if (!this.closed) this.spareMemtable = m;
        });
        this.dropObsoleteLogs(nextLog);
      } catch (err) {
        this.setBackgroundError(err, 'memtable flush');
        return;
      } finally {
        this.pendingOutputs.delete(number);
      }
      this.wakeRoomWaiters();
      this.deleteObsoleteFiles();
      this.maybeScheduleCompaction();
    }
  }

  /**
   * Freezes the active memtable (if not empty) and waits until it and every
   * memtable frozen before it are on disk. Writes issued before the call are
   * included; writes that keep coming during it do not delay it.
   */
  async flush(): Promise<void> {
    this.checkWritable();
    await this.flushMemtables();
  }

  private async flushMemtables(): Promise<void> {
    await this.drainQueue();
    if (this.active.mem.entries > 0) {
      try {
        await this.withCommitLock(() => this.switchMemtable());
      } catch (err) {
        // A failed WAL or directory fsync is never retried: read-only, as in the commit loop.
        this.setBackgroundError(err, 'switching memtable');
        throw this.bgError ?? err;
      }
    }
    // Flushes go oldest first: once the newest memtable frozen so far is out of `frozen`, all are on disk.
    const target = this.frozen.at(-1);
    while (target !== undefined && this.frozen.includes(target)) {
      this.maybeScheduleFlush();
      if (this.bgError) throw this.bgError;
      if (this.closed) throw closedError();
      // Woken after each memtable flush and on a background error (not at the end of the flush task,
      // which keeps going while writers keep freezing memtables).
      await new Promise<void>((r) => this.roomWaiters.push(r));
    }
    if (this.bgError) throw this.bgError;
  }

  /** Waits until every write enqueued before the call has been acknowledged or has failed. */
  private async drainQueue(): Promise<void> {
    const target = this.writesEnqueued;
    while (this.writesFinished < target) {
      await new Promise<void>((r) => setImmediate(r));
    }
  }

  /** Runs `fn` while no commit group is in progress (queued writes wait; the commit loop yields between groups). */
  private async withCommitLock<T>(fn: () => Promise<T>): Promise<T> {
    this.lockWaiters++;
    try {
      while (this.committing) await new Promise<void>((r) => setImmediate(r));
    } finally {
      this.lockWaiters--;
    }
    // Taken in the same continuation as the check, so no commit group can slip in between.
    this.committing = true;
    try {
      return await fn();
    } finally {
      this.committing = false;
      if (this.queue.length > 0) {
        this.committing = true;
        queueMicrotask(() => void this.commitLoop());
      }
    }
  }

  // ---------------------------------------------------------------- compaction

  private maybeScheduleCompaction(): void {
    if (this.compactTask || this.bgError || this.closed || this.closing || this.manualCompactions > 0) return;
    const seek = this.seekCandidate;
    // A candidate compacted away meanwhile (by size) is forgotten, so another can take its place.
    if (seek !== undefined && !this.versions.current.levels[seek.level]!.includes(seek.file)) this.seekCandidate = undefined;
    const plan = pickCompaction(this.versions.current, this.policy, this.versions.compactPointers, this.seekCandidate);
    if (!plan) return;
    if (plan.reason === 'seek') {
      this.seekCandidate = undefined;
      this.counters.seekCompactions++;
    }
    this.compactTask = this.runCompaction(plan)
      .catch((err: unknown) => this.setBackgroundError(err, 'compaction'))
      .finally(() => {
        this.compactTask = undefined;
        this.wakeRoomWaiters();
        this.maybeScheduleCompaction();
      });
  }

  private async runCompaction(plan: CompactionPlan): Promise<void> {
    const vs = this.versions;
    const [in0, in1] = plan.inputs;
    const edit = new VersionEdit();
    const outLevel = plan.outputLevel ?? plan.level + 1;
    // The next size-triggered compaction of this level starts after these inputs (round robin).
    const largest = in0.reduce((a, f) => (compareInternalKeys(f.largest, a) > 0 ? f.largest : a), in0[0]!.largest);
    edit.compactPointers.push({ level: plan.level, key: largest });
    if (plan.trivialMove) {
      const f = in0[0]!;
      edit.deleteFile(plan.level, f.number);
      edit.addFile(outLevel, f);
      await vs.logAndApply(edit);
      return;
    }
    const pin = vs.pin();
    let inputBytes = 0;
    for (const f of [...in0, ...in1]) inputBytes += f.size;
    const outputNumbers: number[] = [];
    const reserve = Math.ceil(inputBytes / this.opts.targetFileSize) * 2 + 2;
    for (let i = 0; i < reserve; i++) {
      const n = vs.newFileNumber();
      outputNumbers.push(n);
      this.pendingOutputs.add(n);
    }
    try {
      const spec: CompactionJobSpec = {
        dir: this.location,
        inputs: [
          { level: plan.level, files: in0 },
          { level: outLevel, files: in1 },
        ],
        smallestSnapshot: this.snapshots.oldest(vs.lastSequence),
        deeperLevels: pin.version.levels.slice(outLevel + 1).map((files) => [...files]),
        outputNumbers,
        targetFileSize: this.opts.targetFileSize,
        table: this.tableOptions,
        verifyChecksums: this.opts.verifyChecksums,
        yieldEvery: 0,
        expireBeforeMs: this.opts.expiringValues ? this.opts.clock.nowMs() : undefined,
      };
      const result = await this.runner.run(spec);
      for (const f of in0) edit.deleteFile(plan.level, f.number);
      for (const f of in1) edit.deleteFile(outLevel, f.number);
      for (const f of result.outputs) edit.addFile(outLevel, f);
      await vs.logAndApply(edit);
      this.counters.compactions++;
      this.counters.compactionBytesRead += result.bytesRead;
      this.counters.compactionBytesWritten += result.bytesWritten;
    } finally {
      pin.release();
      for (const n of outputNumbers) this.pendingOutputs.delete(n);
    }
    this.deleteObsoleteFiles();
  }

  /**
   * Flushes the memtable, then compacts every level overlapping [start, end]
   * (user keys; omitted = unbounded) down to the last level holding data (L1
   * at least), dropping overwritten versions and tombstones no snapshot needs.
   * Files of that last level that this call did not just write are rewritten
   * in place, so versions a since-released snapshot kept are dropped too.
   */
  async compactRange(start?: BytesLike, end?: BytesLike): Promise<void> {
    this.checkWritable();
    const lo = start === undefined ? undefined : this.key(start, 'start');
    const hi = end === undefined ? undefined : this.key(end, 'end');
    // Counted before the flush: from here on flushes stay in L0 (see flushFrozen), and every flush
    // that chose a deeper level earlier belongs to a memtable this flush() waits for.
    this.manualCompactions++;
    try {
      await this.flush();
      while (this.compactTask) await this.compactTask;
      const vs = this.versions;
      // As LevelDB: L0 is merged into L1 even when no deeper level holds data.
      let maxLevel = 1;
      const existing = new Set<number>();
      vs.current.levels.forEach((files, l) => {
        if (files.length > 0 && l > maxLevel) maxLevel = l;
        for (const f of files) existing.add(f.number);
      });
      for (let level = 0; level <= maxLevel; level++) {
        if (this.bgError) throw this.bgError;
        let plan: CompactionPlan | undefined;
        if (level < maxLevel) {
          plan = planManualCompaction(vs.current, level, lo, hi);
        } else {
          // Nothing below to merge into. Outputs of this call are already as small as they get.
          plan = planBottomCompaction(vs.current, level, lo, hi);
          if (plan && plan.inputs[0].every((f) => !existing.has(f.number))) plan = undefined;
        }
        if (!plan) continue;
        const task = this.runCompaction(plan);
        this.compactTask = task;
        try {
          await task;
        } catch (err) {
          this.setBackgroundError(err, 'manual compaction');
          throw this.bgError ?? err;
        } finally {
          this.compactTask = undefined;
        }
        this.wakeRoomWaiters();
      }
    } finally {
      this.manualCompactions--;
      this.maybeScheduleCompaction();
    }
  }

  private scheduleObsoleteCleanup(): void {
    if (this.cleanupScheduled || this.closed) return;
    this.cleanupScheduled = true;
    setImmediate(() => {
      this.cleanupScheduled = false;
      if (!this.closed) this.deleteObsoleteFiles();
    });
  }

  /** Removes WALs, tables, MANIFESTs and temp files nothing refers to any more. */
  private deleteObsoleteFiles(): void {
    if (this.bgError) return; // After a failure, keep everything for the next open to sort out.
    const vs = this.versions;
    const live = vs.liveTableNumbers();
    const minLog = Math.min(vs.logNumber, this.frozen[0]?.logNumber ?? Infinity, this.active.logNumber);
    const doomed: string[] = [];
    let names: string[];
    try {
      names = this.fs.list(this.location);
    } catch {
      return;
    }
    for (const name of names) {
      const p = parseFileName(name);
      if (!p) continue;
      let keep = true;
      switch (p.kind) {
        case 'log':
          keep = p.number >= minLog;
          break;
        case 'manifest':
          keep = p.number >= vs.manifestNumber;
          break;
        case 'table':
          keep = live.has(p.number) || this.pendingOutputs.has(p.number);
          break;
        case 'temp':
          keep = false;
          break;
        case 'current':
        case 'lock':
          keep = true;
          break;
      }
      if (keep) continue;
      if (p.kind === 'table') this.tableCache.evict(p.number);
      doomed.push(`${this.location}/${name}`);
    }
    if (doomed.length === 0) return;
    // Unlinks run off the event loop: freeing a multi-megabyte table takes a millisecond or two.
    // A failed one is left for the next cleanup (an obsolete file is harmless).
    const removal = Promise.all(doomed.map((path) => this.fs.removeAsync(path).then(() => true, () => false))).then((done) => {
      this.removals.delete(removal);
      if (done.includes(true) && !this.closed) this.syncDirAfterRemoval();
    });
    this.removals.add(removal);
  }

  /** Obsolete-file removals in flight (close waits for them). */
  private readonly removals = new Set<Promise<void>>();

  /**
   * Makes removals durable. Not needed for correctness (a removed file that
   * comes back after a crash is obsolete and removed again at open), but a
   * failed directory fsync is never ignored: it turns the database read-only.
   */
  private syncDirAfterRemoval(): void {
    if (this.dirSyncPending) return;
    this.dirSyncPending = true;
    this.fs
      .syncDir(this.location)
      .catch((err: unknown) => {
        if (!this.closed) this.setBackgroundError(err, 'directory fsync after removing obsolete files');
      })
      .finally(() => {
        this.dirSyncPending = false;
      });
  }

  // ---------------------------------------------------------------- reads

  /**
   * The value of `key` (a copy the caller owns), or undefined if absent.
   * Synchronous: served from memory, the block cache, or by pread.
   */
  getSync(key: BytesLike, options?: ReadOptions): Buffer | undefined {
    this.checkOpen();
    const v = this.getAt(this.key(key), this.readSequence(options));
    return v === undefined ? undefined : Buffer.from(v);
  }

  /**
   * `getSync` without the copy, for values in tables: the value is then a
   * view of a cached block. That memory is never written again, but the view
   * must not be modified, and keeping it keeps the whole block alive: copy
   * what you keep. For readers that look at a large value once (decode it,
   * compare it), where the copy would be most of the work. A value still in
   * a memtable is copied: memtable memory is reused after a flush.
   */
  getSyncView(key: BytesLike, options?: ReadOptions): Buffer | undefined {
    this.checkOpen();
    return this.getAt(this.key(key), this.readSequence(options), true);
  }

  /** `keepable`: the value's block is pinned (its memory never reused), so the view may be kept. */
  private getFromTables(v: Version, k: Buffer, lookup: Buffer, keepable: boolean): Buffer | undefined {
    const w = this.syncWalk.reset(v, k, lookup);
    if (this.walkTables(w, false) !== FIND_VALUE) return undefined;
    if (keepable) w.valueBlock!.pin();
    return w.value;
  }

  /** The walk of synchronous point reads (one at a time). */
  private readonly syncWalk = new TableWalk();

  /**
   * Looks for the walk's key in the tables that may hold it, newest first,
   * from where the walk stands. FIND_VALUE: the value is in `w.value`;
   * FIND_DELETED or FIND_NONE: it has none. With `cachedOnly`, FIND_MISS
   * when a table needs a data block that is not cached: the walk then
   * holds the table and block (resumeWalk goes on once it is loaded).
   */
  private walkTables(w: TableWalk, cachedOnly: boolean): FindResult {
    const v = w.v;
    const k = w.k;
    if (w.level === 0) {
      const l0 = v.levels[0]!;
      for (; w.index < l0.length; w.index++) {
        const f = l0[w.index]!;
        if (compareUserKeyTo(k, f.smallest) < 0 || compareUserKeyTo(k, f.largest) > 0) continue;
        const r = this.probeTable(w, 0, f, cachedOnly);
        if (r !== FIND_NONE) return r;
      }
      w.level = 1;
    }
    for (; w.level < v.levels.length; w.level++) {
      const files = v.levels[w.level]!;
      if (files.length === 0) continue;
      const i = findFile(files, k);
      if (i >= files.length) continue;
      const f = files[i]!;
      if (compareUserKeyTo(k, f.smallest) < 0) continue;
      const r = this.probeTable(w, w.level, f, cachedOnly);
      if (r !== FIND_NONE) return r;
    }
    return FIND_NONE;
  }

  private probeTable(w: TableWalk, level: number, f: FileMeta, cachedOnly: boolean): FindResult {
    // The first table consulted pays a seek when the read goes on to a second one.
    if (w.first === undefined) {
      w.first = f;
      w.firstLevel = level;
    } else if (!w.charged) {
      w.charged = true;
      this.chargeSeek(w.firstLevel, w.first);
    }
    const reader = this.tableCache.reader(f);
    const r = cachedOnly ? reader.findCached(w.lookup, w.hash) : reader.find(w.lookup, w.hash);
    if (r === FIND_VALUE) {
      w.value = reader.foundValue;
      w.valueBlock = reader.foundBlock;
    } else if (r === FIND_MISS) {
      w.file = f;
      w.reader = reader;
      w.block = reader.missBlock;
    }
    return r;
  }

  /** Goes on with a walk that stopped at FIND_MISS, now that its block is `block`; tables after that one are read synchronously. */
  private resumeWalk(w: TableWalk, block: Block): FindResult {
    const reader = w.reader!;
    const r = reader.findWith(w.lookup, w.block, block);
    if (r === FIND_VALUE) {
      w.value = reader.foundValue;
      w.valueBlock = reader.foundBlock;
    }
    if (r !== FIND_NONE) return r;
    if (w.level === 0) w.index++;
    else w.level++;
    return this.walkTables(w, false);
  }

  /**
   * LevelDB's seek compaction: a table that reads keep consulting before
   * they find their key elsewhere costs a seek each time. After
   * max(100, size / 16 KiB) of them (LevelDB's allowed_seeks: about what
   * compacting it would cost) it is merged into the next level once nothing
   * is due by size, so read-mostly data does not keep paying for extra
   * level-0 files or overlapping levels.
   */
  private chargeSeek(level: number, f: FileMeta): void {
    const left = (this.allowedSeeks.get(f) ?? Math.max(100, Math.floor(f.size / 16384))) - 1;
    this.allowedSeeks.set(f, left);
    if (left === 0) {
      // A table is nominated once; if another holds the place, reads keep charging it until it is free.
      if (this.seekCandidate === undefined) {
        this.seekCandidate = { level, file: f };
        this.maybeScheduleCompaction();
      } else {
        this.allowedSeeks.set(f, 1);
      }
    }
  }

  /**
   * An iterator's read sample (at each seek and every READ_SAMPLE_BYTES it
   * returns): when two or more tables overlap the key, the first pays a seek
   * (LevelDB's RecordReadSample).
   */
  private recordReadSample(v: Version, k: Buffer): void {
    // Only the current version's tables can still be compacted (an old iterator's may be gone).
    if (this.closed || v !== this.versions.current) return;
    let first: FileMeta | undefined;
    let firstLevel = 0;
    for (const f of v.levels[0]!) {
      if (compareUserKeyTo(k, f.smallest) < 0 || compareUserKeyTo(k, f.largest) > 0) continue;
      if (first !== undefined) return this.chargeSeek(firstLevel, first);
      first = f;
    }
    for (let level = 1; level < v.levels.length; level++) {
      const files = v.levels[level]!;
      const i = findFile(files, k);
      if (i >= files.length || compareUserKeyTo(k, files[i]!.smallest) < 0) continue;
      if (first !== undefined) return this.chargeSeek(firstLevel, first);
      first = files[i]!;
      firstLevel = level;
    }
  }

  /** Seeks left per table (see chargeSeek); runtime only, as in LevelDB. */
  private readonly allowedSeeks = new WeakMap<FileMeta, number>();
  private seekCandidate: SeekCandidate | undefined;

  /**
   * The lookup key (user key + trailer) for a point read, in a buffer kept
   * for the next read of the same key length: point reads are synchronous
   * and nothing keeps the lookup key.
   */
  private lookupKey(k: Buffer, seq: number): Buffer {
    let b = this.lookupBuf;
    if (b.length !== k.length + TRAILER_SIZE) this.lookupBuf = b = Buffer.allocUnsafe(k.length + TRAILER_SIZE);
    copyRange(k, 0, k.length, b, 0);
    writeTrailer(b, k.length, seq, ValueType.PUT);
    return b;
  }

  private lookupBuf: Buffer = Buffer.alloc(0);

  get(key: BytesLike, options?: ReadOptions & { encoding?: 'buffer' }): Promise<Buffer | undefined>;
  get(key: BytesLike, options: ReadOptions & { encoding: 'utf8' }): Promise<string | undefined>;
  get(key: BytesLike, options?: ReadOptions): Promise<Buffer | string | undefined> {
    try {
      if (options?.encoding !== 'utf8') {
        if (this.readHelper !== undefined) return this.getConcurrent(key, options);
        return this.gate.resolve(this.getSync(key, options));
      }
      this.checkOpen();
      const v = this.getAt(this.key(key), this.readSequence(options));
      return this.gate.resolve(v?.toString('utf8'));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Like `get`, but a missing key rejects with a NOT_FOUND StrataError instead of resolving undefined. */
  getOrThrow(key: BytesLike, options?: ReadOptions): Promise<Buffer> {
    try {
      const v = this.getSync(key, options);
      if (v === undefined) throw new StrataError(ERROR_CODES.NOT_FOUND, `key not found: ${JSON.stringify(toBuffer(key).toString('utf8').slice(0, 64))}`);
      return this.gate.resolve(v);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Values of `keys` in order (undefined where absent), all read at one sequence. */
  getMany(keys: ReadonlyArray<BytesLike>, options?: ReadOptions): Promise<Array<Buffer | undefined>> {
    try {
      if (!Array.isArray(keys)) throw invalidArgument('getMany: keys must be an array');
      this.checkOpen();
      const seq = this.readSequence(options);
      return this.gate.resolve(
        keys.map((k) => {
          const v = this.getAt(this.key(k), seq);
          return v === undefined ? undefined : Buffer.from(v);
        }),
      );
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * The value as a view into memtable or block memory: never hand it out
   * uncopied. `keepable`: a value from a memtable is copied (its memory is
   * reused once it is flushed); a value's block is pinned (see Block).
   */
  private getAt(k: Buffer, seq: number, keepable = false): Buffer | undefined {
    const r = this.getFromMemtables(k, seq);
    if (r !== undefined) return r.kind === 'value' ? (keepable ? Buffer.from(r.value) : r.value) : undefined;
    return this.getFromTables(this.versions.current, k, this.lookupKey(k, seq), keepable);
  }

  private getFromMemtables(k: Buffer, seq: number): MemtableGetResult {
    let r = this.active.mem.get(k, seq);
    for (let i = this.frozen.length - 1; r === undefined && i >= 0; i--) r = this.frozen[i]!.mem.get(k, seq);
    return r;
  }

  /**
   * `get` with the read helper. A burst is the gets issued before the event
   * loop next runs microtasks (a Promise.all, a server's pipelined
   * requests). When the previous burst held one get (gets awaited one at a
   * time), the first get of a burst reads any block it needs here, like
   * getSync. Every other get looks in the block cache only, and on a miss
   * hands the block to the helper and waits: finishBurst completes them
   * all at the end of the burst, the helper and the event loop splitting
   * the reads between them.
   */
  private getConcurrent(key: BytesLike, options: ReadOptions | undefined): Promise<Buffer | undefined> {
    this.checkOpen();
    const k = this.key(key);
    const seq = this.readSequence(options);
    if (!this.inBurst) {
      this.inBurst = true;
      this.burstGets = 0;
      queueMicrotask(this.finishBurst);
      if (this.lastBurstGets <= 1) {
        this.burstGets++;
        const v = this.getAt(k, seq);
        return this.gate.resolve(v === undefined ? undefined : Buffer.from(v));
      }
    }
    this.burstGets++;
    const m = this.getFromMemtables(k, seq);
    if (m !== undefined) return this.gate.resolve(m.kind === 'value' ? Buffer.from(m.value) : undefined);
    const w = new TableWalk().reset(this.versions.current, k, this.lookupKey(k, seq));
    const r = this.walkTables(w, true);
    if (r !== FIND_MISS) return this.gate.resolve(r === FIND_VALUE ? Buffer.from(w.value!) : undefined);
    // The walk outlives this call: its own lookup key (the scratch is reused), and the key as its prefix.
    w.lookup = Buffer.from(w.lookup);
    w.k = w.lookup.subarray(0, k.length);
    // Pinned: the table's file stays open while the helper may read it (finishGet lets go).
    const pin = this.tableCache.pin(w.file!);
    const p: PendingGet = { walk: w, slot: -1, release: pin.release, resolve: noop, reject: noop };
    const promise = new Promise<Buffer | undefined>((resolve, reject) => {
      p.resolve = resolve;
      p.reject = reject;
    });
    this.pendingGets.push(p);
    const fd = pin.reader.fd;
    if (fd !== undefined) {
      const h = pin.reader.blockHandle(w.block, this.submitHandle);
      p.slot = this.readHelper!.submit(fd, h.offset, h.size, this.opts.verifyChecksums);
    }
    return promise;
  }

  /** Set from a burst's first get until its end (finishBurst). */
  private inBurst = false;
  /** Gets in this burst, and in the last one. */
  private burstGets = 0;
  private lastBurstGets = 0;
  private pendingGets: PendingGet[] = [];
  /** Scratch for the handle of a block handed to the helper (submit copies it). */
  private readonly submitHandle: BlockHandle = { offset: 0, size: 0 };

  private readonly finishBurst = (): void => {
    this.inBurst = false;
    this.lastBurstGets = this.burstGets;
    const pending = this.pendingGets;
    if (pending.length === 0) return;
    this.pendingGets = [];
    const helper = this.readHelper!;
    // The helper takes its slots from the first up; the event loop takes back the ones it has
    // not started, from the last down, and reads them itself.
    for (let j = pending.length - 1; j >= 0; j--) {
      const p = pending[j]!;
      if (p.slot >= 0 && !helper.steal(p.slot)) continue;
      p.slot = -1;
      this.counters.helperReadsTakenBack++;
      this.finishGet(p, undefined);
    }
    for (const p of pending) {
      if (p.slot < 0) continue;
      if (!helper.wait(p.slot)) {
        // The helper stopped answering: read here. Its slot, and the table's pin, are never given back.
        p.slot = -1;
        p.release = noop;
        this.finishGet(p, undefined);
        continue;
      }
      this.counters.helperReads++;
      this.finishGet(p, helper.result(p.slot));
    }
  };

  /** Completes a pending get: its block is `contents` (read by the helper) or read here. */
  private finishGet(p: PendingGet, contents: Uint8Array | undefined): void {
    const w = p.walk;
    try {
      const reader = w.reader!;
      const block = contents === undefined ? reader.readDataBlock(w.block) : reader.adoptDataBlock(w.block, contents);
      if (p.slot >= 0) this.readHelper!.free(p.slot);
      p.slot = -1;
      const r = this.resumeWalk(w, block);
      const v = r === FIND_VALUE ? Buffer.from(w.value!) : undefined;
      if (this.gate.shouldYield()) setImmediate(p.resolve, v);
      else p.resolve(v);
    } catch (err) {
      if (p.slot >= 0) this.readHelper!.free(p.slot);
      p.slot = -1;
      p.reject(err);
    } finally {
      p.release();
    }
  }

  has(key: BytesLike, options?: ReadOptions): Promise<boolean> {
    try {
      this.checkOpen();
      return this.gate.resolve(this.getAt(this.key(key), this.readSequence(options)) !== undefined);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** A consistent read view; release it when done. */
  snapshot(): Snapshot {
    this.checkOpen();
    return this.snapshots.create(this.versions.lastSequence);
  }

  /**
   * An iterator over [key, value] pairs in key order (or reverse), within
   * the given bounds, at a snapshot (implicitly: now). It sees a fixed view
   * while writes, flushes and compactions go on. Close it (or iterate to the
   * end with for-of / for-await) to release the files it pins.
   */
  iterator<K = Buffer, V = Buffer>(options: IteratorOptions<Snapshot> = {}): DbIterator<K, V> {
    this.checkOpen();
    if (options === null || typeof options !== 'object') throw invalidArgument('iterator options must be an object');
    const seq = this.readSequence(options);
    const fillCache = options.fillCache !== false;
    const pin = this.versions.pin();
    const children: InternalIterator[] = [this.active.mem.iterator()];
    for (let i = this.frozen.length - 1; i >= 0; i--) children.push(this.frozen[i]!.mem.iterator());
    const openTable = (f: FileMeta): InternalIterator => {
      const t = this.tableCache.pin(f);
      try {
        return new PinnedIterator(t.reader.iterator({ fillCache }), t.release);
      } catch (err) {
        t.release();
        throw err;
      }
    };
    try {
      for (const f of pin.version.levels[0]!) children.push(openTable(f));
      for (let l = 1; l < pin.version.levels.length; l++) {
        const files = pin.version.levels[l]!;
        if (files.length > 0) children.push(new ConcatIterator(files, (i) => openTable(files[i]!)));
      }
    } catch (err) {
      for (const c of children) c.close();
      pin.release();
      throw err;
    }
    const merged = new MergingIterator(children);
    const it: DbIterator<K, V> = new DbIterator<K, V>(
      merged,
      seq,
      options,
      () => {
        this.iterators.delete(it as DbIterator<unknown, unknown>);
        pin.release();
        this.scheduleObsoleteCleanup();
      },
      () => this.checkOpen(),
      this.gate,
      (userKey) => this.recordReadSample(pin.version, userKey),
    );
    this.iterators.add(it as DbIterator<unknown, unknown>);
    return it;
  }

  /**
   * All entries in a range or under a prefix, as an array (the seed's
   * Search/SearchPrefix/SearchRange). Use `limit` or an iterator for big ranges.
   */
  scan<K = Buffer, V = Buffer>(options: IteratorOptions<Snapshot> = {}): Promise<Entry<K, V>[]> {
    try {
      const it = this.iterator<K, V>(options);
      try {
        return Promise.resolve(it.nextvSync(Number.MAX_SAFE_INTEGER));
      } finally {
        it.close();
      }
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Entries whose key starts with `prefix`. */
  scanPrefix<K = Buffer, V = Buffer>(prefix: BytesLike, options: Omit<IteratorOptions<Snapshot>, 'prefix'> = {}): Promise<Entry<K, V>[]> {
    return this.scan<K, V>({ ...options, prefix });
  }

  /** Entries with start <= key < end. */
  scanRange<K = Buffer, V = Buffer>(start: BytesLike, end: BytesLike, options: Omit<IteratorOptions<Snapshot>, 'gte' | 'lt'> = {}): Promise<Entry<K, V>[]> {
    return this.scan<K, V>({ ...options, gte: start, lt: end });
  }

  // ---------------------------------------------------------------- checkpoint

  /**
   * Writes a checkpoint of the database into `dir` (created; it must hold no
   * database yet), as RocksDB's Checkpoint does: memtables are flushed, the
   * live tables are hard-linked (copied where links are impossible) and a
   * fresh MANIFEST names them, so the checkpoint opens as a database of its
   * own holding every write acknowledged before the call. Costs a flush and
   * a link per table; the linked tables take no new space until compaction
   * replaces them here. Returns the checkpoint's files and sizes.
   */
  async checkpoint(dir: string): Promise<Array<{ name: string; size: number }>> {
    this.checkWritable();
    if (typeof dir !== 'string' || dir.length === 0) throw invalidArgument('checkpoint: dir must be a non-empty string');
    const fs = this.fs;
    if (fs.exists(currentFile(dir))) throw invalidArgument(`checkpoint: a database already exists in ${dir}`);
    await this.flushMemtables();
    fs.mkdir(dir);
    const pin = this.versions.pin();
    try {
      const files: Array<{ name: string; size: number }> = [];
      for (const level of pin.version.levels) {
        for (const f of level) {
          const to = tableFile(dir, f.number);
          if (fs.exists(to)) fs.remove(to); // left by an earlier attempt that failed part way
          fs.link(tableFile(this.location, f.number), to);
          files.push({ name: tableName(f.number), size: f.size });
        }
      }
      if (fs.exists(valueFormatFile(this.location))) {
        const mark = fs.createWritable(valueFormatFile(dir));
        try {
          mark.append(fs.readFile(valueFormatFile(this.location)));
          await mark.sync();
        } finally {
          mark.close();
        }
        files.push({ name: 'VALUE-FORMAT', size: fs.fileSize(valueFormatFile(dir)) });
      }
      const manifest = await this.versions.writeCheckpointManifest(dir, pin.version);
      files.push({ name: manifest, size: fs.fileSize(joinPath(dir, manifest)) }, { name: 'CURRENT', size: fs.fileSize(currentFile(dir)) });
      return files;
    } finally {
      pin.release();
    }
  }

  // ---------------------------------------------------------------- stats & close

  stats(): EngineStats {
    const c = this.counters;
    const v = this.versions.current;
    const written = c.walBytesWritten + c.flushBytesWritten + c.compactionBytesWritten;
    return {
      levels: v.levels.map((files, level) => ({ level, files: files.length, bytes: v.levelBytes(level) })),
      sequence: this.versions.lastSequence,
      memtableBytes: this.active.mem.approximateBytes + this.frozen.reduce((s, m) => s + m.mem.approximateBytes, 0),
      memtableEntries: this.active.mem.entries,
      immutableMemtables: this.frozen.length,
      liveSnapshots: this.snapshots.size,
      openIterators: this.iterators.size,
      tableCacheSize: this.tableCache.size,
      blockCache: {
        capacityBytes: this.blockCache?.capacity ?? 0,
        usageBytes: this.blockCache?.usage ?? 0,
        entries: this.blockCache?.size ?? 0,
        hits: c.blockCacheHits,
        misses: c.blockCacheMisses,
      },
      bloom: { checks: c.bloomChecks, negatives: c.bloomNegatives, falsePositives: c.bloomFalsePositives },
      parallelReads: { helper: c.helperReads, eventLoop: c.helperReadsTakenBack },
      wal: { bytesWritten: c.walBytesWritten, records: c.walRecords, syncs: c.walSyncs, tornBytesDropped: c.walTornBytesDropped },
      flush: { count: c.flushes, bytesWritten: c.flushBytesWritten },
      compaction: {
        count: c.compactions,
        seekTriggered: c.seekCompactions,
        bytesRead: c.compactionBytesRead,
        bytesWritten: c.compactionBytesWritten,
        running: this.compactTask !== undefined,
      },
      writeAmplification: c.userBytesWritten === 0 ? 0 : written / c.userBytesWritten,
      stalls: { slowdowns: c.writeSlowdowns, stops: c.writeStalls, stallMs: c.writeStallMs },
      userBytesWritten: c.userBytesWritten,
      backgroundError: this.bgError?.message,
    };
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Finishes queued writes, waits for a running flush or compaction, syncs
   * the WAL, and releases files and the LOCK. Unflushed memtables are not
   * written out: the WAL replays them at the next open.
   */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    // `closing` is set: no new write is accepted, so the queue and the commit loop go idle.
    while (this.committing || this.queue.length > 0) await new Promise<void>((r) => setImmediate(r));
    // Writes no WAL holds (disableWal) survive only in tables.
    let flushError: unknown;
    if (!this.bgError && (this.active.unlogged === true || this.frozen.some((m) => m.unlogged === true))) {
      try {
        await this.flushMemtables();
      } catch (err) {
        flushError = err;
      }
    }
    if (this.periodicSync) await this.periodicSync;
    if (this.syncTimer) clearInterval(this.syncTimer);
    while (this.flushTask || this.compactTask) {
      await Promise.allSettled([this.flushTask, this.compactTask]);
    }
    while (this.removals.size > 0) await Promise.all(this.removals);
    if (!this.bgError && (this.walDirty || this.unsyncedLogs.length > 0 || this.opts.syncIntervalMs > 0)) {
      try {
        await this.syncWal();
      } catch {
        // Nothing acknowledged depends on this sync (it was not requested).
      }
    }
    this.closed = true;
    for (const it of this.iterators) it.invalidate();
    this.iterators.clear();
    this.snapshots.releaseAll();
    this.wakeRoomWaiters();
    await this.runner.close();
    this.dropObsoleteLogs(Infinity);
    this.log.close();
    this.versions.close();
    this.tableCache.close();
    this.lock?.release();
    this.lock = undefined;
    if (flushError !== undefined) throw flushError;
  }
}

/** Where a point read stands in its walk over the tables, newest first (see DB.walkTables). */
class TableWalk {
  v!: Version;
  /** The user key, and the lookup key (user key + trailer at the read's sequence). */
  k!: Buffer;
  lookup!: Buffer;
  hash = 0;
  /** Next level-0 file (while level is 0), or next level. */
  level = 0;
  index = 0;
  /** The first table consulted, charged a seek when a second one is (LevelDB's allowed_seeks). */
  first: FileMeta | undefined;
  firstLevel = 0;
  charged = false;
  /** FIND_VALUE: the value, a view of block memory, and that block (valid until the next read: copy the value, or pin the block). */
  value: Buffer | undefined;
  valueBlock: Block | undefined;
  /** FIND_MISS: the table and the data block it needs. */
  file: FileMeta | undefined;
  reader: TableReader | undefined;
  block = 0;

  reset(v: Version, k: Buffer, lookup: Buffer): this {
    this.v = v;
    this.k = k;
    this.lookup = lookup;
    // Every table's bloom filter hashes the key the same way: once here for all of them.
    this.hash = bloomHash(k);
    this.level = 0;
    this.index = 0;
    this.first = undefined;
    this.firstLevel = 0;
    this.charged = false;
    this.value = undefined;
    this.valueBlock = undefined;
    this.file = undefined;
    this.reader = undefined;
    return this;
  }
}

/** A get waiting for its data block until the end of its burst (see DB.getConcurrent). */
interface PendingGet {
  walk: TableWalk;
  /** Its read helper slot, or -1: read on the event loop. */
  slot: number;
  /** Unpins the table. */
  release: () => void;
  resolve: (v: Buffer | undefined) => void;
  reject: (err: unknown) => void;
}

const noop = (): void => undefined;

function noWal(options: WriteOptions | undefined): boolean {
  if (options?.disableWal === undefined) return false;
  if (typeof options.disableWal !== 'boolean') throw invalidArgument('disableWal must be a boolean');
  if (options.disableWal && options.sync === true) throw invalidArgument('a write cannot both sync and skip the WAL (disableWal)');
  return options.disableWal;
}

/** Opens (creating if missing, by default) the database in `dir`. */
export function open(dir: string, options?: OpenOptions): Promise<DB> {
  return DB.open(dir, options);
}

export { isStrataError };
