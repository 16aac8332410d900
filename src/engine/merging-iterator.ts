/**
 * Merges children (each ordered by internal key) into one ordered stream,
 * LevelDB style. The merged order is (internal key, child index): equal
 * internal keys cannot happen in practice (sequences are unique) but if they
 * do, the lower child index comes first going forward (and last going back).
 *
 * Every valid child is positioned "ahead" of the current entry in the current
 * direction; on a direction switch each non-current child is re-seeked
 * relative to the current key. Few children are scanned linearly; many go in
 * a binary heap (min-heap forward, max-heap backward).
 */
import { assert } from '../base/errors.js';
import { compareInternalKeys } from './format.js';
import type { InternalIterator } from './iterator.js';

/** Above this many children a heap beats a linear scan (measured; see bench notes in the tests). */
const HEAP_THRESHOLD = 6;

export class MergingIterator implements InternalIterator {
  private readonly children: InternalIterator[];
  /** Current key of each child, or null when that child is not valid. */
  private readonly keys: (Buffer | null)[];
  private readonly useHeap: boolean;
  /** Child indices; heap[0] is the current child when `useHeap`. */
  private readonly heap: Int32Array;
  private heapSize: number;
  /** Index of the current child, -1 when not valid. */
  private current: number;
  private forward: boolean;
  private closed: boolean;

  constructor(children: InternalIterator[]) {
    this.children = children;
    this.keys = new Array<Buffer | null>(children.length).fill(null);
    this.useHeap = children.length > HEAP_THRESHOLD;
    this.heap = new Int32Array(this.useHeap ? children.length : 0);
    this.heapSize = 0;
    this.current = -1;
    this.forward = true;
    this.closed = false;
  }

  valid(): boolean {
    return this.current >= 0;
  }

  seekToFirst(): void {
    this.current = -1;
    const children = this.children;
    for (let i = 0; i < children.length; i++) {
      const child = children[i]!;
      child.seekToFirst();
      this.keys[i] = child.valid() ? child.key() : null;
    }
    this.forward = true;
    this.pick();
  }

  seekToLast(): void {
    this.current = -1;
    const children = this.children;
    for (let i = 0; i < children.length; i++) {
      const child = children[i]!;
      child.seekToLast();
      this.keys[i] = child.valid() ? child.key() : null;
    }
    this.forward = false;
    this.pick();
  }

  seek(target: Buffer): void {
    this.current = -1;
    const children = this.children;
    for (let i = 0; i < children.length; i++) {
      const child = children[i]!;
      child.seek(target);
      this.keys[i] = child.valid() ? child.key() : null;
    }
    this.forward = true;
    this.pick();
  }

  seekForPrev(target: Buffer): void {
    this.current = -1;
    const children = this.children;
    for (let i = 0; i < children.length; i++) {
      const child = children[i]!;
      child.seekForPrev(target);
      this.keys[i] = child.valid() ? child.key() : null;
    }
    this.forward = false;
    this.pick();
  }

  next(): void {
    const c = this.current;
    assert(c >= 0, 'merging iterator: next() while invalid');
    this.current = -1; // stays invalid if a child throws
    if (!this.forward) {
      this.switchToForward(c);
      return;
    }
    const child = this.children[c]!;
    child.next();
    this.advanced(c, child);
  }

  prev(): void {
    const c = this.current;
    assert(c >= 0, 'merging iterator: prev() while invalid');
    this.current = -1;
    if (this.forward) {
      this.switchToBackward(c);
      return;
    }
    const child = this.children[c]!;
    child.prev();
    this.advanced(c, child);
  }

  key(): Buffer {
    assert(this.current >= 0, 'merging iterator: key() while invalid');
    return this.keys[this.current]!;
  }

  value(): Buffer {
    assert(this.current >= 0, 'merging iterator: value() while invalid');
    return this.children[this.current]!.value();
  }

