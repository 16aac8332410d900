import { closedError, copyRange, invalidArgument, prefixSuccessor, toBuffer } from '../base/index.js';
import { compareRanges } from './table/block.js';
import type { BytesLike } from '../base/index.js';
import { compareUserKeyTo, makeInternalKey, MAX_SEQUENCE, seqOf, TRAILER_SIZE, typeOf, ValueType } from './format.js';
import type { InternalIterator } from './iterator.js';
import { YieldGate } from './yield-gate.js';

export type Encoding = 'buffer' | 'utf8';

/** Range and shape of an iteration. Bounds are user keys (Buffer or UTF-8 string). */
export interface IteratorOptions<S = unknown> {
  gt?: BytesLike;
  gte?: BytesLike;
  lt?: BytesLike;
  lte?: BytesLike;
  /** Only keys starting with these bytes (combined with the other bounds). */
  prefix?: BytesLike;
  /** Largest keys first. */
  reverse?: boolean;
  /** At most this many entries (-1 or undefined: no limit). */
  limit?: number;
  /** Read at this snapshot instead of the latest state. */
  snapshot?: S;
  keyEncoding?: Encoding;
  valueEncoding?: Encoding;
  /** Fill the block cache with blocks this iteration reads (default true; false for bulk scans). */
  fillCache?: boolean;
}

export type Entry<K = Buffer, V = Buffer> = [key: K, value: V];

const TWO_24 = 0x1000000;

/** A new Buffer holding src[start, end): one allocation (from Node's pool for small ones), no view. */
function copyOf(src: Buffer, start: number, end: number): Buffer {
  const out = Buffer.allocUnsafe(end - start);
  copyRange(src, start, end, out, 0);
  return out;
}

/** An iterator reports a read sample every this many bytes returned (LevelDB's kReadBytesPeriod). */
const READ_SAMPLE_BYTES = 1024 * 1024;

interface Bounds {
  lower: Buffer | undefined;
  lowerInclusive: boolean;
  upper: Buffer | undefined;
  upperInclusive: boolean;
}

function optionalKey(v: BytesLike | undefined, name: string): Buffer | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' && !(v instanceof Uint8Array)) throw invalidArgument(`iterator option ${name} must be a string or Uint8Array`);
  return toBuffer(v);
}

/** Turns gt/gte/lt/lte/prefix into one [lower, upper] range. */
export function resolveBounds(o: IteratorOptions): Bounds {
  let lower = optionalKey(o.gte, 'gte');
  let lowerInclusive = true;
  const gt = optionalKey(o.gt, 'gt');
  if (gt !== undefined && (lower === undefined || Buffer.compare(gt, lower) >= 0)) {
    lower = gt;
    lowerInclusive = false;
  }
  let upper = optionalKey(o.lte, 'lte');
  let upperInclusive = true;
  const lt = optionalKey(o.lt, 'lt');
  if (lt !== undefined && (upper === undefined || Buffer.compare(lt, upper) <= 0)) {
    upper = lt;
    upperInclusive = false;
  }
  const prefix = optionalKey(o.prefix, 'prefix');
  if (prefix !== undefined) {
    if (lower === undefined || Buffer.compare(prefix, lower) > 0) {
      lower = prefix;
      lowerInclusive = true;
    }
    const succ = prefixSuccessor(prefix);
    if (succ !== undefined && (upper === undefined || Buffer.compare(succ, upper) <= 0)) {
      upper = succ;
      upperInclusive = false;
    }
  }
  return { lower, lowerInclusive, upper, upperInclusive };
}

/**
 * The user-facing iterator: collapses the internal stream (all versions,
 * tombstones) into the newest visible value per user key at a fixed
 * sequence, within bounds, in either direction. Synchronous underneath;
 * `next()` returns a promise for API symmetry with other stores, `nextSync()`
 * does not. Returned keys and values are copies the caller owns.
 */
export class DbIterator<K = Buffer, V = Buffer> implements AsyncIterable<Entry<K, V>>, Iterable<Entry<K, V>> {
  private readonly bounds: Bounds;
  private readonly reverse: boolean;
  private remaining: number;
  private started = false;
  private done = false;
  private closed = false;
  /** Current user key and value when positioned (copies). */
  private savedKey: Buffer | undefined;
  private savedValue: Buffer | undefined;
  private readonly keyEnc: Encoding;
  private readonly valueEnc: Encoding;

