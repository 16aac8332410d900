import { assert, copyRange, corruption, getVarint } from '../../base/index.js';
import type { Cursor } from '../../base/index.js';
import { TRAILER_SIZE } from '../format.js';
import type { InternalIterator } from '../iterator.js';

/**
 * Below this many bytes a JS loop beats Buffer's native compare, whose
 * argument checking and native call dominate for short keys (measured ~4x on
 * 16-byte keys).
 */
const SHORT = 48;

/** Bytewise comparison of a[aStart, aEnd) with b[bStart, bEnd), without allocating. */
export function compareRanges(a: Buffer, aStart: number, aEnd: number, b: Buffer, bStart: number, bEnd: number): number {
  const la = aEnd - aStart;
  const lb = bEnd - bStart;
  const n = la < lb ? la : lb;
  if (n > SHORT) return a.compare(b, bStart, bEnd, aStart, aEnd);
  for (let i = 0; i < n; i++) {
    const x = a[aStart + i]!;
    const y = b[bStart + i]!;
    if (x !== y) return x < y ? -1 : 1;
  }
  return la === lb ? 0 : la < lb ? -1 : 1;
}


/** How a block's keys are ordered. `compareAt` compares data[start, end) with `target`. */
export interface KeyOrder {
  /** Keys shorter than this are malformed (internal keys need their 8-byte trailer). */
  readonly minKeyLength: number;
  compareAt(data: Buffer, start: number, end: number, target: Buffer): number;
}

/**
 * Internal-key order of a[aStart, aEnd) and b[bStart, bEnd) (user key
 * ascending, then the trailer, i.e. sequence and type, descending), without
 * allocating.
 */
export function compareInternalRanges(a: Buffer, aStart: number, aEnd: number, b: Buffer, bStart: number, bEnd: number): number {
  const c = compareRanges(a, aStart, aEnd - TRAILER_SIZE, b, bStart, bEnd - TRAILER_SIZE);
  if (c !== 0) return c;
  const ah = a.readUInt32LE(aEnd - 4);
  const bh = b.readUInt32LE(bEnd - 4);
  if (ah !== bh) return ah > bh ? -1 : 1;
  const al = a.readUInt32LE(aEnd - 8);
  const bl = b.readUInt32LE(bEnd - 8);
  return al === bl ? 0 : al > bl ? -1 : 1;
}

/** Internal-key order (user key ascending, then sequence descending), without allocating. */
export const INTERNAL_KEY_ORDER: KeyOrder = {
  minKeyLength: TRAILER_SIZE,
  compareAt(data: Buffer, start: number, end: number, target: Buffer): number {
    return compareInternalRanges(data, start, end, target, 0, target.length);
  },
};

/** Plain bytewise order (meta-index and properties blocks). */
export const BYTEWISE_ORDER: KeyOrder = {
  minKeyLength: 0,
  compareAt(data: Buffer, start: number, end: number, target: Buffer): number {
    return compareRanges(data, start, end, target, 0, target.length);
  },
};

/**
 * The uncompressed contents of a key/value block (see format.ts). Never
 * modified while in use: iterators hand out views of `data`. A block read
 * for a point read or a table iterator may be `reusable`: its memory goes
 * back to the block pool once the cache no longer holds it and no iterator
 * is positioned in it (see block-pool.ts). Whoever else keeps a view of
 * `data` past the synchronous call that produced it must `pin()` the block
 * first; a pinned block's views stay valid as long as they are kept.
 */
const NO_RESTARTS = new Uint32Array(0);

export class Block {
  /** Memory from the block pool that nothing has pinned: reused once `cached` is false and `refs` 0. */
  reusable = false;
  /** It went back to the pool (until the pool hands it out again): the block must not be used. */
  released = false;
  /** The block cache holds it. */
  cached = false;
  /** Table iterators positioned in it (see block-pool.ts holdBlock/dropBlock). */
  refs = 0;

  /** Its memory is never reused: views of it may be kept. Only for a block just read or looked up, or held. */
  pin(): void {
    assert(!this.released, 'pinned a block whose memory went back to the block pool');
    this.reusable = false;
  }

  /** The contents are data[0, size); a pooled block's buffer may be longer. */
  data: Buffer;
  size: number;
  file: string;
  fileOffset: number;
  order: KeyOrder;
  /** End of the entries: where the restart array begins. */
  dataEnd = 0;
  numRestarts = 0;
  /** Restart points, decoded once (searches read them many times; Buffer#readUInt32LE costs more than an array load). May be longer than numRestarts. */
  private restarts: Uint32Array = NO_RESTARTS;

