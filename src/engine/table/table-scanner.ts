import { assert, closedError } from '../../base/index.js';
import { BlockIterator } from './block.js';
import { Readahead } from './table-reader.js';
import type { TableReader } from './table-reader.js';
import type { InternalIterator } from '../iterator.js';

const EMPTY = Buffer.alloc(0);

/**
 * A forward-only pass over a run of tables in key order (one level's files,
 * or a single level-0 file), for compactions: an InternalIterator whose
 * seekToFirst and next work (merged by a MergingIterator) and whose other
 * moves are refused. Each table is opened when the scan reaches it and
 * closed when it moves on; blocks come through a readahead window and skip
 * the block cache.
 */
export class TableScanner implements InternalIterator {
  keySrc: Buffer = EMPTY;
  keyStart = 0;
  keyEnd = 0;
  valSrc: Buffer = EMPTY;
  valStart = 0;
  valEnd = 0;

  private readonly it = new BlockIterator();
  private readonly ra: Readahead;
  private reader: TableReader | undefined;
  private fileIdx = -1;
  private blockIdx = 0;
  private closed = false;

  /** `open(i)`: table i of `count`, opened; the scanner closes it. `windowBytes`: the readahead (default 256 KiB). */
  constructor(
    private readonly count: number,
    private readonly open: (i: number) => TableReader,
    windowBytes?: number,
  ) {
    this.ra = new Readahead(windowBytes);
  }

  valid(): boolean {
    return this.reader !== undefined;
  }

  seekToFirst(): void {
    if (this.closed) throw closedError('table scanner');
    this.closeReader();
    this.fileIdx = -1;
    this.openNext();
    this.nextBlock();
  }

  next(): void {
    const it = this.it;
    it.next();
    if (it.valid()) this.load();
    else this.nextBlock();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.closeReader();
    this.ra.release();
  }

  key(): Buffer {
    return this.keySrc.subarray(this.keyStart, this.keyEnd);
  }
  value(): Buffer {
    return this.valSrc.subarray(this.valStart, this.valEnd);
  }
  seekToLast(): void {
    assert(false, 'TableScanner only scans forward from the first entry');
  }
  seek(): void {
    assert(false, 'TableScanner only scans forward from the first entry');
  }
  seekForPrev(): void {
    assert(false, 'TableScanner only scans forward from the first entry');
  }
  prev(): void {
    assert(false, 'TableScanner only scans forward from the first entry');
  }

  private load(): void {
    const it = this.it;
    this.keySrc = it.keySrc;
    this.keyStart = it.keyStart;
    this.keyEnd = it.keyEnd;
    this.valSrc = it.data;
    this.valStart = it.valStart;
    this.valEnd = it.valEnd;
  }

  /** Moves to the first entry of the next non-empty block, going on to later tables as needed. */
  private nextBlock(): void {
    const it = this.it;
    for (;;) {
      const r = this.reader;
      if (r === undefined) return;
      if (++this.blockIdx < r.blockCount) {
        it.setBlock(r.scanDataBlock(this.blockIdx, this.ra));
        it.seekToFirst();
        if (it.valid()) {
          this.load();
          return;
        }
      } else {
        this.openNext();
      }
    }
  }

  /** Closes the current table and opens the next one, if any (before its first block). */
  private openNext(): void {
    this.closeReader();
    if (++this.fileIdx >= this.count) return;
    this.reader = this.open(this.fileIdx);
    this.blockIdx = -1;
  }

  private closeReader(): void {
    const r = this.reader;
    this.reader = undefined;
    this.it.close();
    this.ra.reset();
    this.keySrc = EMPTY;
    this.valSrc = EMPTY;
    if (r !== undefined) r.close();
  }
}
