import { invalidArgument, NodeFs, systemClock } from '../base/index.js';
import type { Clock, Fs } from '../base/index.js';

/**
 * Options for `open(dir, options)`. Every field is optional; defaults are in
 * `DEFAULT_OPTIONS` and documented in the README ("Options").
 */
export interface OpenOptions {
  /** File system to use. Default: the real one (`NodeFs`). */
  fs?: Fs;
  /** Create the database if `dir` holds none. Default true. */
  createIfMissing?: boolean;
  /** Fail with INVALID_ARGUMENT if a database already exists in `dir`. Default false. */
  errorIfExists?: boolean;
  /** Memtable bytes before it is frozen and flushed to an L0 table. Default 4 MiB. */
  writeBufferSize?: number;
  /** Memtables in memory at once (active + immutable ones awaiting flush); writes stall beyond it. Default 3. */
  maxWriteBufferNumber?: number;
  /** L0 file count that triggers an L0 → L1 compaction. Default 4. */
  level0CompactionTrigger?: number;
  /**
   * L0 file count at which each write group is delayed by 1 ms (a counted
   * slowdown). Default 20, as RocksDB (LevelDB: 8): see level0StopTrigger.
   */
  level0SlowdownTrigger?: number;
  /**
   * L0 file count at which writes wait for compaction (a counted stall).
   * Default 36, as RocksDB (LevelDB: 12). With LevelDB's 8/12, a sustained
   * random-key fill stopped for 0.8-1.5 s at a time while one L0 → L1
   * compaction merged all 12 files into an L1 it kept outgrowing; with more
   * room, writes keep flowing and each L0 → L1 compaction absorbs more files
   * per rewrite of L1 (1M keys in batches of 1,000: 142k → 294-358k ops/s;
   * 2M: 116k → 156k, with a quarter less compaction CPU). The cost: a point
   * read that misses the memtable consults every L0 file's bloom filter.
   */
  level0StopTrigger?: number;
  /** Target total bytes of L1; Ln holds `levelSizeMultiplier` times L(n-1). Default 10 MiB. */
  maxBytesForLevelBase?: number;
  /** Size ratio between adjacent levels. Default 10. */
  levelSizeMultiplier?: number;
  /** Number of levels. Default 7. */
  numLevels?: number;
  /** Compaction output files are cut near this size. Default 2 MiB. */
  targetFileSize?: number;
  /** Uncompressed data block size. Default 4 KiB. */
  blockSize?: number;
  /** Keys between restart points in a data block. Default 16. */
  blockRestartInterval?: number;
  /** Bloom filter bits per key; 0 disables filters. Default 10 (~1% false positives). */
  bloomBitsPerKey?: number;
  /** Block compression. Default 'snappy'. */
  compression?: 'snappy' | 'none';
  /** Bytes of uncompressed blocks kept in the shared LRU block cache. Default 8 MiB. */
  blockCacheSize?: number;
  /** Open table files kept in the table cache. Default 1000. */
  maxOpenFiles?: number;
  /** Largest key accepted, in bytes. Default 64 KiB. */
  maxKeySize?: number;
  /** Largest value accepted, in bytes. Default 64 MiB. */
  maxValueSize?: number;
  /**
   * Periodic durability: when > 0, the WAL is fsynced in the background at
   * most every this many ms (like Redis `appendfsync everysec`) for writes
   * that did not ask for `sync: true`. Default 0: only `sync: true` writes fsync.
   */
  syncIntervalMs?: number;
  /** Verify block checksums on every read. Default true. */
  verifyChecksums?: boolean;
  /**
   * Values carry an optional expiry header (see expiring-value.ts): compaction
   * turns values whose time has passed (by `clock`) into tombstones, so expired
   * keys leave the disk. Used by the key-value service. Default false.
   */
  expiringValues?: boolean;
  /**
   * Run compactions in a `worker_threads` worker so the event loop never
   * waits on a merge. Default: true with the real file system, false with
   * another `fs` (an in-memory Fs cannot be shared with a worker).
   */
  compactionWorker?: boolean;
  /**
   * Gets issued together (Promise.all, many clients of a server) that miss
   * the block cache have a helper thread read, check and decompress some
   * of their blocks while the event loop does the rest (see read-helper.ts).
   * Default: true with the real file system, false with another `fs`.
   */
  parallelReads?: boolean;
  /** Clock for stall timing and periodic sync. Default: the system clock. */
  clock?: Clock;
}

export type ResolvedOptions = Required<OpenOptions>;

const MiB = 1024 * 1024;

export const DEFAULT_OPTIONS: Omit<ResolvedOptions, 'fs' | 'compactionWorker' | 'parallelReads' | 'clock'> = {
  createIfMissing: true,
  errorIfExists: false,
  writeBufferSize: 4 * MiB,
  maxWriteBufferNumber: 3,
  level0CompactionTrigger: 4,
  level0SlowdownTrigger: 20,
  level0StopTrigger: 36,
  maxBytesForLevelBase: 10 * MiB,
  levelSizeMultiplier: 10,
  numLevels: 7,
  targetFileSize: 2 * MiB,
  blockSize: 4096,
  blockRestartInterval: 16,
  bloomBitsPerKey: 10,
  compression: 'snappy',
  blockCacheSize: 8 * MiB,
  maxOpenFiles: 1000,
  maxKeySize: 64 * 1024,
  maxValueSize: 64 * MiB,
  syncIntervalMs: 0,
  verifyChecksums: true,
  expiringValues: false,
};

