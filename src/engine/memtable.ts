/**
 * The memtable: entries ordered by internal key (user key ascending, then
 * sequence descending) in a B+tree over an arena of records.
 *
 * Records live in one growable arena (an ArrayBuffer read through Float64,
 * Int32 and Uint8 views): an insert allocates no per-entry object, and a
 * full memtable is one buffer, not tens of thousands of small objects for
 * the garbage collector to trace. An entry id is its record's offset in
 * 8-byte words (the arena's first word is unused: id 0 is "none"). Record
 * layout (byte offsets from 8*id):
 *
 *    0  f64  prefix: first PREFIX_BYTES bytes of the user key as a number
 *    8  f64  sequence
 *   16  i32  value length (the value follows the key)
 *   20  i32  internal-key length (user key + trailer)
 *   24  i32  value type
 *   28  i32  unused
 *   32  u8   the internal key (user key + 8-byte trailer), then the value; padded to 8 bytes
 *
 * The order is a B+tree of NODE_SLOTS-slot nodes in typed arrays, each slot
 * holding an entry id and that entry's prefix side by side with its
 * neighbours'. It replaced a skiplist whose search visited ~28 nodes
 * scattered over the arena: in a profile of random 1,000-entry batches
 * half of the insert's time was the first read of each visited node's
 * record. Here a search reads a few contiguous prefix arrays (a record only
 * on equal prefixes): the event loop's CPU for a 300k-key fillbatch fell
 * from 640 to 530 ms (medians of 10 runs). Records never move within the
 * arena, and growing the arena copies it, so buffers handed out earlier
 * (views of the old arena) keep their contents.
 */
import { assert, copyRange, grownCopy } from '../base/index.js';
import { AFTER_REFERENCE, MAX_SEQUENCE, PREFIX_BYTES, TRAILER_SIZE, ValueType, prefixAfter, seqOf, typeOf, writeTrailer } from './format.js';
import type { InternalIterator } from './iterator.js';

export type MemtableGetResult = { kind: 'value'; value: Buffer } | { kind: 'deleted' } | undefined;

/** "No entry" (entry ids start at 1) and "no node". */
const NIL = 0;
const NO_NODE = -1;
const INITIAL_ARENA_BYTES = 64 * 1024;
const HEADER_BYTES = 32;
/** The arena's first record starts after one unused word, so that no entry has id 0. */
const FIRST_RECORD = 8;
// Int32 slots from 2*id.
const I_VALUE = 4;
const I_KLEN = 5;
const I_TYPE = 6;
/** Slots per B+tree node (in a prototype, random inserts into 25,000 entries took 190 ns at 32 slots, 250 at 64, 265 at 128). */
const NODE_SLOTS = 32;
const HALF = NODE_SLOTS >>> 1;
/** Deepest tree: nodes are at least half full, and 16^11 entries is far beyond any arena. */
const MAX_DEPTH = 12;
/** What approximateBytes counts per entry for its slot in the tree (slots are 12 bytes, nodes at least half full). */
const INDEX_BYTES_PER_ENTRY = 16;
/** Longest reference prefix a memtable takes over from the previous one. */
const MAX_REFERENCE = 32;
/** From this many bytes left to compare, Buffer#compare (native) beats a JS loop. */
const NATIVE_COMPARE_MIN = 64;
/** Bytes after the ids of an exported arena: the record bytes and the entry count, u32 each. */
const EXPORT_TRAILER_BYTES = 8;
const DELETED: MemtableGetResult = { kind: 'deleted' };

/**
 * Records plus the tree over them. Tree node `t` owns slots
 * [t*NODE_SLOTS, (t+1)*NODE_SLOTS) of `slotEntry`, `slotPrefix` and (inner
 * nodes) `slotChild`. A leaf slot is an entry; an inner slot is a child and
 * the smallest entry under it (its separator; slot 0's is never compared:
 * keys smaller than everything go left). Entries are never removed, so a
 * separator stays the smallest entry of its subtree. Leaves are linked both
 * ways for iteration.
 */
class EntryTree {
  arena: ArrayBufferLike;
  f64: Float64Array;
  i32: Int32Array;
  u8: Uint8Array;
  /** A Buffer over the whole arena, for key and value views. */
  buf: Buffer;
  /** A DataView over the arena: key comparisons read 4 bytes (big-endian) per step. */
  dv: DataView;
  /** Scratch the user key of a lookup is copied to, so every comparison reads DataViews (one shape). */
  sdv: DataView;
  su8: Uint8Array;
  /** Bytes of the arena in use. */
  used: number;
  /** Entries. */
  count: number;
  /** Record bytes plus INDEX_BYTES_PER_ENTRY per entry. */
  bytes: number;
  /**
   * The reference prefix (see `prefixOf`): the bytes every key of the
   * previous memtable began with, e.g. a key space's "user:" or the leading
   * zeros of fixed-width numbers. Empty: prefixes are the keys' first bytes.
   */
  readonly ref: Uint8Array;

