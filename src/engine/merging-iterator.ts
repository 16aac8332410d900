/**
 * Merges children (each ordered by internal key) into one ordered stream,
 * LevelDB style. The merged order is (internal key, child index): equal
 * internal keys cannot happen in practice (sequences are unique) but if they
 * do, the lower child index comes first going forward (and last going back).
 *
 * Every valid child is positioned "ahead" of the current entry in the current
 * direction; on a direction switch each non-current child is re-seeked
 * relative to the current key. Valid children sit in a binary heap (min-heap
 * forward, max-heap backward) whose root is the current child.
 *
 * Why a heap even for few children: comparisons dominate the cost, and with
 * the root's better child cached (`topBest`) the heap never needs more of
 * them than a linear scan. Measured per step, for 2/3/4/8/16 children with
 * randomly interleaved keys: linear 1/2/3/7/15, heap 1/1.7/2.3/3.9/5.6; with
 * runs of 50 consecutive entries per child: linear k-1, heap ~1.05.
 */
import { assert } from '../base/index.js';
import { compareInternalKeys } from './format.js';
import type { InternalIterator } from './iterator.js';
import { compareInternalRanges } from './table/block.js';

export class MergingIterator implements InternalIterator {
  private readonly children: InternalIterator[];
  /** Whether each child is valid (positioned on an entry). */
  private readonly live: Uint8Array;
  /** Indices of the valid children; heap[0] is the current child. */
  private readonly heap: Int32Array;
  private heapSize: number;
  /**
   * Heap slot (1 or 2) of the better child of the root, or -1 if unknown.
   * Stays right while only the root's child moves and stays on top, so a run
   * of entries from one child costs one comparison per step.
   */
  private topBest: number;
  /** Index of the current child, -1 when not valid. */
  private current: number;
  private forward: boolean;
  private closed: boolean;

  constructor(children: InternalIterator[]) {
    this.children = children;
    this.live = new Uint8Array(children.length);
    this.heap = new Int32Array(children.length);
    this.heapSize = 0;
    this.topBest = -1;
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
      this.live[i] = child.valid() ? 1 : 0;
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
      this.live[i] = child.valid() ? 1 : 0;
    }
    this.forward = false;
    this.pick();
  }

  /** `target` must not be a key buffer of this iterator (children reposition one by one): copy it first. */
  seek(target: Buffer): void {
    this.current = -1;
    const children = this.children;
    for (let i = 0; i < children.length; i++) {
      const child = children[i]!;
      child.seek(target);
      this.live[i] = child.valid() ? 1 : 0;
    }
    this.forward = true;
    this.pick();
  }

  /** `target` must not be a key buffer of this iterator: copy it first. */
  seekForPrev(target: Buffer): void {
    this.current = -1;
    const children = this.children;
    for (let i = 0; i < children.length; i++) {
      const child = children[i]!;
      child.seekForPrev(target);
      this.live[i] = child.valid() ? 1 : 0;
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
    return this.children[this.current]!.key();
  }

  value(): Buffer {
    assert(this.current >= 0, 'merging iterator: value() while invalid');
    return this.children[this.current]!.value();
  }

  get keySrc(): Buffer {
    return this.children[this.current]!.keySrc;
  }
  get keyStart(): number {
    return this.children[this.current]!.keyStart;
  }
  get keyEnd(): number {
    return this.children[this.current]!.keyEnd;
  }
  get valSrc(): Buffer {
    return this.children[this.current]!.valSrc;
  }
  get valStart(): number {
    return this.children[this.current]!.valStart;
  }
  get valEnd(): number {
    return this.children[this.current]!.valEnd;
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
   * pick the new current child.
   */
  private advanced(c: number, child: InternalIterator): void {
    const valid = child.valid();
    this.live[c] = valid ? 1 : 0;
    const heap = this.heap;
    if (valid) {
      const size = this.heapSize;
      if (size > 1) {
        let b = this.topBest;
        if (b < 0) {
          b = size > 2 && this.before(heap[2]!, heap[1]!) ? 2 : 1;
          this.topBest = b;
        }
        const bc = heap[b]!;
        if (this.before(bc, c)) {
          // The root's best child overtakes: swap it up and sink c from there.
          this.topBest = -1;
          heap[0] = bc;
          heap[b] = c;
          this.siftDown(b);
        }
      }
    } else {
      this.topBest = -1;
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
    const cur = this.children[c]!;
    const k = Buffer.from(cur.key()); // a copy: child c's buffers change when it moves
    const children = this.children;
    for (let i = 0; i < children.length; i++) {
      if (i === c) continue;
      const child = children[i]!;
      child.seek(k);
      if (i < c) {
        // Equal keys of a lower-index child come before (k, c): skip them.
        while (child.valid() && compareInternalKeys(child.key(), k) === 0) child.next();
      }
      this.live[i] = child.valid() ? 1 : 0;
    }
    cur.next();
    this.live[c] = cur.valid() ? 1 : 0;
    this.forward = true;
    this.pick();
  }

  /** Forward → backward at current child `c`: every other child goes to its last entry before (key, c). */
  private switchToBackward(c: number): void {
    const cur = this.children[c]!;
    const k = Buffer.from(cur.key());
    const children = this.children;
    for (let i = 0; i < children.length; i++) {
      if (i === c) continue;
      const child = children[i]!;
      child.seekForPrev(k);
      if (i > c) {
        // Equal keys of a higher-index child come after (k, c): skip them.
        while (child.valid() && compareInternalKeys(child.key(), k) === 0) child.prev();
      }
      this.live[i] = child.valid() ? 1 : 0;
    }
    cur.prev();
    this.live[c] = cur.valid() ? 1 : 0;
    this.forward = false;
    this.pick();
  }

  /** Chooses the current child from scratch (after every child was positioned). */
  private pick(): void {
    const heap = this.heap;
    const live = this.live;
    let size = 0;
    for (let i = 0; i < live.length; i++) if (live[i] === 1) heap[size++] = i;
    this.heapSize = size;
    this.topBest = -1;
    for (let i = (size >>> 1) - 1; i >= 0; i--) this.siftDown(i);
    this.current = size > 0 ? heap[0]! : -1;
  }

  /** True when child `a` must come before child `b` in the current direction. */
  private before(a: number, b: number): boolean {
    const x = this.children[a]!;
    const y = this.children[b]!;
    let c = compareInternalRanges(x.keySrc, x.keyStart, x.keyEnd, y.keySrc, y.keyStart, y.keyEnd);
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
