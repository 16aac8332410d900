import { assert, closedError, corruption, crc32c, getVarint, maskCrc, snappy } from '../../base/index.js';
import type { Cursor, RandomAccessFile } from '../../base/index.js';
import type { BlockCache } from '../block-cache.js';
import { prefixAfter, TRAILER_SIZE, ValueType } from '../format.js';
import type { InternalIterator } from '../iterator.js';
import type { EngineCounters } from '../stats.js';
import { Block, BlockIterator, BYTEWISE_ORDER, compareRanges, INTERNAL_KEY_ORDER } from './block.js';
import { blockMemoryCharge, dropBlock, holdBlock, takeBlock } from './block-pool.js';
import { BloomFilter } from './bloom.js';
import {
  BLOCK_TRAILER_SIZE,
  blockChecksumMatches,
  CompressionType,
  decodeFooter,
  decodeHandle,
  FOOTER_SIZE,
  FORMAT_VERSION,
  META_FILTER_KEY,
  META_PROPERTIES_KEY,
  PROP_DATA_BLOCKS,
  PROP_DELETIONS,
  PROP_ENTRIES,
  PROP_FORMAT_VERSION,
  PROP_LARGEST,
  PROP_RAW_KEY_BYTES,
  PROP_RAW_VALUE_BYTES,
  PROP_SMALLEST,
} from './format.js';
import type { BlockHandle } from './format.js';
import type { TableProperties } from './table-builder.js';

export type FindResult = 0 | 1 | 2 | 3;
/** `find` answers: no entry for the key, a value (in `foundValue`), a deletion. */
export const FIND_NONE: FindResult = 0;
export const FIND_VALUE: FindResult = 1;
export const FIND_DELETED: FindResult = 2;
/** `findCached` only: the data block to look at next is not in the cache (see `missBlock`). */
export const FIND_MISS: FindResult = 3;
const EMPTY_VALUE = Buffer.alloc(0);

/** Scratch for block reads: the reader is synchronous, so one buffer serves every table. */
let readScratch = Buffer.allocUnsafeSlow(64 * 1024);

const SLAB_BYTES = 128 * 1024;
let slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
let slabUsed = 0;

/**
 * Memory for an uncompressed block the cache may keep. Small blocks are
 * carved from 128 KiB slabs (one ArrayBuffer per ~32 blocks instead of one
 * each); a slab is freed once none of its blocks is referenced.
 */
function allocBlock(n: number): Buffer {
  if (n > SLAB_BYTES / 8) return Buffer.allocUnsafeSlow(n);
  if (slabUsed + n > SLAB_BYTES) {
    slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
    slabUsed = 0;
  }
  const out = slab.subarray(slabUsed, slabUsed + n);
  slabUsed = (slabUsed + n + 7) & ~7;
  return out;
}

/**
 * A readahead window for sequential block reads: `get` answers from the
 * window when it holds the range, else refills it from the range's start
 * with one read of `windowBytes` (or the range, if larger), clipped at
 * `limit`. One per scan; returned views are valid until the next `get`.
 */
export class Readahead {
  /**
   * Windows given back by `release`, for the next scans in this thread. A
   * compaction scans every input run through a window of its own; allocated
   * anew each time they are garbage the worker's heap, which seldom runs a
   * collection, keeps for long (tens of MB of RSS).
   */
  private static readonly spare: Buffer[] = [];
  private static readonly MAX_SPARE = 16;

  private buf: Buffer;
  private start = 0;
  private len = 0;
  private file: RandomAccessFile | undefined;

  constructor(private readonly windowBytes = 256 * 1024) {
    const spare = Readahead.spare;
    const i = spare.findIndex((b) => b.length === windowBytes);
    this.buf = i >= 0 ? spare.splice(i, 1)[0]! : Buffer.allocUnsafeSlow(windowBytes);
  }

  /** Gives the window's memory back for another scan; views `get` returned must no longer be used, nor this. */
  release(): void {
    this.reset();
    if (this.buf.length === this.windowBytes && Readahead.spare.length < Readahead.MAX_SPARE) Readahead.spare.push(this.buf);
    this.buf = EMPTY_VALUE;
  }

  get(file: RandomAccessFile, offset: number, n: number, limit: number): Buffer {
    if (file !== this.file || offset < this.start || offset + n > this.start + this.len) {
      const want = Math.max(n, Math.min(this.windowBytes, limit - offset));
      if (this.buf.length < want) this.buf = Buffer.allocUnsafeSlow(want);
      this.file = file;
      this.start = offset;
      this.len = file.read(offset, want, this.buf.subarray(0, want)).length;
      if (this.len < n) return this.buf.subarray(0, this.len);
    }
    const at = offset - this.start;
    return this.buf.subarray(at, at + n);
  }

