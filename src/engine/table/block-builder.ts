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

  constructor(readonly restartInterval: number, initialCapacity = 4096) {
    assert(Number.isInteger(restartInterval) && restartInterval >= 1, 'restartInterval >= 1');
    this.buf = Buffer.allocUnsafe(Math.max(64, initialCapacity));
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
    assert(!this.finished, 'BlockBuilder.add after finish');
    let shared = 0;
    if (this.counter < this.restartInterval) {
      const max = Math.min(this.lastKeyLen, key.length);
      const last = this.lastKey;
      while (shared < max && last[shared] === key[shared]) shared++;
    } else {
      this.restarts.push(this.len);
      this.counter = 0;
    }
    const nonShared = key.length - shared;
    const need = varintLength(shared) + varintLength(nonShared) + varintLength(value.length) + nonShared + value.length;
    this.reserve(need);
    const buf = this.buf;
    let off = putVarint(buf, this.len, shared);
    off = putVarint(buf, off, nonShared);
    off = putVarint(buf, off, value.length);
    copyRange(key, shared, key.length, buf, off);
    off += nonShared;
    copyRange(value, 0, value.length, buf, off);
    this.len = off + value.length;

    if (key.length > this.lastKey.length) {
      this.lastKey = Buffer.allocUnsafe(Math.max(key.length, this.lastKey.length * 2));
      copyRange(key, 0, key.length, this.lastKey, 0);
    } else {
      copyRange(key, shared, key.length, this.lastKey, shared);
    }
    this.lastKeyLen = key.length;
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
