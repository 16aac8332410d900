import { copyRange, StrataError } from '../base/index.js';
import type { Fs } from '../base/index.js';
import { tableFile } from './filenames.js';
import { isExpired } from './expiring-value.js';
import { TRAILER_SIZE, ValueType, writeTrailer } from './format.js';
import type { InternalIterator } from './iterator.js';
import { MergingIterator } from './merging-iterator.js';
import { TableBuilder, TableReader } from './table/index.js';
import { compareRanges } from './table/block.js';
import { TableScanner } from './table/table-scanner.js';
import { Memtable } from './memtable.js';
import type { TableBuilderOptions } from './table/index.js';
import type { FileMeta } from './version-edit.js';

/**
 * A compaction as data, so it can be posted to a worker thread: which files
 * to merge, where the output goes, and what may be dropped.
 */
export interface CompactionJobSpec {
  dir: string;
  /** Input files per source level; level 0 files may overlap, others are sorted and disjoint. */
  inputs: Array<{ level: number; files: FileMeta[] }>;
  /** Versions not visible to any snapshot older than this may be dropped. */
  smallestSnapshot: number;
  /**
   * Files of the levels below the output level (each sorted, disjoint): a
   * tombstone is dropped only if none of them may contain its key.
   */
  deeperLevels: FileMeta[][];
  /** File numbers reserved for outputs; when they run out, the last output grows past the target size. */
  outputNumbers: number[];
  targetFileSize: number;
  table: TableBuilderOptions;
  verifyChecksums: boolean;
  /** Yield to the event loop every this many entries (0: never; used when running inline). */
  yieldEvery: number;
  /**
   * With expiring values (option expiringValues): values whose expiry is at
   * or before this time count as tombstones. Undefined: values never expire.
   */
  expireBeforeMs?: number | undefined;
}

export interface CompactionJobResult {
  outputs: FileMeta[];
  bytesRead: number;
  bytesWritten: number;
  entriesRead: number;
  entriesWritten: number;
}

/**
 * Background jobs fsync their output every this many bytes (RocksDB's
 * bytes_per_sync): without it a flush or compaction leaves megabytes of dirty
 * pages, and the kernel's writeback throttling then stalls the foreground
 * WAL writes on the main thread for tens of milliseconds.
 */
const BYTES_PER_SYNC = 1024 * 1024;

const EMPTY_VALUE = Buffer.alloc(0);

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Flushes running in this thread: compactions sharing it step aside for them (a flush is what writers wait for). */
let flushesRunning = 0;

/** A compaction's yield: a turn of the event loop, then more while a flush runs. */
async function compactionYield(): Promise<void> {
  do await yieldToLoop();
  while (flushesRunning > 0);
}

/** Opens the inputs as one merged forward scan; the caller closes it. */
function openInputs(fs: Fs, spec: CompactionJobSpec): MergingIterator {
  const open = (f: FileMeta): TableReader =>
    TableReader.open(fs.openRandomAccess(tableFile(spec.dir, f.number)), {
      fileNumber: f.number,
      verifyChecksums: spec.verifyChecksums,
      // A scan never asks the filter or the index's keys: not keeping them saves tens of KB per input.
      scanOnly: true,
    });
  const children: InternalIterator[] = [];
  for (const { level, files } of spec.inputs) {
    if (files.length === 0) continue;
    if (level === 0) for (const f of files) children.push(new TableScanner(1, () => open(f)));
    else children.push(new TableScanner(files.length, (i) => open(files[i]!)));
  }
  return new MergingIterator(children);
}

/**
 * Answers "may a level below the output hold this user key?" for user keys
 * asked in increasing order (a compaction's), with one cursor per level
 * that only moves forward (LevelDB's IsBaseLevelForKey).
 */
class DeeperLevels {
  private readonly at: number[];

  constructor(private readonly levels: FileMeta[][]) {
    this.at = levels.map(() => 0);
  }

  mayContain(key: Buffer, len: number): boolean {
    const levels = this.levels;
    for (let l = 0; l < levels.length; l++) {
      const files = levels[l]!;
      let i = this.at[l]!;
      // Skip files that end before the key: later keys are larger still.
      while (i < files.length && compareRanges(files[i]!.largest, 0, files[i]!.largest.length - TRAILER_SIZE, key, 0, len) < 0) i++;
      this.at[l] = i;
      if (i < files.length && compareRanges(files[i]!.smallest, 0, files[i]!.smallest.length - TRAILER_SIZE, key, 0, len) <= 0) return true;
    }
    return false;
  }
}

