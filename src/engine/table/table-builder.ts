import { assert, crc32c, invalidArgument, maskCrc, putVarint, snappy, varintLength } from '../../base/index.js';
import type { WritableFile } from '../../base/index.js';
import { MAX_SEQUENCE, TRAILER_SIZE, VALUE_TYPE_FOR_SEEK, ValueType, writeTrailer } from '../format.js';
import { copyRange } from '../../base/index.js';
import { compareInternalRanges, compareRanges } from './block.js';
import { BlockBuilder } from './block-builder.js';
import { BloomFilterBuilder } from './bloom.js';
import {
  BLOCK_TRAILER_SIZE,
  CompressionType,
  encodeFooter,
  encodeHandle,
  FORMAT_VERSION,
  MAX_HANDLE_LENGTH,
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

/** Plain (copied) output buffers: external ones hold native memory until a finalizer runs on a later event-loop turn. */
const SNAPPY_OPTIONS = { copyOutputData: true } as const;

export interface TableBuilderOptions {
  /** Uncompressed data block size at which a block is cut. Default 4096. */
  blockSize: number;
  /** Entries between restart points in data blocks. Default 16. */
  restartInterval: number;
  /** Bloom filter bits per user key; 0 writes no filter. Default 10. */
  bloomBitsPerKey: number;
  compression: 'snappy' | 'none';
}

export const DEFAULT_TABLE_BUILDER_OPTIONS: Readonly<TableBuilderOptions> = {
  blockSize: 4096,
  restartInterval: 16,
  bloomBitsPerKey: 10,
  compression: 'snappy',
};

export interface TableProperties {
  entries: number;
  deletions: number;
  /** Sum of internal key lengths (user key + 8-byte trailer). */
  rawKeyBytes: number;
  rawValueBytes: number;
  dataBlocks: number;
  /** Smallest internal key (empty if the table has no entries). */
  smallest: Buffer;
  /** Largest internal key (empty if the table has no entries). */
  largest: Buffer;
  fileSize: number;
}

/** Output is gathered and handed to the file in chunks of about this size. */
const WRITE_CHUNK = 64 * 1024;

/**
 * The memory a table builder works in, handed from a finished builder to
 * the next. A flush or compaction writes one table after another, and each
 * builder's buffers live for the whole table: long enough to be promoted to
 * V8's old generation, where dead ArrayBuffers wait for a full collection,
 * which V8 starts only once about 64 MB of them have piled up. Measured in
 * the compaction worker (readwhilewriting, 1M keys): 1.25 MB of such
 * buffers per job, 20-50 MB dead at a time, most of the worker's RSS.
 */
interface BuilderMemory {
  out: Buffer;
  data: Buffer;
  index: Buffer | undefined;
  hashes: Uint32Array | undefined;
  filter: Buffer | undefined;
}

/** Builders' memory kept for reuse (per thread: a flush and a compaction may build at once). */
const spareMemory: BuilderMemory[] = [];
const MAX_SPARE_MEMORY = 2;

const TYPE_BYTES = [Buffer.of(CompressionType.NONE), Buffer.of(CompressionType.SNAPPY)] as const;

/** Checksum stored in a block trailer: over the stored bytes, then the type byte. */
export function blockChecksum(stored: Uint8Array, type: CompressionType): number {
  return maskCrc(crc32c(TYPE_BYTES[type], crc32c(stored)));
}

/**
 * The shortest internal key k with a <= k < b, where a < b (both internal
 * keys); `a` itself when no shorter key fits.
 */
export function shortestSeparator(a: Buffer, b: Buffer): Buffer {
  const aUser = a.length - TRAILER_SIZE;
  const bUser = b.length - TRAILER_SIZE;
  const min = Math.min(aUser, bUser);
  let i = 0;
  while (i < min && a[i] === b[i]) i++;
  if (i < min) {
    const byte = a[i]!;
    if (byte < 0xff && byte + 1 < b[i]! && i + 1 < aUser) {
      // user(a)[0..i] with byte i incremented: > user(a), < user(b), and shorter.
      return bumpedPrefix(a, i);
    }
  }
  return Buffer.from(a);
}

/** user(a)[0..i] with byte i incremented, as a seek key (newest possible version). */
function bumpedPrefix(a: Buffer, i: number): Buffer {
  const out = Buffer.allocUnsafe(i + 1 + TRAILER_SIZE);
  a.copy(out, 0, 0, i + 1);
  out[i] = a[i]! + 1;
  writeTrailer(out, i + 1, MAX_SEQUENCE, VALUE_TYPE_FOR_SEEK);
  return out;
}

/** A short internal key >= a (for the separator after the last block). */
export function shortSuccessor(a: Buffer): Buffer {
  const aUser = a.length - TRAILER_SIZE;
  for (let i = 0; i < aUser; i++) {
    const byte = a[i]!;
    if (byte !== 0xff) {
      if (i + 1 >= aUser) break; // would not be shorter
      return bumpedPrefix(a, i);
    }
  }
  return Buffer.from(a);
}

/**
 * Writes one table file (format in format.ts) from entries added in strictly
 * increasing internal-key order.
 */
export class TableBuilder {
  private readonly options: TableBuilderOptions;
  private readonly dataBlock: BlockBuilder;
  private readonly indexBlock: BlockBuilder;
  private readonly filter: BloomFilterBuilder | undefined;
  private readonly handleBuf = Buffer.alloc(MAX_HANDLE_LENGTH);

  /** Absolute file offset of the next byte to be produced. */
  private offset: number;
  /** Output gathered but not yet appended to the file. */
  private out: Buffer;
  /** Memory for the filter block (reused, see BuilderMemory). */
  private filterOut: Buffer | undefined;
  private outLen = 0;

  private lastKey: Buffer = Buffer.allocUnsafe(64);
  private lastKeyLen = 0;
  private smallest: Buffer | undefined;
  private pendingHandle: BlockHandle | undefined;

  private count = 0;
  private deletions = 0;
  private rawKeyBytes = 0;
  private rawValueBytes = 0;
  private dataBlocks = 0;
  private finished = false;

  constructor(
    private readonly file: WritableFile,
    options: TableBuilderOptions,
  ) {
    const { blockSize, restartInterval, bloomBitsPerKey, compression } = options;
    if (!Number.isInteger(blockSize) || blockSize < 1) throw invalidArgument(`blockSize must be a positive integer, got ${blockSize}`);
    if (!Number.isInteger(restartInterval) || restartInterval < 1) {
      throw invalidArgument(`restartInterval must be a positive integer, got ${restartInterval}`);
    }
    if (!Number.isFinite(bloomBitsPerKey) || bloomBitsPerKey < 0) {
      throw invalidArgument(`bloomBitsPerKey must be >= 0, got ${bloomBitsPerKey}`);
    }
    if (compression !== 'snappy' && compression !== 'none') throw invalidArgument(`unknown compression ${String(compression)}`);
    this.options = { blockSize, restartInterval, bloomBitsPerKey, compression };
    const mem = spareMemory.pop();
    this.dataBlock = new BlockBuilder(restartInterval, blockSize + 1024, mem?.data);
    this.out = mem?.out ?? Buffer.allocUnsafe(WRITE_CHUNK + 8192);
    this.indexBlock = new BlockBuilder(1, 1024, mem?.index);
    this.filter = bloomBitsPerKey > 0 ? new BloomFilterBuilder(bloomBitsPerKey, mem?.hashes) : undefined;
    this.filterOut = mem?.filter;
    this.offset = file.size;
  }

  get entries(): number {
    return this.count;
  }

  estimatedFileSize(): number {
    return this.offset + this.dataBlock.currentSize();
  }

  add(ikey: Buffer, value: Buffer): void {
    this.addRange(ikey, 0, ikey.length, value, 0, value.length);
  }

  /** `add` of the key kb[ks, ke) and value vb[vs, ve), without views of them (compactions and flushes). */
  addRange(kb: Buffer, ks: number, ke: number, vb: Buffer, vs: number, ve: number): void {
    assert(!this.finished, 'TableBuilder.add after finish');
    const klen = ke - ks;
    assert(klen >= TRAILER_SIZE, 'internal key shorter than its trailer');
    const userLen = klen - TRAILER_SIZE;
    let sameUserKey = false;
    if (this.count > 0) {
      const last = this.lastKey;
      const lastLen = this.lastKeyLen;
      const c = compareRanges(last, 0, lastLen - TRAILER_SIZE, kb, ks, ks + userLen);
      sameUserKey = c === 0;
      assert(c < 0 || (c === 0 && compareInternalRanges(last, 0, lastLen, kb, ks, ke) < 0), 'TableBuilder keys must be strictly increasing');
      if (this.pendingHandle !== undefined) {
        this.addIndexEntry(shortestSeparator(last.subarray(0, lastLen), kb.subarray(ks, ke)), this.pendingHandle);
        this.pendingHandle = undefined;
      }
    } else {
      this.smallest = Buffer.from(kb.subarray(ks, ke));
    }
    if (this.filter !== undefined && !sameUserKey) this.filter.addKey(kb, ks, ks + userLen);

    this.count++;
    if (kb[ke - TRAILER_SIZE] === ValueType.DELETE) this.deletions++;
    this.rawKeyBytes += klen;
    this.rawValueBytes += ve - vs;

    if (klen > this.lastKey.length) this.lastKey = Buffer.allocUnsafe(Math.max(klen, this.lastKey.length * 2));
    copyRange(kb, ks, ke, this.lastKey, 0);
    this.lastKeyLen = klen;

    this.dataBlock.addRange(kb, ks, ke, vb, vs, ve);
    if (this.dataBlock.currentSize() >= this.options.blockSize) this.flushDataBlock();
  }

  finish(): TableProperties {
    assert(!this.finished, 'TableBuilder.finish twice');
    this.flushDataBlock();
    this.finished = true;

    let filterHandle: BlockHandle | undefined;
    const filter = this.filter;
    if (filter !== undefined) {
      const need = filter.finishedSize;
      if (this.filterOut === undefined || this.filterOut.length < need) this.filterOut = Buffer.allocUnsafe(Math.max(need, 2 * (this.filterOut?.length ?? 0)));
      filterHandle = this.writeBlock(filter.finish(this.filterOut), false);
    }

    const smallest = this.smallest ?? Buffer.alloc(0);
    const largest = this.count > 0 ? Buffer.from(this.lastKey.subarray(0, this.lastKeyLen)) : Buffer.alloc(0);
    const props = new BlockBuilder(1, 512);
    // Names in bytewise order.
    props.add(Buffer.from(PROP_DATA_BLOCKS), varintBytes(this.dataBlocks));
    props.add(Buffer.from(PROP_DELETIONS), varintBytes(this.deletions));
    props.add(Buffer.from(PROP_ENTRIES), varintBytes(this.count));
    props.add(Buffer.from(PROP_FORMAT_VERSION), varintBytes(FORMAT_VERSION));
    props.add(Buffer.from(PROP_LARGEST), largest);
    props.add(Buffer.from(PROP_RAW_KEY_BYTES), varintBytes(this.rawKeyBytes));
    props.add(Buffer.from(PROP_RAW_VALUE_BYTES), varintBytes(this.rawValueBytes));
    props.add(Buffer.from(PROP_SMALLEST), smallest);
    const propsHandle = this.writeBlock(props.finish(), false);

    const meta = new BlockBuilder(1, 128);
    if (filterHandle !== undefined) meta.add(Buffer.from(META_FILTER_KEY), handleBytes(filterHandle));
    meta.add(Buffer.from(META_PROPERTIES_KEY), handleBytes(propsHandle));
    const metaHandle = this.writeBlock(meta.finish(), false);

    if (this.pendingHandle !== undefined) {
      this.addIndexEntry(shortSuccessor(this.lastKey.subarray(0, this.lastKeyLen)), this.pendingHandle);
      this.pendingHandle = undefined;
    }
    const indexHandle = this.writeBlock(this.indexBlock.finish(), this.options.compression === 'snappy');

    this.emit(encodeFooter({ metaIndex: metaHandle, index: indexHandle }, (d) => maskCrc(crc32c(d))));
    this.flushOut();
    // Everything is with the file now (it consumes what append is given): the memory can serve the next builder.
    if (spareMemory.length < MAX_SPARE_MEMORY) {
      spareMemory.push({ out: this.out, data: this.dataBlock.buffer, index: this.indexBlock.buffer, hashes: this.filter?.hashMemory, filter: this.filterOut });
    }
    return {
      entries: this.count,
      deletions: this.deletions,
      rawKeyBytes: this.rawKeyBytes,
      rawValueBytes: this.rawValueBytes,
      dataBlocks: this.dataBlocks,
      smallest,
      largest,
      fileSize: this.offset,
    };
  }

  private addIndexEntry(separator: Buffer, handle: BlockHandle): void {
    const end = encodeHandle(this.handleBuf, 0, handle);
    this.indexBlock.add(separator, this.handleBuf.subarray(0, end));
  }

  private flushDataBlock(): void {
    if (this.dataBlock.empty) return;
    this.pendingHandle = this.writeBlock(this.dataBlock.finish(), this.options.compression === 'snappy');
    this.dataBlock.reset();
    this.dataBlocks++;
  }

  /** Emits `contents` (compressed if allowed and worth it) plus its trailer; returns its handle. */
  private writeBlock(contents: Buffer, compress: boolean): BlockHandle {
    let stored = contents;
    let type: CompressionType = CompressionType.NONE;
    if (compress) {
      // copyOutputData: a plain buffer, not an external one whose native memory is only
      // released by a finalizer on a later event-loop turn (which a busy loop may not give).
      const c = snappy.compressSync(contents, SNAPPY_OPTIONS);
      if (c.length <= contents.length - contents.length / 8) {
        stored = c;
        type = CompressionType.SNAPPY;
      }
    }
    const handle: BlockHandle = { offset: this.offset, size: stored.length };
    this.emit(stored);
    const trailer = Buffer.allocUnsafe(BLOCK_TRAILER_SIZE);
    trailer[0] = type;
    trailer.writeUInt32LE(blockChecksum(stored, type), 1);
    this.emit(trailer);
    return handle;
  }

  private emit(data: Buffer): void {
    if (this.outLen + data.length > this.out.length) {
      this.flushOut();
      if (data.length > this.out.length) {
        this.file.append(data);
        this.offset += data.length;
        return;
      }
    }
    data.copy(this.out, this.outLen);
    this.outLen += data.length;
    this.offset += data.length;
    if (this.outLen >= WRITE_CHUNK) this.flushOut();
  }

  private flushOut(): void {
    if (this.outLen === 0) return;
    // Files consume what they are given before append returns (see WritableFile.append): reuse it.
    this.file.append(this.out.subarray(0, this.outLen));
    this.outLen = 0;
  }
}

function varintBytes(n: number): Buffer {
  const b = Buffer.allocUnsafe(varintLength(n));
  putVarint(b, 0, n);
  return b;
}

function handleBytes(h: BlockHandle): Buffer {
  const b = Buffer.allocUnsafe(MAX_HANDLE_LENGTH);
  return b.subarray(0, encodeHandle(b, 0, h));
}
