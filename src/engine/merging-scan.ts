/**
 * Merges EntryScans (each in internal-key order) into one forward stream,
 * for compactions: the MergingIterator's heap, over byte ranges instead of
 * key Buffers, forward only. Equal internal keys (which unique sequences
 * rule out) come lower child index first.
 */
import { compareInternalRanges } from './table/block.js';
import type { EntryScan } from './iterator.js';

const EMPTY = Buffer.alloc(0);

export class MergingScan implements EntryScan {
  keySrc: Buffer = EMPTY;
  keyStart = 0;
  keyEnd = 0;
  valSrc: Buffer = EMPTY;
  valStart = 0;
  valEnd = 0;

  /** Indices of the valid children; heap[0] is the current one. */
  private readonly heap: Int32Array;
  private size = 0;
  /** Heap slot (1 or 2) of the root's better child, or -1 if unknown (see MergingIterator.topBest). */
  private topBest = -1;

  constructor(private readonly children: EntryScan[]) {
    this.heap = new Int32Array(children.length);
  }

  valid(): boolean {
    return this.size > 0;
  }

  seekToFirst(): void {
    const children = this.children;
    let size = 0;
    for (let i = 0; i < children.length; i++) {
      children[i]!.seekToFirst();
      if (children[i]!.valid()) this.heap[size++] = i;
    }
    this.size = size;
    this.topBest = -1;
    for (let i = (size >>> 1) - 1; i >= 0; i--) this.siftDown(i);
    this.load();
  }

  next(): void {
    const heap = this.heap;
    const c = heap[0]!;
    const child = this.children[c]!;
    child.next();
    if (child.valid()) {
      const size = this.size;
      if (size > 1) {
        let b = this.topBest;
        if (b < 0) {
          b = size > 2 && this.before(heap[2]!, heap[1]!) ? 2 : 1;
          this.topBest = b;
        }
        const bc = heap[b]!;
        if (this.before(bc, c)) {
          this.topBest = -1;
          heap[0] = bc;
          heap[b] = c;
          this.siftDown(b);
        }
      }
    } else {
      this.topBest = -1;
      const size = --this.size;
      if (size > 0) {
        heap[0] = heap[size]!;
        this.siftDown(0);
      }
    }
    this.load();
  }

  close(): void {
    this.size = 0;
    let first: unknown;
    let failed = false;
    for (const child of this.children) {
      try {
        child.close();
      } catch (err) {
        if (!failed) first = err;
        failed = true;
      }
    }
    if (failed) throw first;
  }

  private load(): void {
    if (this.size === 0) return;
    const c = this.children[this.heap[0]!]!;
    this.keySrc = c.keySrc;
    this.keyStart = c.keyStart;
    this.keyEnd = c.keyEnd;
    this.valSrc = c.valSrc;
    this.valStart = c.valStart;
    this.valEnd = c.valEnd;
  }

  /** Child a's entry comes before child b's. */
  private before(a: number, b: number): boolean {
    const x = this.children[a]!;
    const y = this.children[b]!;
    const c = compareInternalRanges(x.keySrc, x.keyStart, x.keyEnd, y.keySrc, y.keyStart, y.keyEnd);
    return c < 0 || (c === 0 && a < b);
  }

  private siftDown(i: number): void {
    const heap = this.heap;
    const size = this.size;
    const item = heap[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= size) break;
      let child = l;
      const r = l + 1;
      if (r < size && this.before(heap[r]!, heap[l]!)) child = r;
      const ci = heap[child]!;
      if (!this.before(ci, item)) break;
      heap[i] = ci;
      i = child;
    }
    heap[i] = item;
  }
}