  close(): void {
    this.current = -1;
    if (this.closed) return;
    this.closed = true;
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

  /**
   * Child `c` (the current one) moved one step in the current direction:
   * refresh its key and pick the new current child.
   */
  private advanced(c: number, child: InternalIterator): void {
    const valid = child.valid();
    this.keys[c] = valid ? child.key() : null;
    if (!this.useHeap) {
      this.current = this.forward ? this.scanSmallest() : this.scanLargest();
      return;
    }
    const heap = this.heap;
    if (valid) {
      this.siftDown(0);
    } else {
      const size = --this.heapSize;
      if (size > 0) {
        heap[0] = heap[size]!;
        this.siftDown(0);
      }
    }
    this.current = this.heapSize > 0 ? heap[0]! : -1;
  }

  /** Backward → forward at current child `c`: every other child goes to its first entry after (key, c). */
  private switchToForward(c: number): void {
    const k = this.keys[c]!; // stays valid: child c is moved last
    const children = this.children;
    for (let i = 0; i < children.length; i++) {
      if (i === c) continue;
      const child = children[i]!;
      child.seek(k);
      if (i < c) {
        // Equal keys of a lower-index child come before (k, c): skip them.
        while (child.valid() && compareInternalKeys(child.key(), k) === 0) child.next();
      }
      this.keys[i] = child.valid() ? child.key() : null;
    }
    const cur = children[c]!;
    cur.next();
    this.keys[c] = cur.valid() ? cur.key() : null;
    this.forward = true;
    this.pick();
  }

  /** Forward → backward at current child `c`: every other child goes to its last entry before (key, c). */
  private switchToBackward(c: number): void {
    const k = this.keys[c]!;
    const children = this.children;
    for (let i = 0; i < children.length; i++) {
      if (i === c) continue;
      const child = children[i]!;
      child.seekForPrev(k);
      if (i > c) {
        // Equal keys of a higher-index child come after (k, c): skip them.
        while (child.valid() && compareInternalKeys(child.key(), k) === 0) child.prev();
      }
      this.keys[i] = child.valid() ? child.key() : null;
    }
    const cur = children[c]!;
    cur.prev();
    this.keys[c] = cur.valid() ? cur.key() : null;
    this.forward = false;
    this.pick();
  }

  /** Chooses the current child from scratch (after every child was positioned). */
  private pick(): void {
    if (!this.useHeap) {
      this.current = this.forward ? this.scanSmallest() : this.scanLargest();
      return;
    }
    const heap = this.heap;
    const keys = this.keys;
    let size = 0;
    for (let i = 0; i < keys.length; i++) if (keys[i] !== null) heap[size++] = i;
    this.heapSize = size;
    for (let i = (size >>> 1) - 1; i >= 0; i--) this.siftDown(i);
    this.current = size > 0 ? heap[0]! : -1;
  }

  private scanSmallest(): number {
    const keys = this.keys;
    let best = -1;
    let bestKey: Buffer | null = null;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i];
      if (k == null) continue;
      // Strict: on ties the lower index (seen first) wins.
      if (bestKey === null || compareInternalKeys(k, bestKey) < 0) {
        best = i;
        bestKey = k;
      }
    }
    return best;
  }

  private scanLargest(): number {
    const keys = this.keys;
    let best = -1;
    let bestKey: Buffer | null = null;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i];
      if (k == null) continue;
      // Non-strict: on ties the higher index (seen later) wins.
      if (bestKey === null || compareInternalKeys(k, bestKey) >= 0) {
        best = i;
        bestKey = k;
      }
    }
    return best;
  }

  /** True when child `a` must come before child `b` in the current direction. */
  private before(a: number, b: number): boolean {
    let c = compareInternalKeys(this.keys[a]!, this.keys[b]!);
    if (c === 0) c = a - b;
    return this.forward ? c < 0 : c > 0;
  }

  private siftDown(i: number): void {
    const heap = this.heap;
    const size = this.heapSize;
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