  /** Forgets the window (its file is being closed). */
  reset(): void {
    this.file = undefined;
    this.len = 0;
  }
}

/** Plain (copied) output buffers: external ones hold native memory until a finalizer runs on a later event-loop turn. */
const SNAPPY_OPTIONS = { copyOutputData: true } as const;

export interface TableReaderOptions {
  fileNumber: number;
  /** Shared block cache for data blocks. Without one every data block access reads the file. */
  cache?: BlockCache<Block>;
  /** Receives bloom filter statistics. */
  counters?: EngineCounters;
  /** Verify data block checksums on read. Default true. Metadata blocks are always verified. */
  verifyChecksums?: boolean;
  /**
   * Opened only to be scanned from its first block (a compaction's input):
   * neither the bloom filter nor the index's keys are kept (tens of KB per
   * table that a scan never reads), and lookups and seeks are refused.
   */
  scanOnly?: boolean;
}

const footerCrc = (d: Buffer): number => maskCrc(crc32c(d));

/**
 * An open table file. Point lookups (`get`) and iterators read data blocks
 * through the block cache; the index, filter and properties stay in memory.
 *
 * `close()` releases the file once every iterator created from the reader
 * has been closed as well.
 */
export class TableReader {
  readonly fileNumber: number;
  readonly properties: TableProperties;

  private readonly path: string;
  private readonly cache: BlockCache<Block> | undefined;
  private readonly cacheId: number;
  private readonly counters: EngineCounters | undefined;
  private readonly verify: boolean;
  private readonly filter: BloomFilter | undefined;
  /** File offset of the index block (for corruption reports). */
  private readonly indexOffset: number;
  /** Where data blocks end: the file offset of the first metadata block. */
  private readonly dataEnd: number;
  /** Block handles must lie below this offset (the footer). */
  private readonly limit: number;

  // Scratch state for get() and approximateOffsetOf(): synchronous and not re-entrant.
  private readonly getDataIter = new BlockIterator();
  private readonly scratch: BlockHandle = { offset: 0, size: 0 };
  private readonly cursor: Cursor = { pos: 0 };

  private openIterators = 0;
  private closed = false;
  private readonly scanOnly: boolean;

  private constructor(
    private readonly file: RandomAccessFile,
    options: TableReaderOptions,
  ) {
    this.fileNumber = options.fileNumber;
    this.scanOnly = options.scanOnly === true;
    this.path = file.path;
    this.cache = options.cache;
    this.cacheId = options.cache?.newId() ?? 0;
    this.counters = options.counters;
    this.verify = options.verifyChecksums ?? true;

    const size = file.size;
    if (size < FOOTER_SIZE) {
      throw corruption(this.path, 0, `file of ${size} bytes is shorter than the ${FOOTER_SIZE}-byte table footer`);
    }
    const footerOffset = size - FOOTER_SIZE;
    this.limit = footerOffset;
    const footerBuf = file.read(footerOffset, FOOTER_SIZE, Buffer.allocUnsafeSlow(FOOTER_SIZE));
    const footer = decodeFooter(footerBuf, this.path, footerOffset, footerCrc);
    for (const h of [footer.metaIndex, footer.index]) {
      if (!this.inRange(h)) {
        throw corruption(this.path, footerOffset, `footer block handle [${h.offset}, +${h.size}) outside the file`);
      }
    }

    // The index block is read, checked and flattened (checkIndex); only the flat arrays are kept.
    const indexBlock = new Block(this.readBlock(footer.index, true), this.path, footer.index.offset, INTERNAL_KEY_ORDER);
    this.indexOffset = footer.index.offset;
    const dataBlocks = this.checkIndex(indexBlock.iterator(), footer.index.offset);

    // Meta-index: name → handle.
    const meta = new Block(this.readBlock(footer.metaIndex, true), this.path, footer.metaIndex.offset, BYTEWISE_ORDER);
    let filterHandle: BlockHandle | undefined;
    let propsHandle: BlockHandle | undefined;
    const mi = meta.iterator();
    for (mi.seekToFirst(); mi.valid(); mi.next()) {
      const name = mi.key().toString('latin1');
      if (name !== META_FILTER_KEY && name !== META_PROPERTIES_KEY) continue;
      const h = this.decodeHandleValue(mi.value(), footer.metaIndex.offset, `meta-index entry ${name}`);
      if (name === META_FILTER_KEY) filterHandle = h;
      else propsHandle = h;
    }
    if (propsHandle === undefined) throw corruption(this.path, footer.metaIndex.offset, 'table has no properties block');

    const props = this.readProperties(propsHandle, size);
    if (props.dataBlocks !== dataBlocks) {
      throw corruption(this.path, footer.index.offset, `index lists ${dataBlocks} data blocks, properties say ${props.dataBlocks}`);
    }
    this.properties = props;
    if (!this.scanOnly) this.prefixIndex(props);
    this.dataEnd = Math.min(propsHandle.offset, filterHandle?.offset ?? Infinity, footer.metaIndex.offset);

    if (filterHandle !== undefined && !this.scanOnly) {
      const data = this.readBlock(filterHandle, true);
      const problem = BloomFilter.check(data);
      if (problem !== undefined) throw corruption(this.path, filterHandle.offset, problem);
      this.filter = new BloomFilter(data);
    }
  }

