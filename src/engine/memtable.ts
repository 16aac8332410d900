/**
 * The memtable: a skiplist ordered by internal key (user key ascending, then
 * sequence descending). Nodes are stored column-wise (parallel arrays indexed
 * by node number, next pointers in one growable Int32Array) so an insert
 * allocates only the internal-key buffer and amortised array growth.
 *
 * Node 0 is the head (it has every level); 0 doubles as the nil pointer since
 * nothing links to the head.
 */
import { assert } from '../base/errors.js';
import { MAX_SEQUENCE, TRAILER_SIZE, ValueType, makeInternalKey, seqOf, typeOf } from './format.js';
import type { InternalIterator } from './iterator.js';

export type MemtableGetResult = { kind: 'value'; value: Buffer } | { kind: 'deleted' } | undefined;

const MAX_HEIGHT = 12;
/** Pointer value for "no node" (the head's index: nothing points back to it). */
const NIL = 0;
const HEAD = 0;
/** Bytes charged per node besides key and value, and per level pointer. */
const NODE_OVERHEAD = 64;
const LINK_OVERHEAD = 8;
const INITIAL_NODES = 256;
const EMPTY = Buffer.alloc(0);
const DELETED: MemtableGetResult = { kind: 'deleted' };

class SkipList {
  /** Internal key per node (node 0: empty). */
  keys: Buffer[];
  values: Buffer[];
  seqs: Float64Array;
  types: Uint8Array;
  /** Offset of each node's next pointers in `links`; a node of height h owns links[base .. base+h). */
  bases: Int32Array;
  links: Int32Array;
  linksUsed: number;
  /** Nodes including the head. */
  count: number;
  /** Height of the tallest node (at least 1). */
  height: number;
  rng: number;
  bytes: number;
  /** Scratch for inserts: predecessor at each level. */
  readonly prevs: Int32Array;

  constructor() {
    this.keys = [EMPTY];
    this.values = [EMPTY];
    this.seqs = new Float64Array(INITIAL_NODES);
    this.types = new Uint8Array(INITIAL_NODES);
    this.bases = new Int32Array(INITIAL_NODES);
    this.links = new Int32Array(INITIAL_NODES * 2);
    this.linksUsed = MAX_HEIGHT; // the head's links, all NIL
    this.count = 1;
    this.height = 1;
    this.rng = 0x2545f491;
    this.bytes = 0;
    this.prevs = new Int32Array(MAX_HEIGHT);
  }

  /**
   * Compares node `n` with the internal key given by parts: user key
   * `kbuf[0, ukLen)`, sequence `seq`, type `type`. Negative when n sorts first.
   */
  cmp(n: number, kbuf: Buffer, ukLen: number, seq: number, type: number): number {
    const nk = this.keys[n]!;
    const c = nk.compare(kbuf, 0, ukLen, 0, nk.length - TRAILER_SIZE);
    if (c !== 0) return c;
    const ns = this.seqs[n]!;
    if (ns !== seq) return ns > seq ? -1 : 1;
    const nt = this.types[n]!;
    return nt === type ? 0 : nt > type ? -1 : 1;
  }

  /** First node >= the key (NIL if none). */
  findGE(kbuf: Buffer, ukLen: number, seq: number, type: number): number {
    const links = this.links;
    const bases = this.bases;
    let x = HEAD;
    let level = this.height - 1;
    let last = NIL; // a node known to be >= target at the level above: skip re-comparing it
    for (;;) {
      const nx = links[bases[x]! + level]!;
      if (nx !== NIL && nx !== last && this.cmp(nx, kbuf, ukLen, seq, type) < 0) {
        x = nx;
      } else {
        if (level === 0) return nx;
        last = nx;
        level--;
      }
    }
  }

  /** Last node < the key (NIL if none). */
  findLT(kbuf: Buffer, ukLen: number, seq: number, type: number): number {
    const links = this.links;
    const bases = this.bases;
    let x = HEAD;
    let level = this.height - 1;
    let last = NIL;
    for (;;) {
      const nx = links[bases[x]! + level]!;
      if (nx !== NIL && nx !== last && this.cmp(nx, kbuf, ukLen, seq, type) < 0) {
        x = nx;
      } else {
        if (level === 0) return x;
        last = nx;
        level--;
      }
    }
  }

  /** Last node <= the key (NIL if none). */
  findLE(kbuf: Buffer, ukLen: number, seq: number, type: number): number {
    const links = this.links;
    const bases = this.bases;
    let x = HEAD;
    let level = this.height - 1;
    let last = NIL;
    for (;;) {
      const nx = links[bases[x]! + level]!;
      if (nx !== NIL && nx !== last && this.cmp(nx, kbuf, ukLen, seq, type) <= 0) {
        x = nx;
      } else {
        if (level === 0) return x;
        last = nx;
        level--;
      }
    }
  }

  findLast(): number {
    const links = this.links;
    const bases = this.bases;
    let x = HEAD;
    for (let level = this.height - 1; level >= 0; level--) {
      for (;;) {
        const nx = links[bases[x]! + level]!;
        if (nx === NIL) break;
        x = nx;
      }
    }
    return x;
  }

  first(): number {
    return this.links[this.bases[HEAD]!]!;
  }

  nextOf(n: number): number {
    return this.links[this.bases[n]!]!;
  }

  prevOf(n: number): number {
    const k = this.keys[n]!;
    return this.findLT(k, k.length - TRAILER_SIZE, this.seqs[n]!, this.types[n]!);
  }

  randomHeight(): number {
    let x = this.rng;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.rng = x;
    x >>>= 8; // the top bits are the better ones
    let h = 1;
    while (h < MAX_HEIGHT && (x & 3) === 0) {
      h++;
      x >>>= 2;
    }
    return h;
  }