  slotEntry: Int32Array;
  slotPrefix: Float64Array;
  slotChild: Int32Array;
  nodeCount: Int32Array;
  nodeLeaf: Uint8Array;
  nodeNext: Int32Array;
  nodePrev: Int32Array;
  nodes = 0;
  root: number;
  /** Bumped by every insert: iterators holding a position re-find it after a change. */
  version = 0;
  /** Inner nodes and slots of the last descent (for splits). */
  private readonly pathNode = new Int32Array(MAX_DEPTH);
  private readonly pathSlot = new Int32Array(MAX_DEPTH);
  private depth = 0;
  /** Where the last search ended: a leaf and a slot in it (possibly one past its last). */
  posNode = NO_NODE;
  posSlot = 0;

  /**
   * `arena`, `used`: the records of another memtable (see Memtable.exportArena), to read; `order`: their ids in key order.
   * Else a new empty memtable. `ref`: the reference prefix the records' prefixes were computed with.
   */
  constructor(
    initialBytes: number,
    arena?: ArrayBufferLike,
    used = 0,
    ref: Uint8Array = new Uint8Array(0),
    order?: Int32Array,
    spare?: EntryTree,
  ) {
    this.ref = ref;
    // A whole number of 8-byte words: the arena is also viewed as a Float64Array (any writeBufferSize is accepted).
    const arenaBytes = Math.ceil(Math.max(INITIAL_ARENA_BYTES, initialBytes) / 8) * 8;
    // Nodes for the expected entries (records of ~150 bytes, nodes 3/4 full), grown on demand.
    const nodes = Math.max(8, Math.ceil((order?.length ?? (arena?.byteLength ?? arenaBytes) / 150) / (NODE_SLOTS * 0.75)) + 4);
    if (arena === undefined && spare !== undefined && spare.arena.byteLength >= arenaBytes && spare.nodeCount.length >= nodes) {
      // A retired memtable's memory (see Memtable.retire): only bytes below `used` and slots of live nodes are ever read.
      this.arena = spare.arena;
      this.f64 = spare.f64;
      this.i32 = spare.i32;
      this.u8 = spare.u8;
      this.buf = spare.buf;
      this.dv = spare.dv;
      this.slotEntry = spare.slotEntry;
      this.slotPrefix = spare.slotPrefix;
      this.slotChild = spare.slotChild;
      this.nodeCount = spare.nodeCount;
      this.nodeLeaf = spare.nodeLeaf;
      this.nodeNext = spare.nodeNext;
      this.nodePrev = spare.nodePrev;
    } else {
      this.arena = arena ?? new ArrayBuffer(arenaBytes);
      this.f64 = new Float64Array(this.arena, 0, this.arena.byteLength >>> 3);
      this.i32 = new Int32Array(this.arena, 0, this.arena.byteLength >>> 2);
      this.u8 = new Uint8Array(this.arena);
      this.buf = Buffer.from(this.arena);
      this.dv = new DataView(this.arena);
      this.slotEntry = new Int32Array(nodes * NODE_SLOTS);
      this.slotPrefix = new Float64Array(nodes * NODE_SLOTS);
      this.slotChild = new Int32Array(nodes * NODE_SLOTS);
      this.nodeCount = new Int32Array(nodes);
      this.nodeLeaf = new Uint8Array(nodes);
      this.nodeNext = new Int32Array(nodes);
      this.nodePrev = new Int32Array(nodes);
    }
    this.su8 = new Uint8Array(64);
    this.sdv = new DataView(this.su8.buffer);
    this.count = 0;
    this.bytes = 0;
    this.used = arena === undefined ? FIRST_RECORD : used;
    this.root = this.newNode(true);
    if (order !== undefined) this.load(order);
  }

  private newNode(leaf: boolean): number {
    if (this.nodes === this.nodeCount.length) this.growNodes();
    const t = this.nodes++;
    this.nodeCount[t] = 0;
    this.nodeLeaf[t] = leaf ? 1 : 0;
    this.nodeNext[t] = NO_NODE;
    this.nodePrev[t] = NO_NODE;
    return t;
  }

  private growNodes(): void {
    const n = this.nodeCount.length * 2;
    this.slotEntry = grownCopy(this.slotEntry, n * NODE_SLOTS);
    this.slotPrefix = grownCopy(this.slotPrefix, n * NODE_SLOTS);
    this.slotChild = grownCopy(this.slotChild, n * NODE_SLOTS);
    this.nodeCount = grownCopy(this.nodeCount, n);
    this.nodeLeaf = grownCopy(this.nodeLeaf, n);
    this.nodeNext = grownCopy(this.nodeNext, n);
    this.nodePrev = grownCopy(this.nodePrev, n);
  }