  /**
   * Opens a table: reads and checks the footer, index, meta-index, filter and
   * properties. Takes ownership of `file` (closed by `close()`, or right away
   * if opening fails).
   */
  static open(file: RandomAccessFile, options: TableReaderOptions): TableReader {
    try {
      return new TableReader(file, options);
    } catch (err) {
      file.close();
      throw err;
    }
  }

  mayContain(userKey: Buffer): boolean {
    return this.filterMayContain(userKey, userKey.length);
  }

  get(lookupKey: Buffer): { key: Buffer; value: Buffer } | undefined {
    const found = this.seekEntry(lookupKey);
    if (found === undefined) return undefined;
    const di = this.getDataIter;
    // The value is a view the caller keeps.
    di.currentBlock!.pin();
    const result = { key: Buffer.from(di.key()), value: di.value() };
    if (this.filter !== undefined && this.counters !== undefined && found.compareUserKey(lookupKey, lookupKey.length - TRAILER_SIZE) !== 0) {
      this.counters.bloomFalsePositives++;
    }
    di.close();
    return result;
  }

  /**
   * The point-read fast path: the newest entry for lookupKey's user key at
   * or below its sequence, without allocating. `keyHash`: the user key's
   * bloomHash, when the caller computed it once for several tables. Returns FIND_VALUE (the
   * value is in `foundValue`, a view of block memory), FIND_DELETED, or
   * FIND_NONE when the table holds no such entry.
   */
  find(lookupKey: Buffer, keyHash?: number): FindResult {
    return this.answer(this.seekEntry(lookupKey, keyHash), lookupKey);
  }

  /**
   * `find` without reading the file: FIND_MISS when the data block it would
   * read next is not cached. That block's index is then in `missBlock`
   * (its handle: `blockHandle`); `findWith` goes on once it is loaded.
   */
  findCached(lookupKey: Buffer, keyHash?: number): FindResult {
    if (this.closed) throw closedError('table');
    assert(lookupKey.length >= TRAILER_SIZE, 'lookup key shorter than its trailer');
    if (!this.filterMayContain(lookupKey, lookupKey.length - TRAILER_SIZE, keyHash)) return FIND_NONE;
    const found = this.seekFrom(lookupKey, this.indexSearch(lookupKey), undefined, true);
    return found === null ? FIND_MISS : this.answer(found, lookupKey);
  }

  /** Data block index of the last FIND_MISS answer. */
  missBlock = 0;

  /** Goes on with a FIND_MISS answer of `findCached`: data block `missBlock` is `block` (blocks after it are read if needed). */
  findWith(lookupKey: Buffer, blockIndex: number, block: Block): FindResult {
    if (this.closed) throw closedError('table');
    return this.answer(this.seekFrom(lookupKey, blockIndex, block, false) as BlockIterator | undefined, lookupKey);
  }

  /** `find`'s answer once getDataIter is at the first entry >= lookupKey (undefined: none). */
  private answer(found: BlockIterator | undefined, lookupKey: Buffer): FindResult {
    if (found === undefined) return FIND_NONE;
    const di = this.getDataIter;
    const userLen = lookupKey.length - TRAILER_SIZE;
    let r: FindResult = FIND_NONE;
    if (found.compareUserKey(lookupKey, userLen) === 0) {
      if (found.keyType() === ValueType.DELETE) r = FIND_DELETED;
      else {
        this.foundValue = di.value();
        this.foundBlock = di.currentBlock;
        r = FIND_VALUE;
      }
    } else if (this.filter !== undefined && this.counters !== undefined) {
      this.counters.bloomFalsePositives++;
    }
    di.close();
    return r;
  }

