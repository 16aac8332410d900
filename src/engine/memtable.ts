/**
 * The memtable: a skiplist ordered by internal key (user key ascending, then
 * sequence descending).
 *
 * Nodes live in one growable arena (an ArrayBuffer read through Float64,
 * Int32 and Uint8 views) so that a search step touches one small record
 * instead of chasing pointers through JS objects, and an insert allocates no
 * per-entry object: values are copied into the arena right after their key,
 * so a full memtable is one buffer, not tens of thousands of small objects
 * for the garbage collector to trace (values were
 * reference in a plain array). A node id is its record's offset in 8-byte
 * words. Record layout (byte offsets from 8*id):
 *
 *    0  f64  prefix: first PREFIX_BYTES bytes of the user key as a number
 *    8  f64  sequence
 *   16  i32  value length (the value follows the key)
 *   20  i32  internal-key length (user key + trailer)
 *   24  i32  value type
 *   28  i32  height h
 *   32  i32  next pointers, levels 0..h-1
 * 32+4h  u8  the internal key (user key + 8-byte trailer), then the value; padded to 8 bytes
 *
 * Node 0 is the head (full height, empty key); 0 doubles as the nil pointer
 * since nothing links to the head. Records never move within the arena, and
 * growing the arena copies it, so buffers handed out earlier (views of the
 * old arena) keep their contents.
 */
import { assert, copyRange } from '../base/index.js';
import { MAX_SEQUENCE, TRAILER_SIZE, ValueType, seqOf, typeOf, writeTrailer } from './format.js';
import type { InternalIterator } from './iterator.js';

export type MemtableGetResult = { kind: 'value'; value: Buffer } | { kind: 'deleted' } | undefined;

const MAX_HEIGHT = 12;
/** Pointer value for "no node" (the head's id: nothing points back to it). */
const NIL = 0;
const HEAD = 0;
const INITIAL_ARENA_BYTES = 64 * 1024;
const HEADER_BYTES = 32;
// Int32 slots from 2*id.
const I_VALUE = 4;
const I_KLEN = 5;
const I_TYPE = 6;
const I_HEIGHT = 7;
const I_LINKS = 8;
/** Leading user-key bytes kept per node as a number (48 bits: exact in a double). */
const PREFIX_BYTES = 6;
/** The stored prefix of keys after the reference prefix (every in-reference prefix is below 2^48). */
const AFTER_REFERENCE = 2 ** 53;
/** Longest reference prefix a memtable takes over from the previous one. */
const MAX_REFERENCE = 32;
/** From this many bytes left to compare, Buffer#compare (native) beats a JS loop. */
const NATIVE_COMPARE_MIN = 64;
const DELETED: MemtableGetResult = { kind: 'deleted' };

/**
 * The first PREFIX_BYTES bytes of `buf[off, off+len)`, big-endian, zero-padded.
 * Monotone: if a < b bytewise then prefix(a) <= prefix(b); so different
 * prefixes decide a comparison without touching the keys.
 */
function keyPrefix(buf: Uint8Array, off: number, len: number): number {
  let p = 0;
  const n = len < PREFIX_BYTES ? len : PREFIX_BYTES;
  let i = 0;
  for (; i < n; i++) p = p * 256 + buf[off + i]!;
  for (; i < PREFIX_BYTES; i++) p *= 256;
  return p;
}

class SkipList {
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
  /** Entries (nodes other than the head). */
  count: number;
  /** Height of the tallest node (at least 1). */
  height: number;
  rng: number;
  bytes: number;
  /** Scratch for inserts: predecessor at each level. */
  readonly prevs: Int32Array;
  /**
   * The reference prefix (see `prefixOf`): the bytes every key of the
   * previous memtable began with, e.g. a key space's "user:" or the leading
   * zeros of fixed-width numbers. Empty: prefixes are the keys' first bytes.
   */
  readonly ref: Uint8Array;