  /**
   * `file` and `fileOffset` name the block in corruption errors. With
   * `validate` (the default) the restart array is checked in full, which a
   * block coming from the cache (already checked) may skip. `size` < 0
   * makes an empty shell for the block pool (see `reset`).
   */
  constructor(data: Buffer, file: string, fileOffset: number, order: KeyOrder = INTERNAL_KEY_ORDER, validate = true, size = data.length) {
    this.data = data;
    this.size = size;
    this.file = file;
    this.fileOffset = fileOffset;
    this.order = order;
    if (size >= 0) this.parse(validate);
  }

  /**
   * @internal (block pool) Makes this object the block whose contents are
   * now data[0, size): a block object and its memory are reused together,
   * so a read that evicts one allocates nothing (see block-pool.ts).
   */
  reset(size: number, file: string, fileOffset: number, order: KeyOrder, validate: boolean): void {
    assert(size <= this.data.length, 'block contents larger than their buffer');
    this.size = size;
    this.file = file;
    this.fileOffset = fileOffset;
    this.order = order;
    this.parse(validate);
  }

  private parse(validate: boolean): void {
    const data = this.data;
    const len = this.size;
    if (len < 4) throw corruption(this.file, this.fileOffset, `block too short (${len} bytes)`);
    const n = data.readUInt32LE(len - 4);
    if (n === 0 || n > (len - 4) / 4) throw corruption(this.file, this.fileOffset, `bad restart count ${n} in ${len}-byte block`);
    this.numRestarts = n;
    this.dataEnd = len - 4 - 4 * n;
    let restarts = this.restarts;
    if (restarts.length < n) restarts = this.restarts = new Uint32Array(n);
    for (let i = 0, at = this.dataEnd; i < n; i++, at += 4) restarts[i] = data[at]! | (data[at + 1]! << 8) | (data[at + 2]! << 16) | (data[at + 3]! << 24);
    if (validate) this.validateRestarts();
  }

  restartPoint(i: number): number {
    return this.restarts[i]!;
  }

  iterator(): BlockIterator {
    return new BlockIterator(this);
  }

  private validateRestarts(): void {
    const n = this.numRestarts;
    if (this.restartPoint(0) !== 0) throw this.corrupt('first restart point is not 0');
    if (this.dataEnd === 0) {
      if (n !== 1) throw this.corrupt('restart points in an empty block');
      return;
    }
    let prev = 0;
    for (let i = 1; i < n; i++) {
      const r = this.restartPoint(i);
      if (r <= prev || r >= this.dataEnd) throw this.corrupt(`restart point ${i} (${r}) out of range`);
      prev = r;
    }
  }

  /** A CORRUPTION error for this block; `what` should say what is wrong. */
  corrupt(what: string): Error {
    return corruption(this.file, this.fileOffset, `${what} (block of ${this.size} bytes)`);
  }
}

const EMPTY = Buffer.alloc(0);

/**
 * Iterator over one block's entries. Reusable across blocks via `setBlock`
 * (the table iterator keeps one). Keys that are restart points (shared = 0)
 * are returned as views of the block; others are rebuilt in a reused buffer,
 * so `key()` is only valid until the next positioning call. `value()` is
 * always a view of the (immutable) block contents.
 */
export class BlockIterator implements InternalIterator {
  private block: Block | undefined;

  /** The block set last (undefined before the first). */
  get currentBlock(): Block | undefined {
    return this.block;
  }
  /**
   * The raw current entry, for allocation-free readers (TableScanner): key =
   * keySrc[keyStart, keyEnd), value = data[valStart, valEnd). Read-only
   * outside this class; valid while `valid()` and until the next move.
   */
  data: Buffer = EMPTY;
  private dataEnd = 0;
  private numRestarts = 0;
  private order: KeyOrder = INTERNAL_KEY_ORDER;

  /** Offset of the current entry; >= dataEnd when not valid. */
  private cur = 0;
  /** Offset just after the current entry. */
  private nextOff = 0;
  /** Restart interval the current entry is in. */
  private restartIndex = 0;

  /** The current key is keySrc[keyStart, keyEnd): keySrc is `data` or `keyBuf`. (Read-only outside.) */
  keySrc: Buffer = EMPTY;
  keyStart = 0;
  keyEnd = 0;
  private keyBuf: Buffer = Buffer.allocUnsafe(64);
  /** The current value is data[valStart, valEnd). (Read-only outside.) */
  valStart = 0;
  valEnd = 0;
  private cachedKey: Buffer | undefined;
  private cachedValue: Buffer | undefined;
  private readonly cursor: Cursor = { pos: 0 };

  /**
   * Reverse-iteration cache: `prev()` decodes a whole restart interval once
   * and remembers its entries (offset, key range in rcKeys, value range), so
   * stepping back through the interval costs O(1) per entry instead of a
   * re-scan from the restart point each time.
   */
  private rc: number[] = [];
  private rcCount = 0;
  private rcIdx = 0;
  private rcKeys: Buffer = Buffer.allocUnsafe(256);