  constructor(
    private readonly it: InternalIterator,
    private readonly sequence: number,
    options: IteratorOptions<unknown>,
    private readonly onClose: () => void,
    private readonly checkDb: () => void,
    private readonly gate: YieldGate = new YieldGate(),
    /** Told a user key at each seek and every READ_SAMPLE_BYTES returned (the DB's seek accounting). */
    private readonly readSample?: (userKey: Buffer) => void,
  ) {
    this.bounds = resolveBounds(options);
    this.reverse = options.reverse === true;
    const limit = options.limit ?? -1;
    if (!Number.isInteger(limit)) throw invalidArgument('iterator option limit must be an integer');
    this.remaining = limit < 0 ? Infinity : limit;
    this.keyEnc = options.keyEncoding ?? 'buffer';
    this.valueEnc = options.valueEncoding ?? 'buffer';
    for (const e of [this.keyEnc, this.valueEnc]) {
      if (e !== 'buffer' && e !== 'utf8') throw invalidArgument(`iterator encoding must be 'buffer' or 'utf8', got ${String(e)}`);
    }
  }

  private check(): void {
    if (this.closed) throw closedError('iterator');
    this.checkDb();
  }

  /** Whether the user key kb[ks, ke) (no trailer) is past the upper bound. */
  private aboveUpper(kb: Buffer, ks: number, ke: number): boolean {
    const u = this.bounds.upper;
    if (u === undefined) return false;
    const c = compareRanges(u, 0, u.length, kb, ks, ke); // > 0: key < upper
    return this.bounds.upperInclusive ? c < 0 : c <= 0;
  }
  private belowLower(userIkey: Buffer): boolean {
    const l = this.bounds.lower;
    if (l === undefined) return false;
    const c = compareUserKeyTo(l, userIkey);
    return this.bounds.lowerInclusive ? c > 0 : c >= 0;
  }

  /** Positions on the first visible entry at or after the internal iterator's position. */
  private findNext(skip: Buffer | undefined): void {
    const it = this.it;
    const seq = this.sequence;
    while (it.valid()) {
      // The entry as byte ranges: no Buffer per entry besides the copies returned.
      const kb = it.keySrc;
      const ks = it.keyStart;
      const ue = it.keyEnd - TRAILER_SIZE;
      const low = kb.readUInt32LE(ue);
      if (kb.readUInt32LE(ue + 4) * TWO_24 + (low >>> 8) <= seq) {
        if (skip !== undefined && compareRanges(skip, 0, skip.length, kb, ks, ue) >= 0) {
          // An older version of a key already returned or deleted.
        } else if (this.aboveUpper(kb, ks, ue)) {
          break;
        } else if ((low & 0xff) === ValueType.DELETE) {
          skip = copyOf(kb, ks, ue);
        } else {
          this.savedKey = copyOf(kb, ks, ue);
          this.savedValue = copyOf(it.valSrc, it.valStart, it.valEnd);
          return;
        }
      }
      it.next();
    }
    this.done = true;
  }

  /**
   * Positions on the previous visible entry. The internal iterator walks a
   * user key's versions oldest first going backwards, so the last visible
   * version seen before the user key changes is the newest.
   */
  private findPrev(): void {
    const it = this.it;
    const seq = this.sequence;
    let key: Buffer | undefined;
    let value: Buffer | undefined;
    let type: number = ValueType.DELETE;
    while (it.valid()) {
      const ikey = it.key();
      if (seqOf(ikey) <= seq) {
        if (type !== ValueType.DELETE && compareUserKeyTo(key!, ikey) > 0) break;
        if (this.belowLower(ikey)) break;
        type = typeOf(ikey);
        if (type === ValueType.DELETE) {
          key = undefined;
          value = undefined;
        } else {
          key = Buffer.from(ikey.subarray(0, ikey.length - 8));
          value = Buffer.from(it.value());
        }
      }
      it.prev();
    }
    if (type === ValueType.DELETE) {
      this.done = true;
      return;
    }
    this.savedKey = key;
    this.savedValue = value;
  }