  /**
   * `arena`, `used`: the records of another list (see Memtable.exportArena), to read; else a new empty list.
   * `ref`: the reference prefix its node prefixes were computed with.
   */
  constructor(initialBytes: number, arena?: ArrayBufferLike, used = 0, ref: Uint8Array = new Uint8Array(0)) {
    this.ref = ref;
    // A whole number of 8-byte words: the arena is also viewed as a Float64Array (any writeBufferSize is accepted).
    this.arena = arena ?? new ArrayBuffer(Math.ceil(Math.max(INITIAL_ARENA_BYTES, initialBytes) / 8) * 8);
    this.f64 = new Float64Array(this.arena);
    this.i32 = new Int32Array(this.arena);
    this.u8 = new Uint8Array(this.arena);
    this.buf = Buffer.from(this.arena);
    this.dv = new DataView(this.arena);
    this.su8 = new Uint8Array(64);
    this.sdv = new DataView(this.su8.buffer);
    this.count = 0;
    this.height = 1;
    this.rng = 0x2545f491;
    this.bytes = 0;
    this.prevs = new Int32Array(MAX_HEIGHT);
    if (arena !== undefined) {
      this.used = used;
      return;
    }
    // The head: zeroed memory already reads as prefix 0, no links, empty key.
    this.i32[I_HEIGHT] = MAX_HEIGHT;
    this.used = HEADER_BYTES + 4 * MAX_HEIGHT;
  }

  /**
   * The number stored with a key to decide most comparisons without reading
   * key bytes (monotone: a < b bytewise implies prefixOf(a) <= prefixOf(b)).
   * Keys that begin with the reference prefix get their next PREFIX_BYTES
   * bytes (0 .. 2^48 - 1); keys below it get -1 and keys above it 2^53, so
   * they compare by their bytes among themselves. With an empty reference,
   * the first PREFIX_BYTES bytes.
   */
  prefixOf(buf: Uint8Array, off: number, len: number): number {
    const ref = this.ref;
    const r = ref.length;
    if (r === 0) return keyPrefix(buf, off, len);
    const m = len < r ? len : r;
    for (let i = 0; i < m; i++) {
      const d = buf[off + i]! - ref[i]!;
      if (d !== 0) return d < 0 ? -1 : AFTER_REFERENCE;
    }
    // A key that is a proper prefix of the reference sorts before every key that begins with it.
    return len < r ? -1 : keyPrefix(buf, off + r, len - r);
  }

  keyOffset(n: number): number {
    return 8 * n + HEADER_BYTES + 4 * this.i32[2 * n + I_HEIGHT]!;
  }

  keyLength(n: number): number {
    return this.i32[2 * n + I_KLEN]!;
  }

  /** Node `n`'s internal key as a view of the arena (no copy). */
  keyView(n: number): Buffer {
    return this.buf.subarray(this.keyOffset(n), this.keyOffset(n) + this.keyLength(n));
  }

  /** Node `n`'s value as a view of the arena (no copy). */
  value(n: number): Buffer {
    const off = this.keyOffset(n) + this.keyLength(n);
    return this.buf.subarray(off, off + this.i32[2 * n + I_VALUE]!);
  }

  /**
   * Compares node `n` with the internal key given by parts: user key
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
      const noff = 8 * n + HEADER_BYTES + 4 * i32[b + I_HEIGHT]!;
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

  /** Whether node `n`'s user key is `kbuf[0, ukLen)`. */
  userKeyEquals(n: number, kbuf: Buffer, ukLen: number): boolean {
    if (this.i32[2 * n + I_KLEN]! - TRAILER_SIZE !== ukLen) return false;
    const off = this.keyOffset(n);
    if (ukLen >= NATIVE_COMPARE_MIN) return this.buf.compare(kbuf, 0, ukLen, off, off + ukLen) === 0;
    const u8 = this.u8;
    for (let i = 0; i < ukLen; i++) if (u8[off + i] !== kbuf[i]) return false;
    return true;
  }