  /**
   * The value of the last FIND_VALUE answer of `find` (a view: copy it
   * before the next read, which may reuse its block's memory and overwrite
   * it), and its block (pin it right away to keep the view).
   */
  foundValue: Buffer = EMPTY_VALUE;
  foundBlock: Block | undefined;

  /**
   * Positions getDataIter at the first entry >= lookupKey (bloom filter
   * first). Returns the iterator, or undefined if there is none (the
   * iterator is then closed). Counts bloom false positives for `get`.
   */
  private seekEntry(lookupKey: Buffer, keyHash?: number): BlockIterator | undefined {
    if (this.closed) throw closedError('table');
    assert(lookupKey.length >= TRAILER_SIZE, 'lookup key shorter than its trailer');
    if (!this.filterMayContain(lookupKey, lookupKey.length - TRAILER_SIZE, keyHash)) return undefined;
    return this.seekFrom(lookupKey, this.indexSearch(lookupKey), undefined, false) as BlockIterator | undefined;
  }

  /**
   * seekEntry from data block `i` on, which is `first` if given. With
   * `cachedOnly`, returns null instead of reading an uncached block (its
   * index goes to missBlock).
   */
  private seekFrom(lookupKey: Buffer, i: number, first: Block | undefined, cachedOnly: boolean): BlockIterator | undefined | null {
    const di = this.getDataIter;
    const h = this.scratch;
    const n = this.indexKeyEnds.length;
    for (; i < n; i++) {
      let block = first;
      first = undefined;
      if (block === undefined) {
        h.offset = this.indexOffsets[i]!;
        h.size = this.indexSizes[i]!;
        if (cachedOnly) {
          block = this.cache?.lookup(this.cacheId, h.offset);
          if (block === undefined) {
            this.missBlock = i;
            return null;
          }
        } else {
          block = this.loadDataBlock(h, true, 'point');
        }
      }
      di.setBlock(block);
      di.seek(lookupKey);
      if (di.valid()) return di;
      // Only possible when lookupKey lies between a block's last key and its separator.
    }
    di.close();
    if (this.filter !== undefined && this.counters !== undefined) this.counters.bloomFalsePositives++;
    return undefined;
  }

  /** The file descriptor, for a helper thread's reads (undefined when the file system has none). */
  get fd(): number | undefined {
    return this.file.fd;
  }

  /** @internal Data block `i` read from the file now (no cache lookup), cached. */
  readDataBlock(i: number): Block {
    const h = this.blockHandle(i, this.scratch);
    // A pooled block only if the cache will hold it: nothing else gives it back.
    return this.cacheBlock(this.readDataBlockAt(h, this.cache !== undefined), true);
  }

  /** @internal Data block `i` from contents a helper thread read, checked and decompressed (copied here), cached. */
  adoptDataBlock(i: number, contents: Uint8Array): Block {
    // A pooled block (see block-pool.ts) if the cache will hold it. Not allocBlock's slabs: with
    // cached blocks evicted in random order, most slabs stayed alive for one or two blocks (+20-35 MB).
    const n = contents.length;
    const offset = this.indexOffsets[i]!;
    if (this.cache === undefined) {
      const own = Buffer.allocUnsafeSlow(n);
      own.set(contents);
      return new Block(own, this.path, offset, INTERNAL_KEY_ORDER);
    }
    const block = takeBlock(n);
    block.data.set(contents);
    block.reset(n, this.path, offset, INTERNAL_KEY_ORDER, true);
    return this.cacheBlock(block, true);
  }

  /** Puts a data block just read in the cache if `fillCache` (a pooled block is charged its size class). */
  private cacheBlock(block: Block, fillCache: boolean): Block {
    const cache = this.cache;
    if (cache !== undefined && fillCache) {
      block.cached = cache.insert(this.cacheId, block.fileOffset, block, block.reusable ? blockMemoryCharge(block.size) : block.size);
    }
    return block;
  }

  iterator(options?: { fillCache?: boolean }): InternalIterator {
    if (this.closed) throw closedError('table');
    this.openIterators++;
    return new TableIterator(this, options?.fillCache ?? true);
  }