  /** Builds the tree over entry ids already in key order (an exported memtable): full leaves, then the levels above. */
  private load(order: Int32Array): void {
    const f64 = this.f64;
    let level: number[] = [];
    for (let i = 0; i < order.length; i += NODE_SLOTS) {
      const t = i === 0 ? this.root : this.newNode(true);
      const n = Math.min(NODE_SLOTS, order.length - i);
      for (let j = 0; j < n; j++) {
        const e = order[i + j]!;
        this.slotEntry[t * NODE_SLOTS + j] = e;
        this.slotPrefix[t * NODE_SLOTS + j] = f64[e]!;
      }
      this.nodeCount[t] = n;
      if (level.length > 0) {
        const prev = level[level.length - 1]!;
        this.nodeNext[prev] = t;
        this.nodePrev[t] = prev;
      }
      level.push(t);
    }
    this.count = order.length;
    this.bytes = this.used - FIRST_RECORD + INDEX_BYTES_PER_ENTRY * order.length;
    while (level.length > 1) {
      const up: number[] = [];
      for (let i = 0; i < level.length; i += NODE_SLOTS) {
        const t = this.newNode(false);
        const n = Math.min(NODE_SLOTS, level.length - i);
        for (let j = 0; j < n; j++) {
          const c = level[i + j]!;
          const s = t * NODE_SLOTS + j;
          this.slotChild[s] = c;
          this.slotEntry[s] = this.slotEntry[c * NODE_SLOTS]!;
          this.slotPrefix[s] = this.slotPrefix[c * NODE_SLOTS]!;
        }
        this.nodeCount[t] = n;
        up.push(t);
      }
      level = up;
    }
    this.root = level.length === 1 ? level[0]! : this.root;
  }

  /**
   * The number stored with a key to decide most comparisons without
   * reading key bytes: its prefixAfter the reference prefix.
   */
  prefixOf(buf: Uint8Array, off: number, len: number): number {
    return prefixAfter(this.ref, buf, off, len);
  }

  keyOffset(n: number): number {
    return 8 * n + HEADER_BYTES;
  }

  keyLength(n: number): number {
    return this.i32[2 * n + I_KLEN]!;
  }

  /** Entry `n`'s internal key as a view of the arena (no copy). */
  keyView(n: number): Buffer {
    const off = 8 * n + HEADER_BYTES;
    return this.buf.subarray(off, off + this.keyLength(n));
  }

  /** Entry `n`'s value as a view of the arena (no copy). */
  value(n: number): Buffer {
    const off = 8 * n + HEADER_BYTES + this.keyLength(n);
    return this.buf.subarray(off, off + this.i32[2 * n + I_VALUE]!);
  }

  /**
   * Compares entry `n` with the internal key given by parts: user key
   * `kdv[koff, koff+ukLen)` whose keyPrefix is `kp`, sequence `seq`, type
   * `type`. Negative when n sorts first. `kdv` is the arena's DataView (a
   * key already in the arena) or the lookup scratch.
   */
  cmp(n: number, kdv: DataView, koff: number, ukLen: number, kp: number, seq: number, type: number): number {
    const f64 = this.f64;
    const np = f64[n]!;
    if (np !== kp) return np < kp ? -1 : 1;
    const i32 = this.i32;
    const b = 2 * n;
    const nLen = i32[b + I_KLEN]! - TRAILER_SIZE;
    const m = nLen < ukLen ? nLen : ukLen;
    // Equal prefixes within the reference's range: the first min(reference + PREFIX_BYTES, m) bytes
    // are equal; below or above it, nothing is known.
    const known = np < 0 || np === AFTER_REFERENCE ? 0 : this.ref.length + PREFIX_BYTES;
    let i = m < known ? m : known;
    if (m > i) {
      const noff = 8 * n + HEADER_BYTES;
      const dv = this.dv;
      // Big-endian words compare as the bytes they hold.
      for (; i + 4 <= m; i += 4) {
        const x = dv.getUint32(noff + i);
        const y = kdv.getUint32(koff + i);
        if (x !== y) return x < y ? -1 : 1;
      }
      for (; i < m; i++) {
        const x = dv.getUint8(noff + i);
        const y = kdv.getUint8(koff + i);
        if (x !== y) return x < y ? -1 : 1;
      }
    }
    if (nLen !== ukLen) return nLen < ukLen ? -1 : 1;
    const ns = f64[n + 1]!;
    if (ns !== seq) return ns > seq ? -1 : 1;
    const nt = i32[b + I_TYPE]!;
    return nt === type ? 0 : nt > type ? -1 : 1;
  }