  insert(seq: number, type: ValueType, userKey: Buffer, value: Buffer): void {
    const ukLen = userKey.length;
    const prevs = this.prevs;
    let links = this.links;
    const bases0 = this.bases;
    let x = HEAD;
    let level = this.height - 1;
    let last = NIL;
    for (;;) {
      const nx = links[bases0[x]! + level]!;
      if (nx !== NIL && nx !== last && this.cmp(nx, userKey, ukLen, seq, type) < 0) {
        x = nx;
      } else {
        prevs[level] = x;
        if (level === 0) {
          assert(nx === NIL || this.cmp(nx, userKey, ukLen, seq, type) !== 0, 'memtable: duplicate internal key');
          break;
        }
        last = nx;
        level--;
      }
    }

    const h = this.randomHeight();
    if (h > this.height) {
      for (let l = this.height; l < h; l++) prevs[l] = HEAD;
      this.height = h;
    }

    const n = this.count;
    if (n === this.seqs.length) this.growNodes();
    if (this.linksUsed + h > links.length) {
      const grown = new Int32Array(links.length * 2);
      grown.set(links);
      this.links = links = grown;
    }
    const ikey = makeInternalKey(userKey, seq, type);
    this.keys.push(ikey);
    this.values.push(value);
    this.seqs[n] = seq;
    this.types[n] = type;
    const base = this.linksUsed;
    this.bases[n] = base;
    this.linksUsed = base + h;
    this.count = n + 1;
    const bases = this.bases;
    for (let l = 0; l < h; l++) {
      const p = bases[prevs[l]!]! + l;
      links[base + l] = links[p]!;
      links[p] = n;
    }
    this.bytes += NODE_OVERHEAD + LINK_OVERHEAD * h + ikey.length + value.length;
  }

  private growNodes(): void {
    const cap = this.seqs.length * 2;
    const seqs = new Float64Array(cap);
    seqs.set(this.seqs);
    this.seqs = seqs;
    const types = new Uint8Array(cap);
    types.set(this.types);
    this.types = types;
    const bases = new Int32Array(cap);
    bases.set(this.bases);
    this.bases = bases;
  }
}

export class Memtable {
  private readonly list: SkipList;

  constructor() {
    this.list = new SkipList();
  }

  /**
   * Inserts (userKey, seq, type, value). Copies the key into a new
   * internal-key buffer; keeps `value` by reference (callers pass buffers they
   * will not mutate). `seq` must be unique within the memtable.
   */
  add(seq: number, type: ValueType, userKey: Buffer, value: Buffer): void {
    assert(Number.isSafeInteger(seq) && seq >= 0 && seq <= MAX_SEQUENCE, 'memtable: bad sequence');
    assert(type === ValueType.PUT || type === ValueType.DELETE, 'memtable: bad value type');
    this.list.insert(seq, type, userKey, value);
  }

  /** Newest entry for `userKey` with seq <= `snapshotSeq`. */
  get(userKey: Buffer, snapshotSeq: number): MemtableGetResult {
    const list = this.list;
    const ukLen = userKey.length;
    // First entry >= (userKey, snapshotSeq, PUT): the newest version visible at the snapshot, if any.
    const n = list.findGE(userKey, ukLen, snapshotSeq, ValueType.PUT);
    if (n === NIL) return undefined;
    const nk = list.keys[n]!;
    if (nk.length - TRAILER_SIZE !== ukLen || nk.compare(userKey, 0, ukLen, 0, ukLen) !== 0) return undefined;
    if (list.types[n] === ValueType.DELETE) return DELETED;
    return { kind: 'value', value: list.values[n]! };
  }

  /**
   * An iterator over the memtable. It stays usable across later `add` calls;
   * entries added after it was positioned may or may not be seen.
   */
  iterator(): InternalIterator {
    return new MemtableIterator(this.list);
  }

  /** Approximate bytes used: keys + values + per-node overhead. */
  get approximateBytes(): number {
    return this.list.bytes;
  }

  get entries(): number {
    return this.list.count - 1;
  }

  /** Smallest internal key, undefined when empty. */
  firstKey(): Buffer | undefined {
    const n = this.list.first();
    return n === NIL ? undefined : this.list.keys[n];
  }

  /** Largest internal key, undefined when empty. */
  lastKey(): Buffer | undefined {
    const n = this.list.findLast();
    return n === NIL ? undefined : this.list.keys[n];
  }
}

class MemtableIterator implements InternalIterator {
  private readonly list: SkipList;
  private node: number;

  constructor(list: SkipList) {
    this.list = list;
    this.node = NIL;
  }

  valid(): boolean {
    return this.node !== NIL;
  }
  seekToFirst(): void {
    this.node = this.list.first();
  }
  seekToLast(): void {
    this.node = this.list.findLast();
  }
  seek(target: Buffer): void {
    this.node = this.list.findGE(target, target.length - TRAILER_SIZE, seqOf(target), typeOf(target));
  }
  seekForPrev(target: Buffer): void {
    this.node = this.list.findLE(target, target.length - TRAILER_SIZE, seqOf(target), typeOf(target));
  }
  next(): void {
    assert(this.node !== NIL, 'memtable iterator: next() while invalid');
    this.node = this.list.nextOf(this.node);
  }
  prev(): void {
    assert(this.node !== NIL, 'memtable iterator: prev() while invalid');
    this.node = this.list.prevOf(this.node);
  }
  key(): Buffer {
    assert(this.node !== NIL, 'memtable iterator: key() while invalid');
    return this.list.keys[this.node]!;
  }
  value(): Buffer {
    assert(this.node !== NIL, 'memtable iterator: value() while invalid');
    return this.list.values[this.node]!;
  }
  close(): void {
    this.node = NIL;
  }
}
