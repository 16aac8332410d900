import { assert } from '../base/index.js';
import type { EngineCounters } from './stats.js';

/** Removed entries kept for reuse at most. */
const MAX_SPARE_ENTRIES = 1024;
/** Slots the index starts with (a power of two). */
const INITIAL_SLOTS = 64;

/** One cached block: a node of the LRU list. */
class CacheEntry<V> {
  prev: CacheEntry<V> = this;
  next: CacheEntry<V> = this;
  constructor(
    public id: number,
    public offset: number,
    /** hashKey(id, offset). */
    public hash: number,
    /** Undefined only for the list's sentinel. */
    public block: V | undefined,
    public charge: number,
  ) {}
}

/** A 32-bit hash of (id, offset); offsets may exceed 2^32. */
function hashKey(id: number, offset: number): number {
  const lo = offset >>> 0;
  const hi = (offset / 4294967296) >>> 0;
  let h = Math.imul(id, 0x9e3779b1) ^ Math.imul(lo ^ (lo >>> 15), 0x85ebca77) ^ hi;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  return (h ^ (h >>> 15)) >>> 0;
}

/**
 * The block cache shared by every table of a database: uncompressed,
 * checksum-verified blocks (the engine caches parsed `Block`s, so a hit
 * costs no re-parse) keyed by (cache id, block offset), evicted
 * least-recently-used first once the total charge exceeds the capacity.
 *
 * Lookup, insert and eviction are O(1): entries sit in an open-addressing
 * hash index (linear probing, at most half full) and on an intrusive doubly
 * linked list ordered from least to most recently used. A cache that keeps
 * replacing blocks allocates nothing: removal shifts the probe chain back
 * instead of leaving tombstones (so the index never needs a rehash short
 * of growing), and removed entries are reused. (With a Map per table, as
 * before, the Maps' backing stores were rebuilt every few hundred
 * replacements and died in V8's old generation: about 1.5 MB/s of garbage
 * for full collections at 35k block reads/s.)
 *
 * Each TableReader takes a fresh id from `newId()`, so a file number that is
 * reused (or a table reopened) never sees another file's blocks; stale
 * entries of closed tables simply age out.
 */
export class BlockCache<V = Buffer> {
  /** The hash index: a power-of-two number of slots. */
  private slots: Array<CacheEntry<V> | undefined> = new Array<CacheEntry<V> | undefined>(INITIAL_SLOTS).fill(undefined);
  private mask = INITIAL_SLOTS - 1;
  /** Sentinel: head.next is the least recently used entry, head.prev the most recent. */
  private readonly head: CacheEntry<V> = new CacheEntry<V>(-1, -1, 0, undefined, 0);
  private nextId = 1;
  /**
   * Entries removed, for reuse: a read-heavy workload replaces tens of
   * thousands of entries per second, each living long enough that many would
   * be promoted to V8's old generation as they die.
   */
  private readonly spare: CacheEntry<V>[] = [];
  private used = 0;
  private count = 0;

  /**
   * `onRemove` is called with each block that leaves the cache (evicted,
   * replaced or erased; not by `clear`), after it is unlinked. A block
   * object is cached under one key at most (re-inserting it under the same
   * key does not remove it), or onRemove would see it leave while another
   * entry still serves it.
   */
  constructor(
    readonly capacity: number,
    private readonly counters?: EngineCounters,
    private readonly onRemove?: (block: V) => void,
  ) {
    assert(Number.isFinite(capacity) && capacity >= 0, 'block cache capacity must be >= 0');
  }

  /** Total charge of the cached blocks. */
  get usage(): number {
    return this.used;
  }

  /** Number of cached blocks. */
  get size(): number {
    return this.count;
  }

  newId(): number {
    return this.nextId++;
  }

  lookup(id: number, offset: number): V | undefined {
    const i = this.find(id, offset, hashKey(id, offset));
    if (i < 0) {
      if (this.counters) this.counters.blockCacheMisses++;
      return undefined;
    }
    const e = this.slots[i]!;
    if (this.counters) this.counters.blockCacheHits++;
    // Move to the most-recently-used end.
    const head = this.head;
    if (head.prev !== e) {
      e.prev.next = e.next;
      e.next.prev = e.prev;
      e.prev = head.prev;
      e.next = head;
      head.prev.next = e;
      head.prev = e;
    }
    return e.block;
  }