  /** Copies kbuf[0, ukLen) into the lookup scratch. */
  lookupScratch(kbuf: Uint8Array, ukLen: number): DataView {
    if (this.su8.length < ukLen) {
      this.su8 = new Uint8Array(Math.max(ukLen, 2 * this.su8.length));
      this.sdv = new DataView(this.su8.buffer);
    }
    copyRange(kbuf, 0, ukLen, this.su8, 0);
    return this.sdv;
  }

  /** Whether entry `n`'s user key is `kbuf[0, ukLen)`. */
  userKeyEquals(n: number, kbuf: Buffer, ukLen: number): boolean {
    if (this.i32[2 * n + I_KLEN]! - TRAILER_SIZE !== ukLen) return false;
    const off = this.keyOffset(n);
    if (ukLen >= NATIVE_COMPARE_MIN) return this.buf.compare(kbuf, 0, ukLen, off, off + ukLen) === 0;
    const u8 = this.u8;
    for (let i = 0; i < ukLen; i++) if (u8[off + i] !== kbuf[i]) return false;
    return true;
  }

  /**
   * Finds where the key given by parts (see `cmp`; `kp` is its keyPrefix)
   * goes: sets posNode/posSlot to the leaf slot of the first entry after it
   * (`after`) or at or after it (else), which may be one past the leaf's
   * last slot; records the inner nodes passed for a split.
   */
  search(kdv: DataView, koff: number, ukLen: number, kp: number, seq: number, type: number, after: boolean): void {
    let t = this.root;
    let d = 0;
    while (this.nodeLeaf[t] === 0) {
      // The last slot whose separator is <= the key (slot 0 when none is).
      const slot = this.slotsBelow(t, 1, 1, kdv, koff, ukLen, kp, seq, type) - 1;
      this.pathNode[d] = t;
      this.pathSlot[d] = slot;
      d++;
      t = this.slotChild[t * NODE_SLOTS + slot]!;
    }
    this.depth = d;
    this.posNode = t;
    this.posSlot = this.slotsBelow(t, 0, after ? 1 : 0, kdv, koff, ukLen, kp, seq, type);
  }