const TWO_24 = 0x1000000;

/**
 * Merges the inputs into new tables of at most ~targetFileSize, dropping
 * versions that no snapshot can see and tombstones with nothing below them.
 * Where no deeper level may hold a key, the version every snapshot sees is
 * written with sequence 0 (RocksDB does the same at the bottommost level):
 * trailers of zeros compress to almost nothing. Each output is synced before
 * it is reported; the caller records outputs in the MANIFEST and deletes
 * inputs. On error, partial outputs are removed.
 */
export async function runCompactionJob(fs: Fs, spec: CompactionJobSpec): Promise<CompactionJobResult> {
  const outputs: FileMeta[] = [];
  const result: CompactionJobResult = { outputs, bytesRead: 0, bytesWritten: 0, entriesRead: 0, entriesWritten: 0 };
  for (const { files } of spec.inputs) for (const f of files) result.bytesRead += f.size;
  const snapshot = spec.smallestSnapshot;
  const deeper = new DeeperLevels(spec.deeperLevels);
  let scan: MergingIterator | undefined;
  let builder: TableBuilder | undefined;
  let file: ReturnType<Fs['createWritable']> | undefined;
  let outNumber = -1;
  let outSmallest: Buffer | undefined;
  let nextOut = 0;
  let syncedBytes = 0;
  const created: number[] = [];

  const finishOutput = async () => {
    if (!builder || !file) return;
    const props = builder.finish();
    await file.sync();
    file.close();
    outputs.push({ number: outNumber, size: props.fileSize, smallest: outSmallest!, largest: props.largest });
    result.bytesWritten += props.fileSize;
    builder = undefined;
    file = undefined;
  };

  try {
    scan = openInputs(fs, spec);
    scan.seekToFirst();
    // The current user key (a copy) and its length; -1 before the first entry.
    let user = Buffer.allocUnsafe(64);
    let userLen = -1;
    // Output keys that differ from the input's (a tombstone, or sequence 0) are written here.
    let outKey = Buffer.allocUnsafe(64);
    let lastSeqForKey = Number.MAX_SAFE_INTEGER;
    let sinceYield = 0;
    while (scan.valid()) {
      const kb = scan.keySrc;
      const ks = scan.keyStart;
      const ke = scan.keyEnd;
      const ulen = ke - ks - TRAILER_SIZE;
      result.entriesRead++;
      const low = kb.readUInt32LE(ke - 8);
      const seq = kb.readUInt32LE(ke - 4) * TWO_24 + (low >>> 8);
      const type = low & 0xff;
      if (userLen !== ulen || compareRanges(user, 0, userLen, kb, ks, ks + ulen) !== 0) {
        // Cut between user keys only, so all versions of a key stay in one file.
        if (builder && builder.estimatedFileSize() >= spec.targetFileSize && nextOut < spec.outputNumbers.length) {
          await finishOutput();
        }
        if (ulen > user.length) user = Buffer.allocUnsafe(Math.max(ulen, 2 * user.length));
        copyRange(kb, ks, ks + ulen, user, 0);
        userLen = ulen;
        lastSeqForKey = Number.MAX_SAFE_INTEGER;
      }
      let drop = false;
      let outType = -1; // >= 0: write the entry with sequence 0 and this type
      let outSeq = 0;
      if (lastSeqForKey <= snapshot) {
        // A newer version of this key is visible to every snapshot: this one is hidden.
        drop = true;
      } else if (seq <= snapshot) {
        const dead =
          type === ValueType.DELETE ||
          (spec.expireBeforeMs !== undefined && isExpired(scan.valSrc.subarray(scan.valStart, scan.valEnd), spec.expireBeforeMs));
        const below = deeper.mayContain(user, userLen);
        if (dead) {
          // A tombstone, or an expired value (which reads already treat as absent):
          // gone if no deeper level may hold an older version, else kept as a tombstone.
          if (!below) drop = true;
          else if (type !== ValueType.DELETE) {
            outType = ValueType.DELETE;
            outSeq = seq;
          }
        } else if (!below && seq !== 0) {
          outType = type;
        }
      }
      lastSeqForKey = seq;
      if (!drop) {
        let okb = kb;
        let oks = ks;
        let oke = ke;
        if (outType >= 0) {
          if (ulen + TRAILER_SIZE > outKey.length) outKey = Buffer.allocUnsafe(2 * (ulen + TRAILER_SIZE));
          copyRange(kb, ks, ks + ulen, outKey, 0);
          writeTrailer(outKey, ulen, outSeq, outType as ValueType);
          okb = outKey;
          oks = 0;
          oke = ulen + TRAILER_SIZE;
        }
        if (!builder) {
          if (nextOut >= spec.outputNumbers.length) throw new Error('assertion failed: compaction ran out of output numbers');
          outNumber = spec.outputNumbers[nextOut++]!;
          created.push(outNumber);
          file = fs.createWritable(tableFile(spec.dir, outNumber));
          syncedBytes = 0;
          builder = new TableBuilder(file, spec.table);
          outSmallest = Buffer.from(okb.subarray(oks, oke));
        }
        if (outType === ValueType.DELETE) builder.addRange(okb, oks, oke, EMPTY_VALUE, 0, 0);
        else builder.addRange(okb, oks, oke, scan.valSrc, scan.valStart, scan.valEnd);
        if (file!.size - syncedBytes >= BYTES_PER_SYNC) {
          await file!.sync();
          syncedBytes = file!.size;
        }
        result.entriesWritten++;
      }
      if (spec.yieldEvery > 0 && ++sinceYield >= spec.yieldEvery) {
        sinceYield = 0;
        await compactionYield();
      }
      scan.next();
    }
    await finishOutput();
    return result;
  } catch (err) {
    file?.close();
    for (const n of created) {
      try {
        fs.remove(tableFile(spec.dir, n));
      } catch {
        // Best effort: leftover outputs are not in the MANIFEST and are removed as obsolete at the next open.
      }
    }
    throw err;
  } finally {
    scan?.close();
  }
}

