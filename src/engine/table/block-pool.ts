/**
 * Data blocks (the Block objects and their memory) that point reads and
 * table iterators read, reused once nothing can read them any more.
 *
 * Why: a read-heavy workload that misses the cache decompresses a few
 * hundred MB of blocks per second. Given memory of its own each, a cached
 * block lives long enough to be promoted to V8's old generation, where its
 * ArrayBuffer is freed only by a full mark-compact; and the external bytes
 * piling up between collections themselves make V8 start one ("external
 * memory pressure"), over the whole heap, an application's own data
 * included. Measured at 1M keys (single awaited gets, in-process): 43-44
 * full mark-compacts per million gets, 2 with reuse, and half the scavenge
 * time. Reused, block memory is allocated once and never churns. The Block
 * object goes with its memory (with its restart array and its Buffer
 * object): the cache's blocks live for tens of milliseconds, long enough
 * that a fair share of them would otherwise be promoted to the old
 * generation as they die (measured: seekrandom at 1M keys promoted about
 * 6 MB/s of dead blocks, nearly nothing without a block cache).
 *
 * The rule that makes reuse safe: a block's memory goes back to the pool
 * only when nothing can still read it. Who may read a block:
 * - the block cache (`Block.cached`), which hands it to later reads;
 * - a synchronous point read, until it returns (it copies the value out);
 * - a table iterator positioned in it (`Block.refs`, see holdBlock): the
 *   views an iterator hands out are valid until its next move (the
 *   InternalIterator contract), and everything above it copies what it
 *   keeps (DbIterator's entries and skip key, MergingIterator's key on a
 *   change of direction, compaction's current user key);
 * - anyone who keeps a view past the call that produced it (`getSyncView`,
 *   `TableReader.get`): they `pin()` the block, and its memory is then left
 *   to the garbage collector as before.
 * So a block comes back when the cache has let go of it unpinned and its
 * last iterator moves on (or, for a block not cached, when its iterator
 * moves on). A Block object that came back may be handed out again as
 * another block: nothing may keep a reference to one it has not pinned or
 * held (`released` catches a late pin until the object is reused).
 *
 * Per thread (module state): the event loop's reads use it; worker threads
 * never cache blocks or open table iterators.
 */
import { assert } from '../../base/index.js';
import { Block } from './block.js';

/** Sizes are rounded up to this; blocks cut at 4 KiB mostly fall in one class. */
const GRANULE = 256;
/** Larger blocks are not pooled (they are rare: a single large entry). */
const MAX_POOLED = 64 * 1024;
/** Bytes kept free in the pool at most; beyond that returned blocks are dropped. */
const MAX_FREE_BYTES = 4 * 1024 * 1024;

/** Free blocks by size class (buffer length / GRANULE). */
const free: Array<Block[] | undefined> = [];
/** Every Block the pool made: only those are taken back. */
const issued = new WeakSet<Block>();
let freeBytes = 0;

/** Counters for tests and diagnosis. */
export const blockPoolStats = { allocated: 0, reused: 0, returned: 0, dropped: 0 };

/**
 * A reusable block shell whose `data` holds at least `n` bytes: from the
 * pool when it has one of the right size class, else new. The caller
 * writes the contents to data[0, n) and calls `reset(n, ...)`.
 */
export function takeBlock(n: number): Block {
  let block: Block;
  if (n > MAX_POOLED || n === 0) {
    block = new Block(Buffer.allocUnsafeSlow(n), '', 0, undefined, false, -1);
  } else {
    const cls = Math.ceil(n / GRANULE);
    const list = free[cls];
    if (list !== undefined && list.length > 0) {
      block = list.pop()!;
      freeBytes -= block.data.length;
      blockPoolStats.reused++;
      block.released = false;
    } else {
      blockPoolStats.allocated++;
      block = new Block(Buffer.allocUnsafeSlow(cls * GRANULE), '', 0, undefined, false, -1);
      issued.add(block);
    }
  }
  block.reusable = true;
  return block;
}

/** Bytes a block of `n` bytes takes (its size class), for cache charging. */
export function blockMemoryCharge(n: number): number {
  return n > MAX_POOLED || n === 0 ? n : Math.ceil(n / GRANULE) * GRANULE;
}

/** Bytes currently free in the pool. */
export function blockPoolFreeBytes(): number {
  return freeBytes;
}

/** The block cache's `onRemove`: the block goes back to the pool unless an iterator is in it or it is pinned. */
export function releaseBlock(block: Block): void {
  block.cached = false;
  if (block.refs === 0) giveBack(block);
}

/** A table iterator positions itself in `block` (it reads views of it until dropBlock). */
export function holdBlock(block: Block): void {
  assert(!block.released, 'held a block whose memory went back to the block pool');
  block.refs++;
}

/** A table iterator moves off `block` (or closes): if the cache does not hold it, it goes back. */
export function dropBlock(block: Block): void {
  assert(block.refs > 0, 'block reference count');
  if (--block.refs === 0 && !block.cached) giveBack(block);
}

function giveBack(block: Block): void {
  if (!block.reusable) return;
  block.reusable = false;
  block.released = true;
  // Only blocks the pool made come back (never a view of anything else).
  if (!issued.has(block)) return;
  const size = block.data.length;
  if (freeBytes + size > MAX_FREE_BYTES) {
    blockPoolStats.dropped++;
    return;
  }
  const cls = size / GRANULE;
  let list = free[cls];
  if (list === undefined) {
    list = [];
    free[cls] = list;
  }
  list.push(block);
  freeBytes += size;
  blockPoolStats.returned++;
}