  /**
   * Binary search of node `t` from slot `lo`: the first slot whose entry
   * compares >= `limit` with the key (0: the first at or after the key; 1:
   * the first after it), or the node's count if none does. Prefixes decide
   * most steps without reading a record.
   */
  private slotsBelow(t: number, lo: number, limit: number, kdv: DataView, koff: number, ukLen: number, kp: number, seq: number, type: number): number {
    const slotPrefix = this.slotPrefix;
    const base = t * NODE_SLOTS;
    let hi = this.nodeCount[t]!;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const p = slotPrefix[base + mid]!;
      const c = p !== kp ? (p < kp ? -1 : 1) : this.cmp(this.slotEntry[base + mid]!, kdv, koff, ukLen, kp, seq, type);
      if (c < limit) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The entry at posNode/posSlot, moving to the next leaf when past the last slot; NIL at the end. */
  entryAtPos(): number {
    let t = this.posNode;
    if (this.posSlot >= this.nodeCount[t]!) {
      t = this.nodeNext[t]!;
      if (t === NO_NODE) return NIL;
      this.posNode = t;
      this.posSlot = 0;
    }
    return this.slotEntry[t * NODE_SLOTS + this.posSlot]!;
  }

  /** Moves posNode/posSlot one entry back; NIL before the first. */
  entryBeforePos(): number {
    let t = this.posNode;
    if (this.posSlot === 0) {
      t = this.nodePrev[t]!;
      if (t === NO_NODE) return NIL;
      this.posNode = t;
      this.posSlot = this.nodeCount[t]!;
    }
    this.posSlot--;
    return this.slotEntry[t * NODE_SLOTS + this.posSlot]!;
  }

  /** First entry >= the key (NIL if none); leaves posNode/posSlot on it. */
  findGE(kbuf: Buffer, ukLen: number, seq: number, type: number): number {
    const kp = this.prefixOf(kbuf, 0, ukLen);
    this.search(this.lookupScratch(kbuf, ukLen), 0, ukLen, kp, seq, type, false);
    return this.entryAtPos();
  }

  /** Last entry <= the key (NIL if none); leaves posNode/posSlot on it. */
  findLE(kbuf: Buffer, ukLen: number, seq: number, type: number): number {
    const kp = this.prefixOf(kbuf, 0, ukLen);
    this.search(this.lookupScratch(kbuf, ukLen), 0, ukLen, kp, seq, type, true);
    return this.entryBeforePos();
  }

  /** Positions at entry `n` (which is in the tree): after inserts moved it. */
  locate(n: number): void {
    const b = 2 * n;
    this.search(this.dv, 8 * n + HEADER_BYTES, this.i32[b + I_KLEN]! - TRAILER_SIZE, this.f64[n]!, this.f64[n + 1]!, this.i32[b + I_TYPE]!, false);
    if (this.posSlot >= this.nodeCount[this.posNode]!) this.entryAtPos();
  }

  firstLeaf(): number {
    let t = this.root;
    while (this.nodeLeaf[t] === 0) t = this.slotChild[t * NODE_SLOTS]!;
    return t;
  }

  lastLeaf(): number {
    let t = this.root;
    while (this.nodeLeaf[t] === 0) t = this.slotChild[t * NODE_SLOTS + this.nodeCount[t]! - 1]!;
    return t;
  }

  /** Entry ids in key order, written to `out` from `at` (Int32 index). */
  writeOrder(out: Int32Array, at: number): void {
    for (let t = this.firstLeaf(); t !== NO_NODE; t = this.nodeNext[t]!) {
      const n = this.nodeCount[t]!;
      out.set(this.slotEntry.subarray(t * NODE_SLOTS, t * NODE_SLOTS + n), at);
      at += n;
    }
  }

  /**
   * Inserts the entry whose user key is `src[kOff, kOff+ukLen)` and value
   * `vsrc[vOff, vOff+vLen)` (copied into the arena).
   */
  insert(seq: number, type: ValueType, src: Uint8Array, kOff: number, ukLen: number, vsrc: Uint8Array, vOff: number, vLen: number): void {
    const klen = ukLen + TRAILER_SIZE;
    const size = (HEADER_BYTES + klen + vLen + 7) & ~7;
    if (this.used + size > this.arena.byteLength) this.grow(this.used + size);
    const off = this.used;
    const koff = off + HEADER_BYTES;
    // The key goes into its place first and is searched for from there: every comparison
    // then reads the arena's DataView on both sides.
    copyRange(src, kOff, kOff + ukLen, this.u8, koff);
    const kp = this.prefixOf(this.u8, koff, ukLen);
    this.search(this.dv, koff, ukLen, kp, seq, type, false);
    const leaf = this.posNode;
    const slot = this.posSlot;
    assert(slot >= this.nodeCount[leaf]! || this.cmp(this.slotEntry[leaf * NODE_SLOTS + slot]!, this.dv, koff, ukLen, kp, seq, type) !== 0, 'memtable: duplicate internal key');

    this.used = off + size;
    const n = off >>> 3;
    const b = 2 * n;
    this.f64[n] = kp;
    this.f64[n + 1] = seq;
    this.i32[b + I_VALUE] = vLen;
    this.i32[b + I_KLEN] = klen;
    this.i32[b + I_TYPE] = type;
    writeTrailer(this.buf, koff + ukLen, seq, type);
    copyRange(vsrc, vOff, vOff + vLen, this.u8, koff + klen);
    this.insertSlot(leaf, slot, n, kp, 0, this.depth);
    this.version++;
    this.count++;
    this.bytes += size + INDEX_BYTES_PER_ENTRY;
  }

  /**
   * Puts (entry, prefix, child) into node `t` at `slot`, splitting full nodes
   * up the recorded path (`d`: how many of its nodes are above `t`).
   */
  private insertSlot(t: number, slot: number, entry: number, prefix: number, child: number, d: number): void {
    for (;;) {
      const c = this.nodeCount[t]!;
      if (c < NODE_SLOTS) {
        this.putSlot(t, slot, c, entry, prefix, child);
        return;
      }
      // Split: the upper half moves to a new right sibling, then the new slot goes into its half.
      const leaf = this.nodeLeaf[t] === 1;
      const r = this.newNode(leaf);
      const tb = t * NODE_SLOTS;
      const rb = r * NODE_SLOTS;
      this.slotEntry.copyWithin(rb, tb + HALF, tb + NODE_SLOTS);
      this.slotPrefix.copyWithin(rb, tb + HALF, tb + NODE_SLOTS);
      if (!leaf) this.slotChild.copyWithin(rb, tb + HALF, tb + NODE_SLOTS);
      this.nodeCount[t] = HALF;
      this.nodeCount[r] = NODE_SLOTS - HALF;
      if (leaf) {
        const next = this.nodeNext[t]!;
        this.nodeNext[r] = next;
        this.nodePrev[r] = t;
        this.nodeNext[t] = r;
        if (next !== NO_NODE) this.nodePrev[next] = r;
      }
      if (slot <= HALF) this.putSlot(t, slot, HALF, entry, prefix, child);
      else this.putSlot(r, slot - HALF, NODE_SLOTS - HALF, entry, prefix, child);
      // The right node's smallest entry separates it from the left one in the parent.
      const sepEntry = this.slotEntry[rb]!;
      const sepPrefix = this.slotPrefix[rb]!;
      if (d === 0) {
        const root = this.newNode(false);
        const ob = root * NODE_SLOTS;
        this.slotChild[ob] = t;
        this.slotEntry[ob] = this.slotEntry[tb]!;
        this.slotPrefix[ob] = this.slotPrefix[tb]!;
        this.slotChild[ob + 1] = r;
        this.slotEntry[ob + 1] = sepEntry;
        this.slotPrefix[ob + 1] = sepPrefix;
        this.nodeCount[root] = 2;
        this.root = root;
        return;
      }
      d--;
      t = this.pathNode[d]!;
      slot = this.pathSlot[d]! + 1;
      entry = sepEntry;
      prefix = sepPrefix;
      child = r;
    }
  }

  private putSlot(t: number, slot: number, count: number, entry: number, prefix: number, child: number): void {
    const s = t * NODE_SLOTS + slot;
    const end = t * NODE_SLOTS + count;
    // Loops, not copyWithin: a builtin call per array cost more than moving ~16 slots.
    if (s < end) {
      const se = this.slotEntry;
      const sp = this.slotPrefix;
      for (let i = end; i > s; i--) {
        se[i] = se[i - 1]!;
        sp[i] = sp[i - 1]!;
      }
      if (this.nodeLeaf[t] === 0) {
        const sc = this.slotChild;
        for (let i = end; i > s; i--) sc[i] = sc[i - 1]!;
      }
    }
    this.slotEntry[s] = entry;
    this.slotPrefix[s] = prefix;
    this.slotChild[s] = child;
    this.nodeCount[t] = count + 1;
  }

  private grow(need: number): void {
    let cap = this.arena.byteLength * 2;
    while (cap < need) cap *= 2;
    const arena = new ArrayBuffer(cap);
    const u8 = new Uint8Array(arena);
    u8.set(this.u8.subarray(0, this.used));
    this.arena = arena;
    this.u8 = u8;
    this.f64 = new Float64Array(arena);
    this.i32 = new Int32Array(arena);
    this.buf = Buffer.from(arena);
    this.dv = new DataView(arena);
  }
}

export class Memtable {
  private readonly tree: EntryTree;
  /** Iterators not closed yet: a retired memtable's memory is reused only once they are. */
  private openIterators = 0;
  private recycle: ((m: Memtable) => void) | undefined;