/**
 * Writes every entry of `src` (in internal-key order, walked once from the
 * first) into table `number` and syncs it (and every BYTES_PER_SYNC on the
 * way); undefined, and no file, if `src` is empty.
 */
export async function buildTable(
  fs: Fs,
  dir: string,
  number: number,
  src: InternalIterator,
  table: TableBuilderOptions,
  yieldEvery: number,
): Promise<FileMeta | undefined> {
  const path = tableFile(dir, number);
  const file = fs.createWritable(path);
  try {
    const builder = new TableBuilder(file, table);
    let syncedBytes = 0;
    let n = 0;
    for (src.seekToFirst(); src.valid(); src.next()) {
      builder.addRange(src.keySrc, src.keyStart, src.keyEnd, src.valSrc, src.valStart, src.valEnd);
      if (file.size - syncedBytes >= BYTES_PER_SYNC) {
        await file.sync();
        syncedBytes = file.size;
      }
      if (yieldEvery > 0 && ++n % yieldEvery === 0) await yieldToLoop();
    }
    if (builder.entries === 0) {
      file.close();
      fs.remove(path);
      return undefined;
    }
    const props = builder.finish();
    await file.sync();
    file.close();
    return { number, size: props.fileSize, smallest: props.smallest, largest: props.largest };
  } catch (err) {
    file.close();
    try {
      fs.remove(path);
    } catch {
      // The orphan is not in the MANIFEST; it is removed as obsolete at the next open.
    }
    throw err;
  }
}

export interface FlushJobSpec {
  dir: string;
  number: number;
  /** A frozen memtable's records (Memtable.exportArena). */
  arena: ArrayBufferLike;
  used: number;
  /** The memtable's reference prefix (its node prefixes depend on it). */
  ref: Uint8Array;
  table: TableBuilderOptions;
  /** Yield to the event loop every this many entries (0 or absent: never). */
  yieldEvery?: number;
}

/** Builds table `number` from a memtable's exported records and syncs it; undefined (and no file) if it is empty. */
export async function runFlushJob(fs: Fs, spec: FlushJobSpec): Promise<FileMeta | undefined> {
  const scan = Memtable.fromArena(spec.arena, spec.used, spec.ref).iterator();
  flushesRunning++;
  try {
    return await buildTable(fs, spec.dir, spec.number, scan, spec.table, spec.yieldEvery ?? 0);
  } finally {
    flushesRunning--;
    scan.close();
  }
}

/** Rebuilds a StrataError posted across a worker boundary (structured clone keeps only plain fields). */
export function reviveError(e: { code?: string; message: string; file?: string; offset?: number }): Error {
  if (e.code !== undefined && e.code !== 'SIMULATED_CRASH') {
    return new StrataError(e.code as StrataError['code'], e.message, { file: e.file, offset: e.offset });
  }
  return new Error(e.message);
}
