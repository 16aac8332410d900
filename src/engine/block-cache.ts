import { assert } from '../base/index.js';
import type { EngineCounters } from './stats.js';

/** One cached block: a node of the LRU list. */
class CacheEntry<V> {
  prev: CacheEntry<V> = this;
  next: CacheEntry<V> = this;
  constructor(
    readonly id: number,
    readonly offset: number,
    /** Undefined only for the list's sentinel. */
    public block: V | undefined,
    public charge: number,
  ) {}
}

/**
 * The block cache shared by every table of a database: uncompressed,
 * checksum-verified blocks (the engine caches parsed `Block`s, so a hit
 * costs no re-parse) keyed by (cache id, block offset), evicted
 * least-recently-used first once the total charge exceeds the capacity.
 *
 * Lookup, insert and eviction are O(1): entries sit in a Map per cache id
 * (both keys stay small integers, which V8 hashes fastest) and on an intrusive
 * doubly linked list ordered from least to most recently used.
 *
 * Each TableReader takes a fresh id from `newId()`, so a file number that is
 * reused (or a table reopened) never sees another file's blocks; stale
 * entries of closed tables simply age out.
 */
export class BlockCache<V = Buffer> {
  private readonly tables = new Map<number, Map<number, CacheEntry<V>>>();
  /** Sentinel: head.next is the least recently used entry, head.prev the most recent. */
  private readonly head: CacheEntry<V> = new CacheEntry<V>(-1, -1, undefined, 0);
  private nextId = 1;
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
    const e = this.tables.get(id)?.get(offset);
    if (e === undefined) {
      if (this.counters) this.counters.blockCacheMisses++;
      return undefined;
    }
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
    let table = this.tables.get(id);
    const old = table?.get(offset);
    if (old !== undefined) this.remove(old, table!, old.block !== block);
    if (charge > this.capacity) return false;
    if (table === undefined || table.size === 0) {
      table = new Map();
      this.tables.set(id, table);
    }
    const e = new CacheEntry(id, offset, block, charge);
    table.set(offset, e);
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
      this.remove(lru, this.tables.get(lru.id)!);
    }
    return true;
  }

  erase(id: number, offset: number): void {
    const table = this.tables.get(id);
    const e = table?.get(offset);
    if (e !== undefined) this.remove(e, table!);
  }

  /** Drops every entry. */
  clear(): void {
    this.tables.clear();
    const head = this.head;
    head.next = head;
    head.prev = head;
    this.used = 0;
    this.count = 0;
  }

  private remove(e: CacheEntry<V>, table: Map<number, CacheEntry<V>>, notify = true): void {
    e.prev.next = e.next;
    e.next.prev = e.prev;
    e.prev = e;
    e.next = e;
    table.delete(e.offset);
    if (table.size === 0) this.tables.delete(e.id);
    this.used -= e.charge;
    this.count--;
    const block = e.block!;
    e.block = undefined;
    if (notify && this.onRemove !== undefined) this.onRemove(block);
  }
}
