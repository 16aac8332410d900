/**
 * A "level iterator": iterates a sorted list of non-overlapping files as one
 * stream, opening each file's iterator lazily through `open(i)` and closing
 * the previous one when moving on. Files whose iterator yields nothing are
 * skipped in both directions.
 */
import { assert } from '../base/index.js';
import { compareInternalKeys } from './format.js';
import type { InternalIterator } from './iterator.js';

export interface FileBounds {
  /** Smallest and largest internal key in the file. */
  smallest: Buffer;
  largest: Buffer;
}

export class ConcatIterator implements InternalIterator {
  private readonly files: ReadonlyArray<FileBounds>;
  private readonly open: (index: number) => InternalIterator;
  /** Index of the open file, -1 when none. */
  private index: number;
  private iter: InternalIterator | undefined;

  constructor(files: ReadonlyArray<FileBounds>, open: (index: number) => InternalIterator) {
    this.files = files;
    this.open = open;
    this.index = -1;
    this.iter = undefined;
  }

  valid(): boolean {
    return this.iter !== undefined && this.iter.valid();
  }

  seekToFirst(): void {
    if (this.files.length === 0) return this.closeFile();
    this.openFile(0).seekToFirst();
    this.skipEmptyForward();
  }

  seekToLast(): void {
    const n = this.files.length;
    if (n === 0) return this.closeFile();
    this.openFile(n - 1).seekToLast();
    this.skipEmptyBackward();
  }

  seek(target: Buffer): void {
    // First file whose largest key >= target.
    const files = this.files;
    let lo = 0;
    let hi = files.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareInternalKeys(files[mid]!.largest, target) < 0) lo = mid + 1;
      else hi = mid;
    }
    if (lo === files.length) return this.closeFile();
    this.openFile(lo).seek(target);
    this.skipEmptyForward();
  }

  seekForPrev(target: Buffer): void {
    // Last file whose smallest key <= target.
    const files = this.files;
    let lo = 0;
    let hi = files.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareInternalKeys(files[mid]!.smallest, target) <= 0) lo = mid + 1;
      else hi = mid;
    }
    if (lo === 0) return this.closeFile();
    this.openFile(lo - 1).seekForPrev(target);
    this.skipEmptyBackward();
  }

  next(): void {
    assert(this.valid(), 'concat iterator: next() while invalid');
    this.iter!.next();
    this.skipEmptyForward();
  }

  prev(): void {
    assert(this.valid(), 'concat iterator: prev() while invalid');
    this.iter!.prev();
    this.skipEmptyBackward();
  }

  get keySrc(): Buffer {
    return this.iter!.keySrc;
  }
  get keyStart(): number {
    return this.iter!.keyStart;
  }
  get keyEnd(): number {
    return this.iter!.keyEnd;
  }
  get valSrc(): Buffer {
    return this.iter!.valSrc;
  }
  get valStart(): number {
    return this.iter!.valStart;
  }
  get valEnd(): number {
    return this.iter!.valEnd;
  }

  key(): Buffer {
    assert(this.valid(), 'concat iterator: key() while invalid');
    return this.iter!.key();
  }

  value(): Buffer {
    assert(this.valid(), 'concat iterator: value() while invalid');
    return this.iter!.value();
  }

  close(): void {
    this.closeFile();
  }

  /** While the open file is exhausted, move to the start of the next one. */
  private skipEmptyForward(): void {
    while (!this.iter!.valid()) {
      const nextIndex = this.index + 1;
      if (nextIndex >= this.files.length) return this.closeFile();
      this.openFile(nextIndex).seekToFirst();
    }
  }

  /** While the open file is exhausted, move to the end of the previous one. */
  private skipEmptyBackward(): void {
    while (!this.iter!.valid()) {
      const prevIndex = this.index - 1;
      if (prevIndex < 0) return this.closeFile();
      this.openFile(prevIndex).seekToLast();
    }
  }

  /** Returns the iterator of file `i`, reusing the open one or closing it first. */
  private openFile(i: number): InternalIterator {
    if (this.index === i && this.iter !== undefined) return this.iter;
    this.closeFile();
    const it = this.open(i);
    this.iter = it;
    this.index = i;
    return it;
  }

  private closeFile(): void {
    const it = this.iter;
    this.iter = undefined;
    this.index = -1;
    if (it !== undefined) it.close();
  }
}