  private start(target?: Buffer): void {
    this.started = true;
    this.done = false;
    const b = this.bounds;
    if (!this.reverse) {
      let from = b.lower;
      if (target !== undefined && (from === undefined || Buffer.compare(target, from) > 0)) from = target;
      if (from === undefined) this.it.seekToFirst();
      else this.it.seek(makeInternalKey(from, this.sequence, ValueType.PUT));
      const skip = from !== undefined && from === b.lower && !b.lowerInclusive ? b.lower : undefined;
      this.findNext(skip);
    } else {
      let to = b.upper;
      let inclusive = b.upperInclusive;
      if (target !== undefined && (to === undefined || Buffer.compare(target, to) < 0)) {
        to = target;
        inclusive = true;
      }
      if (to === undefined) this.it.seekToLast();
      else if (inclusive) this.it.seekForPrev(makeInternalKey(to, 0, ValueType.DELETE));
      else this.it.seekForPrev(makeInternalKey(to, MAX_SEQUENCE, ValueType.PUT));
      this.findPrev();
    }
  }

  private advance(): void {
    if (!this.reverse) {
      const skip = this.savedKey;
      this.it.next();
      this.findNext(skip);
    } else {
      // The internal iterator already sits before the returned key's versions.
      this.findPrev();
    }
  }

  /**
   * Moves to `target`: the first key >= target (forward) or the last key
   * <= target (reverse), still within the iterator's bounds. The limit keeps
   * counting from where it was.
   */
  seek(target: BytesLike): void {
    this.check();
    this.savedKey = undefined;
    this.savedValue = undefined;
    const t = toBuffer(target);
    this.start(t);
    this.pending = true;
    this.readSample?.(t);
  }

  /** Bytes of keys and values to return before the next read sample. */
  private untilSample = READ_SAMPLE_BYTES;

  /** Whether the current saved entry has not been returned yet (after start/seek). */
  private pending = false;

  private step(): Entry<K, V> | undefined {
    this.check();
    if (this.remaining <= 0) return undefined;
    if (!this.started) {
      this.start();
      this.pending = true;
    }
    if (!this.pending && !this.done) this.advance();
    this.pending = false;
    if (this.done) return undefined;
    this.remaining--;
    const k = this.savedKey!;
    const v = this.savedValue!;
    if ((this.untilSample -= k.length + v.length) <= 0 && this.readSample !== undefined) {
      this.untilSample = READ_SAMPLE_BYTES;
      this.readSample(k);
    }
    return [(this.keyEnc === 'utf8' ? k.toString('utf8') : k) as K, (this.valueEnc === 'utf8' ? v.toString('utf8') : v) as V];
  }

  /** The next entry, or undefined at the end. */
  nextSync(): Entry<K, V> | undefined {
    return this.step();
  }

  next(): Promise<Entry<K, V> | undefined> {
    try {
      return this.gate.resolve(this.step());
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Up to `n` entries at once (fewer at the end). */
  nextvSync(n: number): Entry<K, V>[] {
    const out: Entry<K, V>[] = [];
    while (out.length < n) {
      const e = this.step();
      if (e === undefined) break;
      out.push(e);
    }
    return out;
  }

  /**
   * Up to `n` entries (fewer at the end, or when this event-loop turn has run
   * long, e.g. on blocks read from disk: an empty array means the end).
   */
  nextv(n: number): Promise<Entry<K, V>[]> {
    try {
      const entries: Entry<K, V>[] = [];
      while (entries.length < n) {
        const e = this.step();
        if (e === undefined) break;
        entries.push(e);
        if ((entries.length & 63) === 0 && this.gate.turnExpired()) break;
      }
      return this.gate.resolve(entries, entries.length + 1);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Releases the version and files this iterator pins. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.it.close();
    this.onClose();
  }

  /** @internal Called when the database closes. */
  invalidate(): void {
    if (this.closed) return;
    this.closed = true;
    this.it.close();
  }

  *[Symbol.iterator](): Iterator<Entry<K, V>> {
    try {
      for (let e = this.step(); e !== undefined; e = this.step()) yield e;
    } finally {
      this.close();
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Entry<K, V>> {
    try {
      for (let e = this.step(); e !== undefined; e = this.step()) {
        yield e;
        if (this.gate.shouldYield()) await new Promise<void>((r) => setImmediate(r));
      }
    } finally {
      this.close();
    }
  }
}
