import { copyRange, getVarint, putVarint, type Cursor } from '../base/index.js';
import { assert, corruption, invalidArgument } from '../base/index.js';
import { ValueType } from './format.js';
import type { Memtable } from './memtable.js';

/**
 * A batch of puts and deletes applied atomically; its encoding (the "rep") is
 * the payload of one WAL record:
 *
 *   offset  size  field
 *   0       8     sequence of the first operation: uint64 LE (< 2^53)
 *   8       4     count: uint32 LE, number of operations
 *   12      ...   count operations, each:
 *                   uint8  type: PUT=1, DELETE=0
 *                   varint key length, key bytes
 *                   (PUT only) varint value length, value bytes
 *
 * Operation i gets sequence `seq + i`. Varints are LevelDB/protobuf style
 * (little-endian base-128). No bytes may follow the last operation.
 */
export const BATCH_HEADER_SIZE = 12;

const TWO_32 = 0x100000000;
/** Largest high word of a sequence below 2^53. */
const MAX_SEQ_HIGH = 0x1fffff;
const INITIAL_CAPACITY = 256;
/** type + two varints of lengths < 2^53 (8 bytes each at most). */
const MAX_OP_OVERHEAD = 1 + 8 + 8;

/** Strings shorter than this (UTF-16 units) take the ASCII fast path; < 128 so the length is 1 varint byte. */
const SHORT_STRING = 64;

/** Where a sliced memtable insert of a batch stands (see WriteBatch.insertSome). */
export interface BatchInsertion {
  /** Byte offset of the next entry in the encoding. */
  pos: number;
  /** Its sequence number. */
  seq: number;
  /** Key and value bytes inserted so far. */
  bytes: number;
}

/** An upper bound of the encoded bytes of `v` (UTF-8 takes at most 3 bytes per UTF-16 unit). */
function maxBytes(v: Uint8Array | string): number {
  return typeof v === 'string' ? v.length * 3 : v.length;
}

export class WriteBatch {
  private rep: Buffer;
  private len = BATCH_HEADER_SIZE;
  private ops = 0;
  private payload = 0;
  /** The rep belongs to the caller of decode: copy before writing into it. */
  private shared = false;
  private maxKey = 0;
  private maxValue = 0;
  /** Byte length of the field writeField wrote last. */
  private fieldBytes = 0;

  constructor(capacity = INITIAL_CAPACITY) {
    // From the shared pool for small batches; every byte is written before it is read.
    this.rep = Buffer.allocUnsafe(Math.max(BATCH_HEADER_SIZE, capacity));
  }

  /** Operations in the batch. */
  get count(): number {
    return this.ops;
  }
  /** Encoded size in bytes (header included). */
  get byteLength(): number {
    return this.len;
  }
  /** Sum of key and value bytes (for limits and metrics). */
  get payloadBytes(): number {
    return this.payload;
  }
  /** Longest key in the batch, in bytes (for size limits without rescanning). */
  get maxKeyBytes(): number {
    return this.maxKey;
  }
  /** Longest value in the batch, in bytes. */
  get maxValueBytes(): number {
    return this.maxValue;
  }

  /** Strings are encoded as UTF-8. */
  put(key: Uint8Array | string, value: Uint8Array | string): this {
    if (typeof key !== 'string' && typeof value !== 'string') {
      const kl = key.length;
      const vl = value.length;
      if (kl < 128 && vl < 128) return this.putShort(key, kl, value, vl);
    }
    this.reserve(MAX_OP_OVERHEAD + maxBytes(key) + maxBytes(value));
    const start = this.len;
    this.rep[start] = ValueType.PUT;
    let off = this.writeField(key, start + 1);
    let payload = this.fieldBytes;
    if (this.fieldBytes > this.maxKey) this.maxKey = this.fieldBytes;
    off = this.writeField(value, off);
    payload += this.fieldBytes;
    if (this.fieldBytes > this.maxValue) this.maxValue = this.fieldBytes;
    this.len = off;
    this.ops++;
    this.payload += payload;
    return this;
  }

  /** put() of byte arrays shorter than 128 bytes: 1-byte lengths, one reserve. */
  private putShort(key: Uint8Array, kl: number, value: Uint8Array, vl: number): this {
    const need = this.len + 3 + kl + vl;
    if (need > this.rep.length || this.shared) this.reserve(3 + kl + vl);
    const rep = this.rep;
    let o = this.len;
    rep[o++] = ValueType.PUT;
    rep[o++] = kl;
    copyRange(key, 0, kl, rep, o);
    o += kl;
    rep[o++] = vl;
    copyRange(value, 0, vl, rep, o);
    this.len = o + vl;
    this.ops++;
    this.payload += kl + vl;
    if (kl > this.maxKey) this.maxKey = kl;
    if (vl > this.maxValue) this.maxValue = vl;
    return this;
  }