  /**
   * `expectedBytes`: the write-buffer size this memtable will grow to. Its
   * arena is sized from it up front, so inserts never pause to copy a
   * multi-megabyte arena into a bigger one. `reuse`: a memtable handed to
   * a `retire` callback, whose memory this one takes over when large enough
   * (the old one must not be used again).
   */
  constructor(expectedBytes = 0, referencePrefix?: Uint8Array, reuse?: Memtable) {
    assert(reuse === undefined || (reuse.recycle !== undefined && reuse.openIterators === 0), 'memtable: reuse of a memtable still in use');
    // approximateBytes counts records and their tree slots: 1/8 more than the expected size leaves room for the last insert.
    this.tree = new EntryTree(Math.min(expectedBytes + (expectedBytes >>> 3), 1024 * 1024 * 1024), undefined, 0, referencePrefix, undefined, reuse?.tree);
  }

  /**
   * The owner is done with this memtable (its entries are in a table) and
   * nothing may read it from now on, except iterators already open. Once the
   * last of those is closed, it goes to `recycle`, for a new memtable to
   * reuse its memory. A fresh multi-megabyte arena per memtable was
   * external memory the event loop's heap kept until a full mark-compact
   * (one every ~14 memtables, 60-100 ms with a large heap), and ~50 ns per
   * record of first-touch page faults. An iterator never closed keeps its
   * memtable's memory out of reuse (it is then left to the collector).
   */
  retire(recycle: (m: Memtable) => void): void {
    assert(this.recycle === undefined, 'memtable retired twice');
    this.recycle = recycle;
    if (this.openIterators === 0) recycle(this);
  }

  /**
   * The bytes every user key here begins with (at most 32; empty when there
   * are fewer than 64 entries): the reference prefix for the next memtable.
   * Keys mostly keep to a key space, and a shared prefix (fixed-width
   * numbers' leading zeros, "user:") otherwise makes every comparison read
   * key bytes. Keys outside it stay correct, only slower to compare.
   */
  commonPrefix(): Buffer {
    const tree = this.tree;
    if (tree.count < 64) return Buffer.alloc(0);
    const first = tree.slotEntry[tree.firstLeaf() * NODE_SLOTS]!;
    const lastLeaf = tree.lastLeaf();
    const last = tree.slotEntry[lastLeaf * NODE_SLOTS + tree.nodeCount[lastLeaf]! - 1]!;
    const a = tree.keyOffset(first);
    const b = tree.keyOffset(last);
    const max = Math.min(tree.keyLength(first) - TRAILER_SIZE, tree.keyLength(last) - TRAILER_SIZE, MAX_REFERENCE);
    const u8 = tree.u8;
    let n = 0;
    while (n < max && u8[a + n] === u8[b + n]) n++;
    return Buffer.from(u8.subarray(a, a + n));
  }

