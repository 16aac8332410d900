import { StrataError } from '../base/index.js';
import type { Fs } from '../base/index.js';
import { ConcatIterator } from './concat-iterator.js';
import { tableFile } from './filenames.js';
import { isExpired } from './expiring-value.js';
import { compareUserKeyTo, makeInternalKey, seqOf, typeOf, userKeyOf, ValueType } from './format.js';
import type { InternalIterator } from './iterator.js';
import { MergingIterator } from './merging-iterator.js';
import { TableBuilder, TableReader } from './table/index.js';
import { Memtable } from './memtable.js';
import type { TableBuilderOptions } from './table/index.js';
import { findFile } from './version.js';
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

/** Opens inputs for a merge; the caller closes the returned iterator. */
function openInputs(fs: Fs, spec: CompactionJobSpec, readers: TableReader[]): InternalIterator {
  const open = (f: FileMeta): InternalIterator => {
    const reader = TableReader.open(fs.openRandomAccess(tableFile(spec.dir, f.number)), {
      fileNumber: f.number,
      verifyChecksums: spec.verifyChecksums,
    });
    readers.push(reader);
    return reader.iterator({ fillCache: false });
  };
  const children: InternalIterator[] = [];
  for (const { level, files } of spec.inputs) {
    if (files.length === 0) continue;
    if (level === 0) for (const f of files) children.push(open(f));
    else children.push(new ConcatIterator(files, (i) => open(files[i]!)));
  }
  return new MergingIterator(children);
}

function mayExistDeeper(levels: FileMeta[][], userKey: Buffer): boolean {
  for (const files of levels) {
    const i = findFile(files, userKey);
    if (i < files.length && compareUserKeyTo(userKey, files[i]!.smallest) >= 0) return true;
  }
  return false;
}

/**
 * Merges the inputs into new tables of at most ~targetFileSize, dropping
 * versions that no snapshot can see and tombstones with nothing below them.
 * Each output is synced before it is reported; the caller records outputs in
 * the MANIFEST and deletes inputs. On error, partial outputs are removed.
 */
