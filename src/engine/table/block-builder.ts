import { assert, putVarint, varintLength } from '../../base/index.js';
import { copyRange } from '../../base/index.js';

/**
 * Builds a key/value block (format in format.ts): prefix-compressed entries
 * with a restart point every `restartInterval` entries. Keys must be added in
 * strictly increasing order; the table builder checks that.
 */
export class BlockBuilder {
  private buf: Buffer;
  private len = 0;
  private restarts: number[] = [0];
  private counter = 0;
  private lastKey: Buffer;
  private lastKeyLen = 0;
  private entries = 0;
  private finished = false;

  /** `buf`: memory to build in (grown if needed), e.g. a finished builder's `buffer`. */
  constructor(readonly restartInterval: number, initialCapacity = 4096, buf?: Buffer) {
    assert(Number.isInteger(restartInterval) && restartInterval >= 1, 'restartInterval >= 1');
    this.buf = buf !== undefined && buf.length >= initialCapacity ? buf : Buffer.allocUnsafe(Math.max(64, initialCapacity));
    this.lastKey = Buffer.allocUnsafe(64);
  }

  get empty(): boolean {
    return this.entries === 0;
  }

  get count(): number {
    return this.entries;
  }

  /** Size the block would have if finished now. */
  currentSize(): number {
    return this.len + 4 * this.restarts.length + 4;
  }

  add(key: Buffer, value: Buffer): void {
    this.addRange(key, 0, key.length, value, 0, value.length);
  }

  /** `add` of the key kb[ks, ke) and value vb[vs, ve). */
  addRange(kb: Buffer, ks: number, ke: number, vb: Buffer, vs: number, ve: number): void {
    assert(!this.finished, 'BlockBuilder.add after finish');
    const klen = ke - ks;
    const vlen = ve - vs;
    let shared = 0;
    if (this.counter < this.restartInterval) {
      const max = Math.min(this.lastKeyLen, klen);
      const last = this.lastKey;
      while (shared < max && last[shared] === kb[ks + shared]) shared++;
    } else {
      this.restarts.push(this.len);
      this.counter = 0;
    }
    const nonShared = klen - shared;
    let off = this.len;
    if (shared < 128 && nonShared < 128 && vlen < 128) {
      // One-byte varints (short keys and values): no varint calls.
      this.reserve(3 + nonShared + vlen);
      const buf = this.buf;
      buf[off] = shared;
      buf[off + 1] = nonShared;
      buf[off + 2] = vlen;
      off += 3;
    } else {
      this.reserve(varintLength(shared) + varintLength(nonShared) + varintLength(vlen) + nonShared + vlen);
      const buf = this.buf;
      off = putVarint(buf, off, shared);
      off = putVarint(buf, off, nonShared);
      off = putVarint(buf, off, vlen);
    }
    const buf = this.buf;
    copyRange(kb, ks + shared, ke, buf, off);
    off += nonShared;
    copyRange(vb, vs, ve, buf, off);
    this.len = off + vlen;

    if (klen > this.lastKey.length) {
      this.lastKey = Buffer.allocUnsafe(Math.max(klen, this.lastKey.length * 2));
      copyRange(kb, ks, ke, this.lastKey, 0);
    } else {
      copyRange(kb, ks + shared, ke, this.lastKey, shared);
    }
    this.lastKeyLen = klen;
    this.counter++;
    this.entries++;
  }

  /**
   * Appends the restart array and returns the block contents: a view of the
   * builder's buffer, valid until `reset`.
   */
  finish(): Buffer {
    assert(!this.finished, 'BlockBuilder.finish twice');
    const n = this.restarts.length;
    this.reserve(4 * n + 4);
    let off = this.len;
    for (let i = 0; i < n; i++) {
      this.buf.writeUInt32LE(this.restarts[i]!, off);
      off += 4;
    }
    this.buf.writeUInt32LE(n, off);
    off += 4;
    this.len = off;
    this.finished = true;
    return this.buf.subarray(0, off);
  }

  /** The memory built in (grown as needed), for another builder once this one's output is consumed. */
  get buffer(): Buffer {
    return this.buf;
  }

  reset(): void {
    this.len = 0;
    this.restarts.length = 1;
    this.restarts[0] = 0;
    this.counter = 0;
    this.lastKeyLen = 0;
    this.entries = 0;
    this.finished = false;
  }

  private reserve(extra: number): void {
    const need = this.len + extra;
    if (need <= this.buf.length) return;
    assert(need < 2 ** 32, 'block larger than 4 GiB');
    const grown = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2));
    this.buf.copy(grown, 0, 0, this.len);
    this.buf = grown;
  }
}