  /**
   * Inserts (userKey, seq, type, value). Copies key and value into the
   * memtable's arena: the caller may reuse its buffers afterwards.
   * `seq` must be unique within the memtable.
   */
  add(seq: number, type: ValueType, userKey: Buffer, value: Buffer): void {
    this.addFrom(seq, type, userKey, 0, userKey.length, value, 0, value.length);
  }

  /** Like `add`, with the key and value given as ranges of larger buffers (a write batch's encoding). */
  addFrom(seq: number, type: ValueType, src: Uint8Array, kOff: number, kLen: number, vsrc: Uint8Array, vOff: number, vLen: number): void {
    assert(Number.isSafeInteger(seq) && seq >= 0 && seq <= MAX_SEQUENCE, 'memtable: bad sequence');
    assert(type === ValueType.PUT || type === ValueType.DELETE, 'memtable: bad value type');
    this.tree.insert(seq, type, src, kOff, kLen, vsrc, vOff, vLen);
  }

  /** Newest entry for `userKey` with seq <= `snapshotSeq`. */
  get(userKey: Buffer, snapshotSeq: number): MemtableGetResult {
    const tree = this.tree;
    if (tree.count === 0) return undefined;
    const ukLen = userKey.length;
    // First entry >= (userKey, snapshotSeq, PUT): the newest version visible at the snapshot, if any.
    const n = tree.findGE(userKey, ukLen, snapshotSeq, ValueType.PUT);
    if (n === NIL || !tree.userKeyEquals(n, userKey, ukLen)) return undefined;
    if (tree.i32[2 * n + I_TYPE] === ValueType.DELETE) return DELETED;
    return { kind: 'value', value: tree.value(n) };
  }

  /**
   * An iterator over the memtable. It stays usable across later `add` calls;
   * entries added after it was positioned may or may not be seen.
   */
  iterator(): InternalIterator {
    this.openIterators++;
    return new MemtableIterator(this.tree, () => {
      if (--this.openIterators === 0 && this.recycle !== undefined) this.recycle(this);
    });
  }

  /**
   * A copy of the memtable for a flush worker to walk with
   * `Memtable.fromArena`: the records (one memcpy), then their ids in key
   * order, and in its last 8 bytes the record bytes and the entry count
   * (u32 LE each). Only for
   * frozen memtables. `into`, when large enough, receives the copy (a
   * shared arena the worker is done with: see WorkerCompactionRunner.flush)
   * instead of a new buffer.
   */
  exportArena<T extends ArrayBufferLike>(into?: T): { arena: T | ArrayBuffer; used: number; ref: Uint8Array } {
    const tree = this.tree;
    const records = tree.used;
    const used = this.arenaBytes;
    const arena = into === undefined || into.byteLength < used ? new ArrayBuffer(used) : into;
    new Uint8Array(arena, 0, records).set(tree.u8.subarray(0, records));
    const ids = new Int32Array(arena, records, tree.count);
    tree.writeOrder(ids, 0);
    const tail = new DataView(arena, used - EXPORT_TRAILER_BYTES, EXPORT_TRAILER_BYTES);
    tail.setUint32(0, records, true);
    tail.setUint32(4, tree.count, true);
    return { arena, used, ref: tree.ref };
  }

  /** Bytes an exported copy takes (exportArena's `used`; a multiple of 8). */
  get arenaBytes(): number {
    return this.tree.used + ((4 * this.tree.count + EXPORT_TRAILER_BYTES + 7) & ~7);
  }

  /** Bytes an exported copy may take by the time this memtable is full (for a reusable export buffer). */
  get arenaCapacity(): number {
    const tree = this.tree;
    // Entries in proportion to the records, as far as the arena goes.
    const entries = tree.used > FIRST_RECORD ? Math.ceil((tree.count * tree.arena.byteLength) / tree.used) : 0;
    return tree.arena.byteLength + ((4 * entries + EXPORT_TRAILER_BYTES + 7) & ~7);
  }

  /** A read-only memtable over an exported copy (in a worker), with the reference prefix its records were inserted with. */
  static fromArena(arena: ArrayBufferLike, used: number, ref?: Uint8Array): Memtable {
    assert(used >= FIRST_RECORD + EXPORT_TRAILER_BYTES && used % 8 === 0 && used <= arena.byteLength, 'memtable: bad exported arena');
    const tail = new DataView(arena, used - EXPORT_TRAILER_BYTES, EXPORT_TRAILER_BYTES);
    const records = tail.getUint32(0, true);
    const count = tail.getUint32(4, true);
    assert(records >= FIRST_RECORD && records % 8 === 0 && records + 4 * count <= used - EXPORT_TRAILER_BYTES, 'memtable: bad exported arena trailer');
    const order = new Int32Array(arena, records, count);
    const m = Object.create(Memtable.prototype) as Memtable;
    (m as unknown as { tree: EntryTree }).tree = new EntryTree(0, arena, records, ref, order);
    return m;
  }