  constructor(block?: Block) {
    if (block) this.setBlock(block);
  }

  /** Points the iterator at `block`; it is then not valid until positioned. */
  setBlock(block: Block): void {
    this.block = block;
    this.data = block.data;
    this.dataEnd = block.dataEnd;
    this.numRestarts = block.numRestarts;
    this.order = block.order;
    this.rcCount = 0;
    this.invalidate();
  }

  valid(): boolean {
    return this.cur < this.dataEnd;
  }

  get valSrc(): Buffer {
    return this.data;
  }

  key(): Buffer {
    assert(this.valid(), 'BlockIterator.key() while not valid');
    return (this.cachedKey ??= this.keySrc.subarray(this.keyStart, this.keyEnd));
  }

  value(): Buffer {
    assert(this.valid(), 'BlockIterator.value() while not valid');
    return (this.cachedValue ??= this.data.subarray(this.valStart, this.valEnd));
  }

  /** Compares the user-key part of the current (internal) key with userKey[0, userLen), without allocating. */
  compareUserKey(userKey: Buffer, userLen: number): number {
    return compareRanges(this.keySrc, this.keyStart, this.keyEnd - TRAILER_SIZE, userKey, 0, userLen);
  }

  /** The value type in the current internal key's trailer (its lowest byte). */
  keyType(): number {
    return this.keySrc[this.keyEnd - TRAILER_SIZE]!;
  }

  /** Compares the current key with `target` without allocating. */
  compareKey(target: Buffer): number {
    return this.order.compareAt(this.keySrc, this.keyStart, this.keyEnd, target);
  }

  seekToFirst(): void {
    this.checkBlock();
    this.seekToRestart(0);
  }

  seekToLast(): void {
    this.checkBlock();
    this.seekToRestart(this.numRestarts - 1);
    while (this.valid() && this.nextOff < this.dataEnd) this.parseNext();
  }

  seek(target: Buffer): void {
    this.checkBlock();
    // Binary search for the last restart point whose key is < target.
    let left = 0;
    let right = this.numRestarts - 1;
    while (left < right) {
      const mid = (left + right + 1) >>> 1;
      if (this.compareRestartKey(mid, target) < 0) left = mid;
      else right = mid - 1;
    }
    this.seekToRestart(left);
    while (this.valid() && this.compareKey(target) < 0) this.parseNext();
  }

  seekForPrev(target: Buffer): void {
    this.seek(target);
    if (!this.valid()) this.seekToLast();
    else if (this.compareKey(target) > 0) this.prev();
  }

  next(): void {
    assert(this.valid(), 'BlockIterator.next() while not valid');
    this.parseNext();
  }

  prev(): void {
    assert(this.valid(), 'BlockIterator.prev() while not valid');
    const original = this.cur;
    const rc = this.rc;
    if (this.rcCount > 0 && this.rcIdx > 0 && rc[this.rcIdx * 5] === original) {
      const i = --this.rcIdx * 5;
      this.cur = rc[i]!;
      this.keySrc = this.rcKeys;
      this.keyStart = rc[i + 1]!;
      this.keyEnd = rc[i + 2]!;
      this.valStart = rc[i + 3]!;
      this.valEnd = this.nextOff = rc[i + 4]!;
      this.cachedKey = undefined;
      this.cachedValue = undefined;
      return;
    }
    let ri = this.restartIndex;
    while (this.block!.restartPoint(ri) >= original) {
      if (ri === 0) {
        this.invalidate();
        return;
      }
      ri--;
    }
    // Decode the interval up to `original`, recording every entry.
    this.rcCount = 0;
    this.rcIdx = 0;
    this.seekToRestart(ri);
    let keysLen = 0;
    for (;;) {
      const keyLen = this.keyEnd - this.keyStart;
      if (keysLen + keyLen > this.rcKeys.length) {
        // Entries already recorded point into the old buffer: keep their bytes.
        const grown = Buffer.allocUnsafe(Math.max(keysLen + keyLen, this.rcKeys.length * 2));
        this.rcKeys.copy(grown, 0, 0, keysLen);
        this.rcKeys = grown;
      }
      copyRange(this.keySrc, this.keyStart, this.keyEnd, this.rcKeys, keysLen);
      const i = this.rcCount++ * 5;
      rc[i] = this.cur;
      rc[i + 1] = keysLen;
      rc[i + 2] = keysLen + keyLen;
      rc[i + 3] = this.valStart;
      rc[i + 4] = this.valEnd;
      keysLen += keyLen;
      if (this.nextOff >= original) break;
      this.parseNext();
    }
    if (this.nextOff !== original) {
      const err = this.block!.corrupt(`entry boundaries disagree with restart points at ${original}`);
      this.rcCount = 0;
      this.invalidate();
      throw err;
    }
    this.rcIdx = this.rcCount - 1;
  }