  delete(key: Uint8Array | string): this {
    this.reserve(MAX_OP_OVERHEAD + maxBytes(key));
    const start = this.len;
    this.rep[start] = ValueType.DELETE;
    this.len = this.writeField(key, start + 1);
    this.ops++;
    this.payload += this.fieldBytes;
    if (this.fieldBytes > this.maxKey) this.maxKey = this.fieldBytes;
    return this;
  }

  clear(): void {
    this.len = BATCH_HEADER_SIZE;
    this.ops = 0;
    this.payload = 0;
    this.maxKey = 0;
    this.maxValue = 0;
  }

  /**
   * @internal A batch with this one's operations that shares its encoding,
   * for a write in flight: from now on this batch copies its encoding before
   * changing it (or writing a header into it), so the caller may keep using
   * it at once while the detached batch stays as it was. The detached batch
   * may write its own header in place.
   */
  detach(): WriteBatch {
    const b = new WriteBatch(0);
    b.rep = this.rep;
    b.len = this.len;
    b.ops = this.ops;
    b.payload = this.payload;
    b.maxKey = this.maxKey;
    b.maxValue = this.maxValue;
    // An encoding this batch does not own (from decode) stays unwritten in the detached batch too.
    b.shared = this.shared;
    this.shared = true;
    return b;
  }

  /** Appends all operations of `other` (used to merge a commit group). */
  append(other: WriteBatch): void {
    const n = other.len - BATCH_HEADER_SIZE;
    this.reserve(n);
    other.rep.copy(this.rep, this.len, BATCH_HEADER_SIZE, other.len);
    this.len += n;
    this.ops += other.ops;
    this.payload += other.payload;
    if (other.maxKey > this.maxKey) this.maxKey = other.maxKey;
    if (other.maxValue > this.maxValue) this.maxValue = other.maxValue;
  }

  /**
   * The encoded rep with `seq` and the count written into the header. Returns
   * a view of the internal buffer, valid until the next mutation. (A decoded
   * batch copies its rep first: the buffer passed to decode is never written.)
   */
  encode(seq: number): Buffer {
    if (!Number.isSafeInteger(seq) || seq < 0) throw invalidArgument(`sequence must be an integer in [0, 2^53), got ${seq}`);
    if (this.ops > 0xffffffff) throw invalidArgument(`too many operations in a batch: ${this.ops}`);
    if (this.shared) this.reserve(0);
    const rep = this.rep;
    rep.writeUInt32LE(seq % TWO_32, 0);
    rep.writeUInt32LE(Math.floor(seq / TWO_32), 4);
    rep.writeUInt32LE(this.ops, 8);
    return rep.subarray(0, this.len);
  }

  /** Calls fn for every operation in order; key/value are views into the rep. */
  forEach(fn: (type: ValueType, key: Buffer, value: Buffer | undefined) => void): void {
    const rep = this.rep;
    const end = this.len;
    const cur: Cursor = { pos: BATCH_HEADER_SIZE };
    while (cur.pos < end) {
      const type = rep[cur.pos++] as ValueType;
      const klen = getVarint(rep, cur, end);
      const key = rep.subarray(cur.pos, cur.pos + klen);
      cur.pos += klen;
      if (type === ValueType.PUT) {
        const vlen = getVarint(rep, cur, end);
        const value = rep.subarray(cur.pos, cur.pos + vlen);
        cur.pos += vlen;
        fn(type, key, value);
      } else {
        fn(type, key, undefined);
      }
    }
  }

  /**
   * Adds every operation to `mem`, operation i at sequence `seq + i`,
   * straight from the rep (no per-entry buffers). Returns the key and value
   * bytes added.
   */
  insertInto(mem: Memtable, seq: number): number {
    const at: BatchInsertion = { pos: BATCH_HEADER_SIZE, seq, bytes: 0 };
    this.insertSome(mem, at, Infinity);
    return at.bytes;
  }

  /**
   * `insertInto` a slice at a time: inserts up to `maxEntries` entries from
   * `at` (start with pos BATCH_HEADER_SIZE and the batch's first sequence)
   * and advances it. True once every entry is in.
   */
  insertSome(mem: Memtable, at: BatchInsertion, maxEntries: number): boolean {
    const rep = this.rep;
    const end = this.len;
    // Keys and values are copied from a plain Uint8Array view: a range of it is a Uint8Array,
    // where a Buffer's is a Buffer (FastBuffer's constructor: ~20 ns more per value copied).
    const src = new Uint8Array(rep.buffer, rep.byteOffset, end);
    const cur = this.cursor;
    cur.pos = at.pos;
    let seq = at.seq;
    let bytes = 0;
    let left = maxEntries;
    while (cur.pos < end && left-- > 0) {
      const type = rep[cur.pos++] as ValueType;
      const klen = getVarint(rep, cur, end);
      const koff = cur.pos;
      cur.pos += klen;
      if (type === ValueType.PUT) {
        const vlen = getVarint(rep, cur, end);
        mem.addFrom(seq++, type, src, koff, klen, src, cur.pos, vlen);
        cur.pos += vlen;
        bytes += klen + vlen;
      } else {
        mem.addFrom(seq++, type, src, koff, klen, src, 0, 0);
        bytes += klen;
      }
    }
    at.pos = cur.pos;
    at.seq = seq;
    at.bytes += bytes;
    return cur.pos >= end;
  }