  /** Bytes of the records and their tree slots (what the memtable holds, as LevelDB's arena usage). */
  get approximateBytes(): number {
    return this.tree.bytes;
  }

  get entries(): number {
    return this.tree.count;
  }

  /** Smallest internal key (a copy), undefined when empty. */
  firstKey(): Buffer | undefined {
    const tree = this.tree;
    if (tree.count === 0) return undefined;
    return Buffer.from(tree.keyView(tree.slotEntry[tree.firstLeaf() * NODE_SLOTS]!));
  }

  /** Largest internal key (a copy), undefined when empty. */
  lastKey(): Buffer | undefined {
    const tree = this.tree;
    if (tree.count === 0) return undefined;
    const t = tree.lastLeaf();
    return Buffer.from(tree.keyView(tree.slotEntry[t * NODE_SLOTS + tree.nodeCount[t]! - 1]!));
  }
}

class MemtableIterator implements InternalIterator {
  private readonly tree: EntryTree;
  /** The current entry (NIL: not positioned). */
  private entry = NIL;
  /** The current entry's leaf and slot, valid while the tree's version is `version`. */
  private leaf = NO_NODE;
  private slot = 0;
  private version = -1;
  /** View of the current key, made on first `key()` after each move. */
  private keyBuf: Buffer | undefined = undefined;
  // The current entry as ranges of the arena (EntryRanges), set at every move.
  keySrc: Buffer;
  keyStart = 0;
  keyEnd = 0;
  valSrc: Buffer;
  valStart = 0;
  valEnd = 0;

  constructor(
    tree: EntryTree,
    private onClose: (() => void) | undefined,
  ) {
    this.tree = tree;
    this.keySrc = this.valSrc = tree.buf;
  }

  valid(): boolean {
    return this.entry !== NIL;
  }
  seekToFirst(): void {
    const tree = this.tree;
    tree.posNode = tree.firstLeaf();
    tree.posSlot = 0;
    this.at(tree.entryAtPos());
  }
  seekToLast(): void {
    const tree = this.tree;
    tree.posNode = tree.lastLeaf();
    tree.posSlot = tree.nodeCount[tree.posNode]!;
    this.at(tree.entryBeforePos());
  }
  seek(target: Buffer): void {
    this.at(this.tree.findGE(target, target.length - TRAILER_SIZE, seqOf(target), typeOf(target)));
  }
  seekForPrev(target: Buffer): void {
    this.at(this.tree.findLE(target, target.length - TRAILER_SIZE, seqOf(target), typeOf(target)));
  }
  next(): void {
    assert(this.entry !== NIL, 'memtable iterator: next() while invalid');
    this.restore();
    this.tree.posSlot++;
    this.at(this.tree.entryAtPos());
  }
  prev(): void {
    assert(this.entry !== NIL, 'memtable iterator: prev() while invalid');
    this.restore();
    this.at(this.tree.entryBeforePos());
  }
  key(): Buffer {
    assert(this.entry !== NIL, 'memtable iterator: key() while invalid');
    return (this.keyBuf ??= this.keySrc.subarray(this.keyStart, this.keyEnd));
  }
  value(): Buffer {
    assert(this.entry !== NIL, 'memtable iterator: value() while invalid');
    return this.valSrc.subarray(this.valStart, this.valEnd);
  }
  close(): void {
    this.keyBuf = undefined;
    this.entry = NIL;
    const done = this.onClose;
    this.onClose = undefined;
    done?.();
  }

  /** Puts the tree's position on the current entry: where it was, unless inserts have moved entries since. */
  private restore(): void {
    const tree = this.tree;
    if (tree.version === this.version) {
      tree.posNode = this.leaf;
      tree.posSlot = this.slot;
    } else {
      tree.locate(this.entry);
    }
  }

  /**
   * Moves to entry `n` (at the tree's current position) and records its key
   * and value ranges. The arena Buffer is taken now: a later insert may
   * grow the arena into a new one, but records never change, so these
   * ranges stay right until the next move.
   */
  private at(n: number): void {
    this.entry = n;
    this.keyBuf = undefined;
    if (n === NIL) return;
    const tree = this.tree;
    this.leaf = tree.posNode;
    this.slot = tree.posSlot;
    this.version = tree.version;
    const i32 = tree.i32;
    const koff = 8 * n + HEADER_BYTES;
    const kend = koff + i32[2 * n + I_KLEN]!;
    this.keySrc = this.valSrc = tree.buf;
    this.keyStart = koff;
    this.keyEnd = kend;
    this.valStart = kend;
    this.valEnd = kend + i32[2 * n + I_VALUE]!;
  }
}