function intOption(opts: OpenOptions, name: keyof OpenOptions, min: number, max: number): number {
  const v = opts[name] ?? DEFAULT_OPTIONS[name as keyof typeof DEFAULT_OPTIONS];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw invalidArgument(`option ${name} must be an integer in [${min}, ${max}], got ${String(v)}`);
  }
  return v;
}

function boolOption(opts: OpenOptions, name: keyof OpenOptions, dflt: boolean): boolean {
  const v = opts[name] ?? dflt;
  if (typeof v !== 'boolean') throw invalidArgument(`option ${name} must be a boolean, got ${String(v)}`);
  return v;
}

const KNOWN = new Set<string>([...Object.keys(DEFAULT_OPTIONS), 'fs', 'compactionWorker', 'parallelReads', 'clock']);

/** Validates `opts` and fills in defaults; throws INVALID_ARGUMENT naming the bad option. */
export function resolveOptions(opts: OpenOptions = {}): ResolvedOptions {
  if (typeof opts !== 'object' || opts === null) throw invalidArgument('options must be an object');
  for (const k of Object.keys(opts)) {
    if (!KNOWN.has(k)) throw invalidArgument(`unknown option ${k}`);
  }
  const fs = opts.fs ?? new NodeFs();
  const fsMethods = ['createWritable', 'openRandomAccess', 'readFile', 'exists', 'list', 'fileSize', 'remove', 'rename', 'mkdir', 'syncDir', 'lock'] as const;
  if (typeof fs !== 'object' || fs === null || fsMethods.some((m) => typeof (fs as unknown as Record<string, unknown>)[m] !== 'function')) {
    throw invalidArgument('option fs must implement the Fs interface (createWritable, openRandomAccess, readFile, ...)');
  }
  if (opts.clock !== undefined && (typeof opts.clock !== 'object' || opts.clock === null || typeof opts.clock.nowMs !== 'function')) {
    throw invalidArgument('option clock must have a nowMs() method');
  }
  const compression = opts.compression ?? DEFAULT_OPTIONS.compression;
  if (compression !== 'snappy' && compression !== 'none') {
    throw invalidArgument(`option compression must be 'snappy' or 'none', got ${String(compression)}`);
  }
  const r: ResolvedOptions = {
    fs,
    createIfMissing: boolOption(opts, 'createIfMissing', DEFAULT_OPTIONS.createIfMissing),
    errorIfExists: boolOption(opts, 'errorIfExists', DEFAULT_OPTIONS.errorIfExists),
    writeBufferSize: intOption(opts, 'writeBufferSize', 64 * 1024, 1024 * MiB),
    maxWriteBufferNumber: intOption(opts, 'maxWriteBufferNumber', 2, 64),
    level0CompactionTrigger: intOption(opts, 'level0CompactionTrigger', 1, 1000),
    level0SlowdownTrigger: intOption(opts, 'level0SlowdownTrigger', 1, 1000),
    level0StopTrigger: intOption(opts, 'level0StopTrigger', 1, 1000),
    maxBytesForLevelBase: intOption(opts, 'maxBytesForLevelBase', 64 * 1024, 1024 * 1024 * MiB),
    levelSizeMultiplier: intOption(opts, 'levelSizeMultiplier', 2, 1000),
    numLevels: intOption(opts, 'numLevels', 2, 20),
    targetFileSize: intOption(opts, 'targetFileSize', 16 * 1024, 1024 * MiB),
    blockSize: intOption(opts, 'blockSize', 256, 16 * MiB),
    blockRestartInterval: intOption(opts, 'blockRestartInterval', 1, 1024),
    bloomBitsPerKey: intOption(opts, 'bloomBitsPerKey', 0, 64),
    compression,
    blockCacheSize: intOption(opts, 'blockCacheSize', 0, 1024 * 1024 * MiB),
    maxOpenFiles: intOption(opts, 'maxOpenFiles', 16, 1_000_000),
    maxKeySize: intOption(opts, 'maxKeySize', 1, 16 * MiB),
    maxValueSize: intOption(opts, 'maxValueSize', 0, 1024 * MiB),
    syncIntervalMs: intOption(opts, 'syncIntervalMs', 0, 3_600_000),
    verifyChecksums: boolOption(opts, 'verifyChecksums', DEFAULT_OPTIONS.verifyChecksums),
    expiringValues: boolOption(opts, 'expiringValues', DEFAULT_OPTIONS.expiringValues),
    compactionWorker: boolOption(opts, 'compactionWorker', fs instanceof NodeFs),
    parallelReads: boolOption(opts, 'parallelReads', fs instanceof NodeFs),
    clock: opts.clock ?? systemClock,
  };
  if (!(r.level0CompactionTrigger <= r.level0SlowdownTrigger && r.level0SlowdownTrigger <= r.level0StopTrigger)) {
    throw invalidArgument('options must satisfy level0CompactionTrigger <= level0SlowdownTrigger <= level0StopTrigger');
  }
  if (r.compactionWorker && !(fs instanceof NodeFs)) {
    throw invalidArgument('option compactionWorker requires the real file system (fs: NodeFs)');
  }
  return r;
}