export async function runCompactionJob(fs: Fs, spec: CompactionJobSpec): Promise<CompactionJobResult> {
  const readers: TableReader[] = [];
  const outputs: FileMeta[] = [];
  const result: CompactionJobResult = { outputs, bytesRead: 0, bytesWritten: 0, entriesRead: 0, entriesWritten: 0 };
  for (const { files } of spec.inputs) for (const f of files) result.bytesRead += f.size;
  let it: InternalIterator | undefined;
  let builder: TableBuilder | undefined;
  let file: ReturnType<Fs['createWritable']> | undefined;
  let outNumber = -1;
  let outSmallest: Buffer | undefined;
  let outLargest: Buffer | undefined;
  let nextOut = 0;
  let syncedBytes = 0;
  const created: number[] = [];

  const finishOutput = async () => {
    if (!builder || !file) return;
    const props = builder.finish();
    await file.sync();
    file.close();
    outputs.push({ number: outNumber, size: props.fileSize, smallest: outSmallest!, largest: outLargest! });
    result.bytesWritten += props.fileSize;
    builder = undefined;
    file = undefined;
  };

  try {
    it = openInputs(fs, spec, readers);
    it.seekToFirst();
    let currentUser: Buffer | undefined;
    let lastSeqForKey = Number.MAX_SAFE_INTEGER;
    let sinceYield = 0;
    while (it.valid()) {
      const ikey = it.key();
      result.entriesRead++;
      const seq = seqOf(ikey);
      const newUserKey = currentUser === undefined || compareUserKeyTo(currentUser, ikey) !== 0;
      if (newUserKey) {
        // Cut between user keys only, so all versions of a key stay in one file.
        if (builder && builder.estimatedFileSize() >= spec.targetFileSize && nextOut < spec.outputNumbers.length) {
          await finishOutput();
        }
        currentUser = Buffer.from(userKeyOf(ikey));
        lastSeqForKey = Number.MAX_SAFE_INTEGER;
      }
      let drop = false;
      let asTombstone = false;
      const type = typeOf(ikey);
      if (lastSeqForKey <= spec.smallestSnapshot) {
        // A newer version of this key is visible to every snapshot: this one is hidden.
        drop = true;
      } else if (seq <= spec.smallestSnapshot && (type === ValueType.DELETE || (spec.expireBeforeMs !== undefined && isExpired(it.value(), spec.expireBeforeMs)))) {
        // A tombstone, or an expired value (which reads already treat as absent):
        // gone if no deeper level may hold an older version, else kept as a tombstone.
        if (!mayExistDeeper(spec.deeperLevels, currentUser!)) drop = true;
        else if (type !== ValueType.DELETE) asTombstone = true;
      }
      lastSeqForKey = seq;
      if (!drop) {
        const outKey = asTombstone ? makeInternalKey(currentUser!, seq, ValueType.DELETE) : ikey;
        if (!builder) {
          if (nextOut >= spec.outputNumbers.length) throw new Error('assertion failed: compaction ran out of output numbers');
          outNumber = spec.outputNumbers[nextOut++]!;
          created.push(outNumber);
          file = fs.createWritable(tableFile(spec.dir, outNumber));
          syncedBytes = 0;
          builder = new TableBuilder(file, spec.table);
          outSmallest = Buffer.from(outKey);
        }
        builder.add(outKey, asTombstone ? EMPTY_VALUE : it.value());
        if (file!.size - syncedBytes >= BYTES_PER_SYNC) {
          await file!.sync();
          syncedBytes = file!.size;
        }
        outLargest = Buffer.from(outKey);
        result.entriesWritten++;
      }
      if (spec.yieldEvery > 0 && ++sinceYield >= spec.yieldEvery) {
        sinceYield = 0;
        await yieldToLoop();
      }
      it.next();
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
    it?.close();
    for (const r of readers) r.close();
  }
}

/**
 * What buildTable reads: entries in internal-key order, walked once from the
 * first. Buffers from key() must stay unchanged after next() (memtable
 * views do; a block iterator's reused key buffer would not).
 */
export interface EntrySource {
  seekToFirst(): void;
  valid(): boolean;
  next(): void;
  key(): Buffer;
  value(): Buffer;
}

/**
 * Writes every entry of `src` into table `number` and syncs it (and every
 * BYTES_PER_SYNC on the way); undefined, and no file, if `src` is empty.
 */
export async function buildTable(
  fs: Fs,
  dir: string,
  number: number,
  src: EntrySource,
  table: TableBuilderOptions,
  yieldEvery: number,
): Promise<FileMeta | undefined> {
  const path = tableFile(dir, number);
  const file = fs.createWritable(path);
  try {
    const builder = new TableBuilder(file, table);
    let smallest: Buffer | undefined;
    let largest: Buffer | undefined;
    let syncedBytes = 0;
    let n = 0;
    for (src.seekToFirst(); src.valid(); src.next()) {
      const k = src.key();
      if (smallest === undefined) smallest = Buffer.from(k);
      largest = k;
      builder.add(k, src.value());
      if (file.size - syncedBytes >= BYTES_PER_SYNC) {
        await file.sync();
        syncedBytes = file.size;
      }
      if (yieldEvery > 0 && ++n % yieldEvery === 0) await yieldToLoop();
    }
    if (smallest === undefined || largest === undefined) {
      file.close();
      fs.remove(path);
      return undefined;
    }
    largest = Buffer.from(largest);
    const props = builder.finish();
    await file.sync();
    file.close();
    return { number, size: props.fileSize, smallest, largest };
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
  arena: ArrayBuffer;
  used: number;
  table: TableBuilderOptions;
}

/** Builds table `number` from a memtable's exported records and syncs it; undefined (and no file) if it is empty. */
export async function runFlushJob(fs: Fs, spec: FlushJobSpec): Promise<FileMeta | undefined> {
  const it = Memtable.fromArena(spec.arena, spec.used).iterator();
  try {
    return await buildTable(fs, spec.dir, spec.number, it, spec.table, 0);
  } finally {
    it.close();
  }
}

/** Rebuilds a StrataError posted across a worker boundary (structured clone keeps only plain fields). */
export function reviveError(e: { code?: string; message: string; file?: string; offset?: number }): Error {
  if (e.code !== undefined && e.code !== 'SIMULATED_CRASH') {
    return new StrataError(e.code as StrataError['code'], e.message, { file: e.file, offset: e.offset });
  }
  return new Error(e.message);
}
