import type { Fs } from '../base/index.js';
import type { BlockCache } from './block-cache.js';
import { tableFile } from './filenames.js';
import type { EngineCounters } from './stats.js';
import { TableReader } from './table/index.js';
import type { Block } from './table/index.js';
import type { FileMeta } from './version-edit.js';

interface Entry {
  reader: TableReader;
  /** Iterators currently using the reader: it is closed only when this drops to 0. */
  pins: number;
  evicted: boolean;
  /** Value of the cache's use counter at the last lookup (LRU order). */
  lastUse: number;
}

/**
 * Open table readers (file handle, index, filter), LRU-bounded by
 * `maxOpenFiles`. Point lookups use a reader synchronously; iterators pin it
 * so eviction never closes a file under them.
 */
export class TableCache {
  private readonly entries = new Map<number, Entry>();
  /** Counts lookups; an entry remembers the count at its last use. */
  private uses = 0;

  constructor(
    private readonly fs: Fs,
    private readonly dir: string,
    private readonly maxOpenFiles: number,
    private readonly blockCache: BlockCache<Block> | undefined,
    private readonly counters: EngineCounters,
    private readonly verifyChecksums: boolean,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  private entry(f: FileMeta): Entry {
    let e = this.entries.get(f.number);
    if (e) {
      // A counter instead of moving the entry to the end of the Map: a point read looks up
      // several tables, and re-inserting into the Map cost about 0.5 µs each.
      e.lastUse = ++this.uses;
      return e;
    }
    const file = this.fs.openRandomAccess(tableFile(this.dir, f.number));
    let reader: TableReader;
    try {
      reader = TableReader.open(file, {
        fileNumber: f.number,
        cache: this.blockCache,
        counters: this.counters,
        verifyChecksums: this.verifyChecksums,
      });
    } catch (err) {
      file.close();
      throw err;
    }
    e = { reader, pins: 0, evicted: false, lastUse: ++this.uses };
    this.entries.set(f.number, e);
    this.trim();
    return e;
  }

  /** Closes least-recently-used readers beyond maxOpenFiles (a scan: only when a table is opened). */
  private trim(): void {
    while (this.entries.size > this.maxOpenFiles) {
      let oldest: Entry | undefined;
      let oldestNumber = 0;
      for (const [n, e] of this.entries) {
        if (oldest === undefined || e.lastUse < oldest.lastUse) {
          oldest = e;
          oldestNumber = n;
        }
      }
      this.dropEntry(oldestNumber, oldest!);
    }
  }

  private dropEntry(n: number, e: Entry): void {
    this.entries.delete(n);
    e.evicted = true;
    if (e.pins === 0) e.reader.close();
  }

  /** A reader for synchronous use (do not keep it across an await). */
  reader(f: FileMeta): TableReader {
    return this.entry(f).reader;
  }

  /** A reader pinned until `release` is called. */
  pin(f: FileMeta): { reader: TableReader; release: () => void } {
    const e = this.entry(f);
    e.pins++;
    let released = false;
    return {
      reader: e.reader,
      release: () => {
        if (released) return;
        released = true;
        e.pins--;
        if (e.pins === 0 && e.evicted) e.reader.close();
      },
    };
  }

  /** Forgets a deleted table. */
  evict(number: number): void {
    const e = this.entries.get(number);
    if (e) this.dropEntry(number, e);
  }

  close(): void {
    for (const [n, e] of [...this.entries]) this.dropEntry(n, e);
  }
}