  close(): void {
    this.block = undefined;
    this.rcCount = 0;
    this.data = EMPTY;
    this.dataEnd = 0;
    this.keySrc = EMPTY;
    this.invalidate();
  }

  private checkBlock(): void {
    assert(this.block !== undefined, 'BlockIterator used without a block');
  }

  private invalidate(): void {
    this.cur = this.dataEnd;
    this.nextOff = this.dataEnd;
    this.restartIndex = this.numRestarts;
    this.cachedKey = undefined;
    this.cachedValue = undefined;
  }

  private fail(what: string): never {
    const err = this.block!.corrupt(what);
    this.invalidate();
    throw err;
  }

  private seekToRestart(i: number): void {
    const off = this.block!.restartPoint(i);
    this.restartIndex = i;
    if (off >= this.dataEnd) {
      this.invalidate();
      return;
    }
    // A restart entry shares nothing: pretend the previous key was empty.
    this.keySrc = this.data;
    this.keyStart = 0;
    this.keyEnd = 0;
    this.parseAt(off);
  }

  private parseNext(): void {
    const off = this.nextOff;
    if (off >= this.dataEnd) {
      this.invalidate();
      return;
    }
    this.parseAt(off);
    const n = this.numRestarts;
    while (this.restartIndex + 1 < n && this.block!.restartPoint(this.restartIndex + 1) <= off) this.restartIndex++;
  }

  /** Decodes the entry at `off`, using the current key as the previous key. */
  private parseAt(off: number): void {
    const data = this.data;
    const end = this.dataEnd;
    let p = off;
    let shared: number;
    let nonShared: number;
    let valueLen: number;
    if (p + 3 <= end && (shared = data[p]!) < 128 && (nonShared = data[p + 1]!) < 128 && (valueLen = data[p + 2]!) < 128) {
      p += 3;
    } else {
      const cur = this.cursor;
      cur.pos = p;
      shared = getVarint(data, cur, end);
      nonShared = getVarint(data, cur, end);
      valueLen = getVarint(data, cur, end);
      if (shared < 0 || nonShared < 0 || valueLen < 0) this.fail(`bad entry header at ${off}`);
      p = cur.pos;
    }
    const deltaEnd = p + nonShared;
    const valEnd = deltaEnd + valueLen;
    if (valEnd > end) this.fail(`entry at ${off} runs past the end of the block`);
    const prevLen = this.keyEnd - this.keyStart;
    if (shared > prevLen) this.fail(`entry at ${off} shares ${shared} bytes of a ${prevLen}-byte key`);
    const keyLen = shared + nonShared;
    if (keyLen < this.order.minKeyLength) this.fail(`entry at ${off} has a ${keyLen}-byte key`);
    if (shared === 0) {
      this.keySrc = data;
      this.keyStart = p;
      this.keyEnd = deltaEnd;
    } else {
      let kb = this.keyBuf;
      if (keyLen > kb.length) {
        const grown = Buffer.allocUnsafe(Math.max(keyLen, kb.length * 2));
        copyRange(this.keySrc, this.keyStart, this.keyStart + shared, grown, 0);
        this.keyBuf = kb = grown;
      } else if (this.keySrc !== kb) {
        copyRange(this.keySrc, this.keyStart, this.keyStart + shared, kb, 0);
      }
      copyRange(data, p, deltaEnd, kb, shared);
      this.keySrc = kb;
      this.keyStart = 0;
      this.keyEnd = keyLen;
    }
    this.cur = off;
    this.nextOff = valEnd;
    this.valStart = deltaEnd;
    this.valEnd = valEnd;
    this.cachedKey = undefined;
    this.cachedValue = undefined;
  }

  /** Compares the key of restart point `i` with `target`. */
  private compareRestartKey(i: number, target: Buffer): number {
    const data = this.data;
    const end = this.dataEnd;
    const off = this.block!.restartPoint(i);
    const cur = this.cursor;
    cur.pos = off;
    const shared = getVarint(data, cur, end);
    const nonShared = getVarint(data, cur, end);
    const valueLen = getVarint(data, cur, end);
    if (shared !== 0 || nonShared < 0 || valueLen < 0) this.fail(`bad entry header at restart point ${i} (${off})`);
    const keyEnd = cur.pos + nonShared;
    if (keyEnd + valueLen > end) this.fail(`entry at ${off} runs past the end of the block`);
    if (nonShared < this.order.minKeyLength) this.fail(`entry at ${off} has a ${nonShared}-byte key`);
    return this.order.compareAt(data, cur.pos, keyEnd, target);
  }
}
