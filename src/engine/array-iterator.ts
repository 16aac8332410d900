/**
 * An InternalIterator over an in-memory array of entries already sorted by
 * internal key. Used by tests and for small in-memory runs.
 */
import { assert } from '../base/index.js';
import { compareInternalKeys } from './format.js';
import type { InternalIterator } from './iterator.js';

export interface ArrayEntry {
  key: Buffer;
  value: Buffer;
}

export class ArrayIterator implements InternalIterator {
  private readonly entries: ReadonlyArray<ArrayEntry>;
  private pos: number;
  /** True once `close()` was called (tests check that owners close their children). */
  closed: boolean;

  /** `entries` must be sorted by internal key (equal keys are allowed and kept in array order). */
  constructor(entries: ReadonlyArray<ArrayEntry>) {
    this.entries = entries;
    this.pos = -1;
    this.closed = false;
  }

  valid(): boolean {
    return this.pos >= 0;
  }
  seekToFirst(): void {
    this.pos = this.entries.length > 0 ? 0 : -1;
  }
  seekToLast(): void {
    this.pos = this.entries.length - 1;
  }
  seek(target: Buffer): void {
    // First index with key >= target.
    let lo = 0;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareInternalKeys(this.entries[mid]!.key, target) < 0) lo = mid + 1;
      else hi = mid;
    }
    this.pos = lo < this.entries.length ? lo : -1;
  }
  seekForPrev(target: Buffer): void {
    // Last index with key <= target.
    let lo = 0;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareInternalKeys(this.entries[mid]!.key, target) <= 0) lo = mid + 1;
      else hi = mid;
    }
    this.pos = lo - 1;
  }
  next(): void {
    assert(this.pos >= 0, 'array iterator: next() while invalid');
    this.pos++;
    if (this.pos >= this.entries.length) this.pos = -1;
  }
  prev(): void {
    assert(this.pos >= 0, 'array iterator: prev() while invalid');
    this.pos--;
  }
  key(): Buffer {
    assert(this.pos >= 0, 'array iterator: key() while invalid');
    return this.entries[this.pos]!.key;
  }
  value(): Buffer {
    assert(this.pos >= 0, 'array iterator: value() while invalid');
    return this.entries[this.pos]!.value;
  }
  close(): void {
    this.closed = true;
    this.pos = -1;
  }
  get keySrc(): Buffer {
    return this.entries[this.pos]!.key;
  }
  get keyStart(): number {
    return 0;
  }
  get keyEnd(): number {
    return this.entries[this.pos]!.key.length;
  }
  get valSrc(): Buffer {
    return this.entries[this.pos]!.value;
  }
  get valStart(): number {
    return 0;
  }
  get valEnd(): number {
    return this.entries[this.pos]!.value.length;
  }
}