  private readonly cursor: Cursor = { pos: 0 };

  /**
   * Validates and wraps an encoded rep (no copy: forEach returns views into
   * `rep`; the first mutation or encode copies it, `rep` is never written). Throws CORRUPTION(fileName, offset + position)
   * if the header, count, lengths or types don't match the bytes.
   */
  static decode(rep: Buffer, fileName = '<write batch>', offset = 0): { seq: number; batch: WriteBatch } {
    const end = rep.length;
    if (end < BATCH_HEADER_SIZE) {
      throw corruption(fileName, offset, `write batch of ${end} bytes is shorter than its ${BATCH_HEADER_SIZE}-byte header`);
    }
    const high = rep.readUInt32LE(4);
    if (high > MAX_SEQ_HIGH) throw corruption(fileName, offset, 'write batch sequence is not below 2^53');
    const seq = high * TWO_32 + rep.readUInt32LE(0);
    const count = rep.readUInt32LE(8);
    const cur: Cursor = { pos: BATCH_HEADER_SIZE };
    let payload = 0;
    let maxKey = 0;
    let maxValue = 0;
    for (let i = 0; i < count; i++) {
      const at = cur.pos;
      if (at >= end) {
        throw corruption(fileName, offset + at, `write batch holds ${i} operations, header says ${count}`);
      }
      const type = rep[cur.pos++]!;
      if (type !== ValueType.PUT && type !== ValueType.DELETE) {
        throw corruption(fileName, offset + at, `write batch operation ${i} has unknown type ${type}`);
      }
      const klen = getVarint(rep, cur, end);
      if (klen < 0 || klen > end - cur.pos) {
        throw corruption(fileName, offset + at, `write batch operation ${i} has a bad key length`);
      }
      cur.pos += klen;
      payload += klen;
      if (klen > maxKey) maxKey = klen;
      if (type === ValueType.PUT) {
        const vlen = getVarint(rep, cur, end);
        if (vlen < 0 || vlen > end - cur.pos) {
          throw corruption(fileName, offset + at, `write batch operation ${i} has a bad value length`);
        }
        cur.pos += vlen;
        payload += vlen;
        if (vlen > maxValue) maxValue = vlen;
      }
    }
    if (cur.pos !== end) {
      throw corruption(fileName, offset + cur.pos, `write batch has ${end - cur.pos} bytes after its ${count} operations`);
    }
    const batch = new WriteBatch(0);
    batch.rep = rep;
    batch.len = end;
    batch.ops = count;
    batch.payload = payload;
    batch.maxKey = maxKey;
    batch.maxValue = maxValue;
    batch.shared = true;
    return { seq, batch };
  }

  private reserve(extra: number): void {
    const need = this.len + extra;
    if (need <= this.rep.length && !this.shared) return;
    let cap = Math.max(this.shared ? this.len : this.rep.length * 2, INITIAL_CAPACITY);
    while (cap < need) cap *= 2;
    const grown = Buffer.allocUnsafe(cap);
    this.rep.copy(grown, 0, 0, this.len);
    this.rep = grown;
    this.shared = false;
  }

  /**
   * Writes a length-prefixed field at `off` (capacity already reserved);
   * returns the offset after it and leaves its byte length in `fieldBytes`.
   */
  private writeField(v: Uint8Array | string, off: number): number {
    const rep = this.rep;
    if (typeof v !== 'string') {
      off = putVarint(rep, off, v.length);
      rep.set(v, off);
      this.fieldBytes = v.length;
      return off + v.length;
    }
    const n = v.length;
    if (n < SHORT_STRING) {
      // Short ASCII strings: a JS copy beats two native calls. The 1-byte
      // length prefix is only valid if every char is ASCII; otherwise redo.
      let o = off + 1;
      let i = 0;
      for (; i < n; i++) {
        const c = v.charCodeAt(i);
        if (c > 0x7f) break;
        rep[o++] = c;
      }
      if (i === n) {
        rep[off] = n;
        this.fieldBytes = n;
        return o;
      }
    }
    const bytes = Buffer.byteLength(v, 'utf8');
    off = putVarint(rep, off, bytes);
    const written = rep.write(v, off, bytes, 'utf8');
    assert(written === bytes, 'UTF-8 length mismatch');
    this.fieldBytes = bytes;
    return off + bytes;
  }
}