  approximateOffsetOf(ikey: Buffer): number {
    if (this.closed) throw closedError('table');
    const i = this.indexSearch(ikey);
    return i < this.indexOffsets.length ? this.indexOffsets[i]! : this.dataEnd;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.openIterators === 0) this.file.close();
  }

  /** @internal Called by TableIterator.close(). */
  iteratorClosed(): void {
    assert(this.openIterators > 0, 'table iterator count');
    this.openIterators--;
    if (this.closed && this.openIterators === 0) this.file.close();
  }

  /** @internal Decodes an index entry's value into `out`, checking it points at data. */
  decodeIndexValue(value: Buffer, out: BlockHandle): BlockHandle {
    const cur = this.cursor;
    cur.pos = 0;
    if (!decodeHandle(value, cur, value.length, out) || cur.pos !== value.length || !this.inRange(out)) {
      throw corruption(this.path, this.indexOffset, 'bad block handle in index');
    }
    return out;
  }

  /**
   * @internal A data block, from the cache or the file. Read blocks are
   * cached unless `fillCache` is false. `user` says what the caller does
   * with it, which decides whether a block read now may get reusable memory
   * (see block-pool.ts): 'point', a synchronous point read, done with the
   * block when it returns (reusable only if the cache will hold it: nothing
   * else gives it back); 'iterator', a table iterator that holds the block
   * (holdBlock) until it moves on (always reusable). Anyone else who keeps a
   * view of the block must pin it.
   */
  loadDataBlock(h: BlockHandle, fillCache: boolean, user: 'point' | 'iterator'): Block {
    const cache = this.cache;
    if (cache !== undefined) {
      const hit = cache.lookup(this.cacheId, h.offset);
      if (hit !== undefined) return hit;
    }
    const pooled = user === 'iterator' || (user === 'point' && fillCache && cache !== undefined);
    return this.cacheBlock(this.readDataBlockAt(h, pooled), fillCache);
  }

  /** `keyHash`: bloomHash(key[0, end)) if the caller has it (it is the same for every table). */
  private filterMayContain(key: Buffer, end: number, keyHash?: number): boolean {
    const filter = this.filter;
    if (filter === undefined) return true;
    const may = keyHash === undefined ? filter.mayContain(key, 0, end) : filter.mayContainHash(keyHash);
    const c = this.counters;
    if (c !== undefined) {
      c.bloomChecks++;
      if (!may) c.bloomNegatives++;
    }
    return may;
  }

  private inRange(h: BlockHandle): boolean {
    return h.offset + h.size + BLOCK_TRAILER_SIZE <= this.limit;
  }

  /**
   * @internal Data block `i` for a sequential scan (compaction input): read
   * through `ra`, which fetches the file in large windows (one system call
   * per window instead of one per block), checked as `verifyChecksums`
   * says, never cached.
   */
  scanDataBlock(i: number, ra: Readahead): Block {
    if (this.closed) throw closedError('table');
    const offset = this.indexOffsets[i]!;
    const size = this.indexSizes[i]!;
    const n = size + BLOCK_TRAILER_SIZE;
    const buf = ra.get(this.file, offset, n, this.dataEnd);
    if (buf.length !== n) throw corruption(this.path, offset, `truncated block: read ${buf.length} of ${n} bytes`);
    this.scratch.offset = offset;
    this.scratch.size = size;
    return new Block(this.decodeBlock(buf, this.scratch, this.verify), this.path, offset, INTERNAL_KEY_ORDER);
  }

  /**
   * Reads a block and its trailer in one call; checks the checksum (if
   * `verify`) and decompresses into memory of its own.
   */
  private readBlock(h: BlockHandle, verify: boolean): Buffer {
    return this.decodeBlock(this.readStored(h), h, verify);
  }

  /** Data block `h` from the file: a pooled block (see block-pool.ts) if `pooled`. */
  private readDataBlockAt(h: BlockHandle, pooled: boolean): Block {
    const stored = this.readStored(h);
    if (!pooled) return new Block(this.decodeBlock(stored, h, this.verify), this.path, h.offset, INTERNAL_KEY_ORDER);
    const type = this.checkStored(stored, h, this.verify);
    let block: Block;
    if (type === CompressionType.NONE) {
      block = takeBlock(h.size);
      stored.copy(block.data, 0, 0, h.size);
      block.reset(h.size, this.path, h.offset, INTERNAL_KEY_ORDER, true);
    } else {
      // Copied: snappy's output dies young (freed by a scavenge); the pooled block is reused.
      const out = this.uncompress(stored, h);
      block = takeBlock(out.length);
      out.copy(block.data, 0, 0, out.length);
      block.reset(out.length, this.path, h.offset, INTERNAL_KEY_ORDER, true);
    }
    return block;
  }

  /** A block's stored bytes and trailer, in a scratch buffer the next read overwrites. */
  private readStored(h: BlockHandle): Buffer {
    const n = h.size + BLOCK_TRAILER_SIZE;
    // Read into the shared scratch buffer: a fresh ArrayBuffer per read costs microseconds (and GC).
    // Only what the block keeps (decompressed or copied contents) gets memory of its own.
    if (readScratch.length < n) readScratch = Buffer.allocUnsafeSlow(Math.max(n, readScratch.length * 2));
    const buf = this.file.read(h.offset, n, readScratch.subarray(0, n));
    if (buf.length !== n) throw corruption(this.path, h.offset, `truncated block: read ${buf.length} of ${n} bytes`);
    return buf;
  }

  /** Checks a stored block's checksum (if `verify`); returns its compression type (NONE or SNAPPY). */
  private checkStored(buf: Buffer, h: BlockHandle, verify: boolean): number {
    const type = buf[h.size]!;
    if (verify) {
      if (!blockChecksumMatches(buf, h.size)) throw corruption(this.path, h.offset, `block checksum mismatch (${h.size}-byte block)`);
    }
    if (type !== CompressionType.NONE && type !== CompressionType.SNAPPY) throw corruption(this.path, h.offset, `unknown block compression type ${type}`);
    return type;
  }

  /** Snappy-decompresses a stored block (new memory, from native code). */
  private uncompress(buf: Buffer, h: BlockHandle): Buffer {
    let out: string | Buffer;
    try {
      out = snappy.uncompressSync(buf.subarray(0, h.size), SNAPPY_OPTIONS);
    } catch (err) {
      throw corruption(this.path, h.offset, `snappy decompression failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (!Buffer.isBuffer(out)) throw corruption(this.path, h.offset, 'snappy decompression returned no buffer');
    return out;
  }

  /** `buf`: a block's stored bytes and trailer. Checks the checksum (if `verify`) and returns the contents, decompressed, in memory of their own. */
  private decodeBlock(buf: Buffer, h: BlockHandle, verify: boolean): Buffer {
    if (this.checkStored(buf, h, verify) === CompressionType.NONE) {
      const out = allocBlock(h.size);
      buf.copy(out, 0, 0, h.size);
      return out;
    }
    const out = this.uncompress(buf, h);
    // Rewrapped (no copy): a Buffer made by native code has a hidden class of its own, and
    // block, key and value code that met both kinds was recompiled after "wrong map" deopts.
    return Buffer.from(out.buffer, out.byteOffset, out.length);
  }

  private decodeHandleValue(value: Buffer, blockOffset: number, what: string): BlockHandle {
    const h: BlockHandle = { offset: 0, size: 0 };
    const cur = this.cursor;
    cur.pos = 0;
    if (!decodeHandle(value, cur, value.length, h) || cur.pos !== value.length) {
      throw corruption(this.path, blockOffset, `malformed block handle in ${what}`);
    }
    if (!this.inRange(h)) throw corruption(this.path, blockOffset, `${what} points outside the file`);
    return h;
  }

  /** Walks the index once: every handle well formed, in range and in file order. Returns the count. */
  private checkIndex(it: BlockIterator, indexOffset: number): number {
    let count = 0;
    let end = 0;
    let keyBytes = 0;
    for (it.seekToFirst(); it.valid(); it.next()) {
      const h = this.decodeIndexValue(it.value(), this.scratch);
      if (h.offset < end) throw corruption(this.path, indexOffset, `index entry ${count} overlaps the previous block`);
      end = h.offset + h.size + BLOCK_TRAILER_SIZE;
      keyBytes += it.key().length;
      count++;
    }
    // The same entries, flattened for point reads: a binary search over
    // these arrays costs a fraction of a block-iterator seek (no varints, no
    // key reassembly, no handle decoding). A scan needs only the handles.
    const scanOnly = this.scanOnly;
    const keys = scanOnly ? EMPTY_VALUE : Buffer.allocUnsafe(keyBytes);
    const keyEnds = new Uint32Array(scanOnly ? 0 : count);
    const offsets = new Float64Array(count);
    const sizes = new Float64Array(count);
    let i = 0;
    let at = 0;
    for (it.seekToFirst(); it.valid(); it.next(), i++) {
      if (!scanOnly) {
        const k = it.key();
        k.copy(keys, at);
        at += k.length;
        keyEnds[i] = at;
      }
      const h = this.decodeIndexValue(it.value(), this.scratch);
      offsets[i] = h.offset;
      sizes[i] = h.size;
    }
    this.indexKeys = keys;
    this.indexKeyEnds = keyEnds;
    this.indexOffsets = offsets;
    this.indexSizes = sizes;
    return count;
  }

  // The index, flattened (see checkIndex): separator i is indexKeys[indexKeyEnds[i-1], indexKeyEnds[i]).
  private indexKeys: Buffer = EMPTY_VALUE;
  private indexKeyEnds = new Uint32Array(0);
  private indexOffsets = new Float64Array(0);
  private indexSizes = new Float64Array(0);

  /** @internal Data blocks in the table. */
  get blockCount(): number {
    return this.indexOffsets.length;
  }

  /** @internal Data block `i`'s handle, written into `out`. */
  blockHandle(i: number, out: BlockHandle): BlockHandle {
    out.offset = this.indexOffsets[i]!;
    out.size = this.indexSizes[i]!;
    return out;
  }

  /**
   * The bytes every user key of the table begins with (those its smallest
   * and largest share, at most 32), and each separator's prefixAfter it:
   * most steps of indexSearch then compare two numbers instead of keys
   * (zero-padded numeric keys share ten or more leading bytes).
   */
  private indexRef: Buffer = EMPTY_VALUE;
  private indexPrefixes = new Float64Array(0);

  private prefixIndex(props: TableProperties): void {
    const a = props.smallest;
    const b = props.largest;
    const max = Math.min(a.length - TRAILER_SIZE, b.length - TRAILER_SIZE, 32);
    let r = 0;
    while (r < max && a[r] === b[r]) r++;
    const ref = (this.indexRef = Buffer.from(a.subarray(0, r)));
    const ends = this.indexKeyEnds;
    const prefixes = (this.indexPrefixes = new Float64Array(ends.length));
    for (let i = 0, start = 0; i < ends.length; start = ends[i]!, i++) {
      prefixes[i] = prefixAfter(ref, this.indexKeys, start, ends[i]! - start - TRAILER_SIZE);
    }
  }

  /** @internal The first index entry whose separator is >= lookupKey (internal-key order), or blockCount. */
  indexSearch(lookupKey: Buffer): number {
    assert(!this.scanOnly, 'a lookup or seek in a table opened scanOnly');
    const keys = this.indexKeys;
    const ends = this.indexKeyEnds;
    const prefixes = this.indexPrefixes;
    const userLen = lookupKey.length - TRAILER_SIZE;
    // NaN (a lookup key shorter than a trailer) never equals a prefix: every step compares keys.
    const kp = userLen >= 0 ? prefixAfter(this.indexRef, lookupKey, 0, userLen) : NaN;
    let lo = 0;
    let hi = ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const p = prefixes[mid]!;
      let c: number;
      if (p !== kp && kp === kp) c = p < kp ? -1 : 1;
      else c = INTERNAL_KEY_ORDER.compareAt(keys, mid === 0 ? 0 : ends[mid - 1]!, ends[mid]!, lookupKey);
      if (c < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private readProperties(h: BlockHandle, fileSize: number): TableProperties {
    const block = new Block(this.readBlock(h, true), this.path, h.offset, BYTEWISE_ORDER);
    const nums = new Map<string, number>();
    let smallest: Buffer | undefined;
    let largest: Buffer | undefined;
    const it = block.iterator();
    const cur = this.cursor;
    for (it.seekToFirst(); it.valid(); it.next()) {
      const name = it.key().toString('latin1');
      const value = it.value();
      if (name === PROP_SMALLEST) smallest = Buffer.from(value);
      else if (name === PROP_LARGEST) largest = Buffer.from(value);
      else {
        cur.pos = 0;
        const n = getVarint(value, cur, value.length);
        if (n < 0 || cur.pos !== value.length) throw corruption(this.path, h.offset, `malformed property ${name}`);
        nums.set(name, n);
      }
    }
    const num = (name: string): number => {
      const v = nums.get(name);
      if (v === undefined) throw corruption(this.path, h.offset, `missing table property ${name}`);
      return v;
    };
    const version = num(PROP_FORMAT_VERSION);
    if (version !== FORMAT_VERSION) throw corruption(this.path, h.offset, `table properties say format version ${version}`);
    if (smallest === undefined || largest === undefined) {
      throw corruption(this.path, h.offset, 'missing smallest/largest key property');
    }
    const entries = num(PROP_ENTRIES);
    const minLen = entries > 0 ? TRAILER_SIZE : 0;
    if (smallest.length < minLen || largest.length < minLen) throw corruption(this.path, h.offset, 'malformed smallest/largest key');
    return {
      entries,
      deletions: num(PROP_DELETIONS),
      rawKeyBytes: num(PROP_RAW_KEY_BYTES),
      rawValueBytes: num(PROP_RAW_VALUE_BYTES),
      dataBlocks: num(PROP_DATA_BLOCKS),
      smallest,
      largest,
      fileSize,
    };
  }
}

/**
 * Two-level iterator: the (flattened) index picks a data block, a reused
 * BlockIterator walks it. Empty blocks (there are none in tables we write)
 * are skipped. Any error leaves the iterator not valid.
 */
class TableIterator implements InternalIterator {
  /** The data block the iterator is in: an index entry number (-1 or blockCount: none). */
  private blockIdx = -1;
  private readonly data = new BlockIterator();
  /** The index points at a block and `data` holds it. */
  private loaded = false;
  /** File offset of the block `data` holds, or -1. */
  private dataOffset = -1;
  /** The block the iterator holds (holdBlock): `data`'s, or the last one loaded. */
  private held: Block | undefined;
  private closed = false;
  private readonly handle: BlockHandle = { offset: 0, size: 0 };

  constructor(
    private readonly table: TableReader,
    private readonly fillCache: boolean,
  ) {}

  valid(): boolean {
    return this.loaded && this.data.valid();
  }

  get keySrc(): Buffer {
    return this.data.keySrc;
  }
  get keyStart(): number {
    return this.data.keyStart;
  }
  get keyEnd(): number {
    return this.data.keyEnd;
  }
  get valSrc(): Buffer {
    return this.data.data;
  }
  get valStart(): number {
    return this.data.valStart;
  }
  get valEnd(): number {
    return this.data.valEnd;
  }

  key(): Buffer {
    assert(this.valid(), 'table iterator key() while not valid');
    return this.data.key();
  }

  value(): Buffer {
    assert(this.valid(), 'table iterator value() while not valid');
    return this.data.value();
  }

  seekToFirst(): void {
    this.checkOpen();
    try {
      this.blockIdx = 0;
      if (this.loadData()) this.data.seekToFirst();
      this.skipForward();
    } catch (err) {
      throw this.failed(err);
    }
  }

  seekToLast(): void {
    this.checkOpen();
    try {
      this.blockIdx = this.table.blockCount - 1;
      if (this.loadData()) this.data.seekToLast();
      this.skipBackward();
    } catch (err) {
      throw this.failed(err);
    }
  }

  seek(target: Buffer): void {
    this.checkOpen();
    try {
      this.blockIdx = this.table.indexSearch(target);
      if (this.loadData()) this.data.seek(target);
      this.skipForward();
    } catch (err) {
      throw this.failed(err);
    }
  }

  seekForPrev(target: Buffer): void {
    this.checkOpen();
    try {
      // The first block whose separator is >= target holds target's place;
      // if every separator is < target, the answer is the table's last key.
      this.blockIdx = Math.min(this.table.indexSearch(target), this.table.blockCount - 1);
      if (this.loadData()) this.data.seekForPrev(target);
      this.skipBackward();
    } catch (err) {
      throw this.failed(err);
    }
  }

  next(): void {
    assert(this.valid(), 'table iterator next() while not valid');
    try {
      this.data.next();
      if (!this.data.valid()) this.skipForward();
    } catch (err) {
      throw this.failed(err);
    }
  }

  prev(): void {
    assert(this.valid(), 'table iterator prev() while not valid');
    try {
      this.data.prev();
      if (!this.data.valid()) this.skipBackward();
    } catch (err) {
      throw this.failed(err);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.loaded = false;
    this.dataOffset = -1;
    this.data.close();
    const held = this.held;
    this.held = undefined;
    if (held !== undefined) dropBlock(held);
    this.table.iteratorClosed();
  }

  private checkOpen(): void {
    if (this.closed) throw closedError('table iterator');
  }

  private failed(err: unknown): unknown {
    this.loaded = false;
    this.dataOffset = -1;
    return err;
  }

  /** Points `data` at the index's current block; false if the index is exhausted. */
  private loadData(): boolean {
    if (this.blockIdx < 0 || this.blockIdx >= this.table.blockCount) {
      this.loaded = false;
      return false;
    }
    const h = this.table.blockHandle(this.blockIdx, this.handle);
    if (h.offset !== this.dataOffset) {
      this.loaded = false;
      this.dataOffset = -1;
      const block = this.table.loadDataBlock(h, this.fillCache, 'iterator');
      // Held while the iterator is in it: the views it hands out stay valid until its next move.
      holdBlock(block);
      this.data.setBlock(block);
      this.dataOffset = h.offset;
      const old = this.held;
      this.held = block;
      if (old !== undefined) dropBlock(old);
    }
    this.loaded = true;
    return true;
  }

  private skipForward(): void {
    while (this.loaded && !this.data.valid()) {
      this.blockIdx++;
      if (this.loadData()) this.data.seekToFirst();
    }
  }

  private skipBackward(): void {
    while (this.loaded && !this.data.valid()) {
      this.blockIdx--;
      if (this.loadData()) this.data.seekToLast();
    }
  }
}