  /**
   * Searches for the key given by parts (see `cmp`; `kp` is its keyPrefix). Returns the last node
   * before it (`inclusive`: the last node <= it); the head (NIL) if none.
   * With `prevs`, records the last node before the key at every level.
   */
  findBefore(
    kdv: DataView,
    koff: number,
    ukLen: number,
    kp: number,
    seq: number,
    type: number,
    inclusive: boolean,
    prevs: Int32Array | null,
  ): number {
    const i32 = this.i32;
    const limit = inclusive ? 1 : 0;
    let x = HEAD;
    let level = this.height - 1;
    let last = NIL; // a node known not to qualify at the level above: skip re-comparing it
    for (;;) {
      const nx = i32[2 * x + I_LINKS + level]!;
      if (nx !== NIL && nx !== last && this.cmp(nx, kdv, koff, ukLen, kp, seq, type) < limit) {
        x = nx;
      } else {
        if (prevs !== null) prevs[level] = x;
        if (level === 0) return x;
        last = nx;
        level--;
      }
    }
  }

  /** First node >= the key (NIL if none). */
  findGE(kbuf: Buffer, ukLen: number, seq: number, type: number): number {
    const kp = this.prefixOf(kbuf, 0, ukLen);
    return this.nextOf(this.findBefore(this.lookupScratch(kbuf, ukLen), 0, ukLen, kp, seq, type, false, null));
  }

  findLast(): number {
    const i32 = this.i32;
    let x = HEAD;
    for (let level = this.height - 1; level >= 0; level--) {
      for (;;) {
        const nx = i32[2 * x + I_LINKS + level]!;
        if (nx === NIL) break;
        x = nx;
      }
    }
    return x;
  }

  nextOf(n: number): number {
    return this.i32[2 * n + I_LINKS]!;
  }