  /**
   * Caches `block` under (id, offset), replacing any previous entry, then
   * evicts least-recently-used entries until usage <= capacity. A block whose
   * charge alone exceeds the capacity is not cached. Returns whether it was.
   */
  insert(id: number, offset: number, block: V, charge: number): boolean {
    assert(charge >= 0, 'block cache charge must be >= 0');
    const hash = hashKey(id, offset);
    const at = this.find(id, offset, hash);
    if (at >= 0) {
      const old = this.slots[at]!;
      this.remove(old, old.block !== block);
    }
    if (charge > this.capacity) return false;
    let e = this.spare.pop();
    if (e === undefined) e = new CacheEntry(id, offset, hash, block, charge);
    else {
      e.id = id;
      e.offset = offset;
      e.hash = hash;
      e.block = block;
      e.charge = charge;
    }
    this.place(e);
    const head = this.head;
    e.prev = head.prev;
    e.next = head;
    head.prev.next = e;
    head.prev = e;
    this.used += charge;
    this.count++;
    while (this.used > this.capacity) {
      const lru = head.next;
      assert(lru !== head, 'block cache usage accounting');
      this.remove(lru);
    }
    return true;
  }

  erase(id: number, offset: number): void {
    const i = this.find(id, offset, hashKey(id, offset));
    if (i >= 0) this.remove(this.slots[i]!);
  }

  /** Drops every entry. */
  clear(): void {
    this.slots.fill(undefined);
    const head = this.head;
    head.next = head;
    head.prev = head;
    this.used = 0;
    this.count = 0;
  }

  /** The slot holding (id, offset), or -1. */
  private find(id: number, offset: number, hash: number): number {
    const slots = this.slots;
    const mask = this.mask;
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const e = slots[i];
      if (e === undefined) return -1;
      if (e.hash === hash && e.id === id && e.offset === offset) return i;
    }
  }

  /** Puts `e` (not in the index) in the index, growing it to stay at most half full. */
  private place(e: CacheEntry<V>): void {
    if ((this.count + 1) * 2 > this.slots.length) this.grow();
    const slots = this.slots;
    const mask = this.mask;
    let i = e.hash & mask;
    while (slots[i] !== undefined) i = (i + 1) & mask;
    slots[i] = e;
  }

  private grow(): void {
    const n = this.slots.length * 2;
    const slots = new Array<CacheEntry<V> | undefined>(n).fill(undefined);
    const mask = n - 1;
    const head = this.head;
    for (let e = head.next; e !== head; e = e.next) {
      let i = e.hash & mask;
      while (slots[i] !== undefined) i = (i + 1) & mask;
      slots[i] = e;
    }
    this.slots = slots;
    this.mask = mask;
  }

  /** Empties slot `hole`, moving later entries of its probe chain back so every lookup still finds them. */
  private unplace(hole: number): void {
    const slots = this.slots;
    const mask = this.mask;
    slots[hole] = undefined;
    for (let j = (hole + 1) & mask; ; j = (j + 1) & mask) {
      const e = slots[j];
      if (e === undefined) return;
      // e may move to the hole if the hole lies on its probe path: from its home slot up to j.
      if (((j - (e.hash & mask)) & mask) >= ((j - hole) & mask)) {
        slots[hole] = e;
        slots[j] = undefined;
        hole = j;
      }
    }
  }

  private remove(e: CacheEntry<V>, notify = true): void {
    const at = this.find(e.id, e.offset, e.hash);
    assert(at >= 0 && this.slots[at] === e, 'block cache index');
    this.unplace(at);
    e.prev.next = e.next;
    e.next.prev = e.prev;
    e.prev = e;
    e.next = e;
    this.used -= e.charge;
    this.count--;
    const block = e.block!;
    e.block = undefined;
    if (this.spare.length < MAX_SPARE_ENTRIES) this.spare.push(e);
    if (notify && this.onRemove !== undefined) this.onRemove(block);
  }
}