  prevOf(n: number): number {
    const b = 2 * n;
    const i32 = this.i32;
    const off = 8 * n + HEADER_BYTES + 4 * i32[b + I_HEIGHT]!;
    const f64 = this.f64;
    return this.findBefore(this.dv, off, i32[b + I_KLEN]! - TRAILER_SIZE, f64[n]!, f64[n + 1]!, i32[b + I_TYPE]!, false, null);
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

  /**
   * Inserts the entry whose user key is `src[kOff, kOff+ukLen)` and value
   * `vsrc[vOff, vOff+vLen)` (copied into the arena).
   */
  insert(seq: number, type: ValueType, src: Uint8Array, kOff: number, ukLen: number, vsrc: Uint8Array, vOff: number, vLen: number): void {
    const h = this.randomHeight();
    const klen = ukLen + TRAILER_SIZE;
    const size = (HEADER_BYTES + 4 * h + klen + vLen + 7) & ~7;
    if (this.used + size > this.arena.byteLength) this.grow(this.used + size);
    const off = this.used;
    const koff = off + HEADER_BYTES + 4 * h;
    // The key goes into its place first and is searched for from there: every comparison
    // then reads the arena's DataView on both sides.
    copyRange(src, kOff, kOff + ukLen, this.u8, koff);
    const kp = this.prefixOf(this.u8, koff, ukLen);
    const prevs = this.prevs;
    const after = this.nextOf(this.findBefore(this.dv, koff, ukLen, kp, seq, type, false, prevs));
    assert(after === NIL || this.cmp(after, this.dv, koff, ukLen, kp, seq, type) !== 0, 'memtable: duplicate internal key');
    if (h > this.height) {
      for (let l = this.height; l < h; l++) prevs[l] = HEAD;
      this.height = h;
    }

    this.used = off + size;
    const n = off >>> 3;
    const f64 = this.f64;
    const i32 = this.i32;
    const b = 2 * n;
    f64[n] = kp;
    f64[n + 1] = seq;
    i32[b + I_VALUE] = vLen;
    i32[b + I_KLEN] = klen;
    i32[b + I_TYPE] = type;
    i32[b + I_HEIGHT] = h;
    writeTrailer(this.buf, koff + ukLen, seq, type);
    copyRange(vsrc, vOff, vOff + vLen, this.u8, koff + klen);
    for (let l = 0; l < h; l++) {
      const p = 2 * prevs[l]! + I_LINKS + l;
      i32[b + I_LINKS + l] = i32[p]!;
      i32[p] = n;
    }
    this.count++;
    this.bytes += size;
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
  private readonly list: SkipList;

  /**
   * `expectedBytes`: the write-buffer size this memtable will grow to. Its
   * arena (node records and keys, not values) is sized from it up front, so
   * inserts never pause to copy a multi-megabyte arena into a bigger one.
   */
  constructor(expectedBytes = 0, referencePrefix?: Uint8Array) {
    // approximateBytes is the arena's use: 1/8 more than the expected size leaves room for the last insert.
    this.list = new SkipList(Math.min(expectedBytes + (expectedBytes >>> 3), 1024 * 1024 * 1024), undefined, 0, referencePrefix);
  }

  /**
   * The bytes every user key here begins with (at most 32; empty when there
   * are fewer than 64 entries): the reference prefix for the next memtable.
   * Keys mostly keep to a key space, and a shared prefix (fixed-width
   * numbers' leading zeros, "user:") otherwise makes every comparison read
   * key bytes. Keys outside it stay correct, only slower to compare.
   */
  commonPrefix(): Buffer {
    const list = this.list;
    const first = list.nextOf(HEAD);
    if (list.count < 64 || first === NIL) return Buffer.alloc(0);
    const last = list.findLast();
    const a = list.keyOffset(first);
    const b = list.keyOffset(last);
    const max = Math.min(list.keyLength(first) - TRAILER_SIZE, list.keyLength(last) - TRAILER_SIZE, MAX_REFERENCE);
    const u8 = list.u8;
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
    this.list.insert(seq, type, src, kOff, kLen, vsrc, vOff, vLen);
  }

  /** Newest entry for `userKey` with seq <= `snapshotSeq`. */
  get(userKey: Buffer, snapshotSeq: number): MemtableGetResult {
    const list = this.list;
    if (list.count === 0) return undefined;
    const ukLen = userKey.length;
    // First entry >= (userKey, snapshotSeq, PUT): the newest version visible at the snapshot, if any.
    const n = list.findGE(userKey, ukLen, snapshotSeq, ValueType.PUT);
    if (n === NIL || !list.userKeyEquals(n, userKey, ukLen)) return undefined;
    if (list.i32[2 * n + I_TYPE] === ValueType.DELETE) return DELETED;
    return { kind: 'value', value: list.value(n) };
  }

  /**
   * An iterator over the memtable. It stays usable across later `add` calls;
   * entries added after it was positioned may or may not be seen.
   */
  iterator(): InternalIterator {
    return new MemtableIterator(this.list);
  }

  /**
   * A copy of the memtable's records, for a flush worker to walk with
   * `Memtable.fromArena` (one memcpy here instead of re-encoding every entry
   * on the event loop). Only for frozen memtables. `into`, when large
   * enough, receives the copy (a shared arena the worker is done with: see
   * WorkerCompactionRunner.flush) instead of a new buffer.
   */
  exportArena<T extends ArrayBufferLike>(into?: T): { arena: T | ArrayBuffer; used: number; ref: Uint8Array } {
    const used = this.list.used;
    const ref = this.list.ref;
    if (into === undefined || into.byteLength < used) return { arena: this.list.u8.slice(0, used).buffer, used, ref };
    new Uint8Array(into, 0, used).set(this.list.u8.subarray(0, used));
    return { arena: into, used, ref };
  }

  /** Bytes an exported copy of the records takes (exportArena's `used`). */
  get arenaBytes(): number {
    return this.list.used;
  }

  /** Bytes the records may grow to before the arena is enlarged (for a reusable export buffer). */
  get arenaCapacity(): number {
    return this.list.arena.byteLength;
  }

  /** A read-only memtable over exported records (in a worker), with the reference prefix they were inserted with. */
  static fromArena(arena: ArrayBufferLike, used: number, ref?: Uint8Array): Memtable {
    const m = Object.create(Memtable.prototype) as Memtable;
    (m as unknown as { list: SkipList }).list = new SkipList(0, arena, used, ref);
    return m;
  }

  /** Bytes of the arena the entries use (records, keys and values: what the memtable really holds, as LevelDB's arena usage). */
  get approximateBytes(): number {
    return this.list.bytes;
  }

  get entries(): number {
    return this.list.count;
  }

  /** Smallest internal key (a copy), undefined when empty. */
  firstKey(): Buffer | undefined {
    const n = this.list.nextOf(HEAD);
    return n === NIL ? undefined : Buffer.from(this.list.keyView(n));
  }

  /** Largest internal key (a copy), undefined when empty. */
  lastKey(): Buffer | undefined {
    const n = this.list.findLast();
    return n === NIL ? undefined : Buffer.from(this.list.keyView(n));
  }
}

class MemtableIterator implements InternalIterator {
  private readonly list: SkipList;
  private node = NIL;
  /** View of the current key, made on first `key()` after each move. */
  private keyBuf: Buffer | undefined = undefined;
  // The current entry as ranges of the arena (EntryRanges), set at every move.
  keySrc: Buffer;
  keyStart = 0;
  keyEnd = 0;
  valSrc: Buffer;
  valStart = 0;
  valEnd = 0;

  constructor(list: SkipList) {
    this.list = list;
    this.keySrc = this.valSrc = list.buf;
  }

  valid(): boolean {
    return this.node !== NIL;
  }
  seekToFirst(): void {
    this.at(this.list.nextOf(HEAD));
  }
  seekToLast(): void {
    this.at(this.list.findLast());
  }
  seek(target: Buffer): void {
    this.at(this.list.findGE(target, target.length - TRAILER_SIZE, seqOf(target), typeOf(target)));
  }
  seekForPrev(target: Buffer): void {
    const ukLen = target.length - TRAILER_SIZE;
    const kp = this.list.prefixOf(target, 0, ukLen);
    this.at(this.list.findBefore(this.list.lookupScratch(target, ukLen), 0, ukLen, kp, seqOf(target), typeOf(target), true, null));
  }
  next(): void {
    assert(this.node !== NIL, 'memtable iterator: next() while invalid');
    this.at(this.list.nextOf(this.node));
  }
  prev(): void {
    assert(this.node !== NIL, 'memtable iterator: prev() while invalid');
    this.at(this.list.prevOf(this.node));
  }
  key(): Buffer {
    assert(this.node !== NIL, 'memtable iterator: key() while invalid');
    return (this.keyBuf ??= this.keySrc.subarray(this.keyStart, this.keyEnd));
  }
  value(): Buffer {
    assert(this.node !== NIL, 'memtable iterator: value() while invalid');
    return this.valSrc.subarray(this.valStart, this.valEnd);
  }
  close(): void {
    this.keyBuf = undefined;
    this.node = NIL;
  }

  /**
   * Moves to node `n` and records its key and value ranges. The arena
   * Buffer is taken now: a later insert may grow the list into a new arena,
   * but records never change, so these ranges stay right until the next move.
   */
  private at(n: number): void {
    this.node = n;
    this.keyBuf = undefined;
    if (n === NIL) return;
    const list = this.list;
    const i32 = list.i32;
    const b = 2 * n;
    const koff = 8 * n + HEADER_BYTES + 4 * i32[b + I_HEIGHT]!;
    const kend = koff + i32[b + I_KLEN]!;
    this.keySrc = this.valSrc = list.buf;
    this.keyStart = koff;
    this.keyEnd = kend;
    this.valStart = kend;
    this.valEnd = kend + i32[b + I_VALUE]!;
  }
}
