import { corruption } from '../../base/index.js';
import { crc32c, unmaskCrc } from '../../base/index.js';
import { BLOCK_SIZE, HEADER_SIZE, MAX_RECORD_TYPE, RecordType } from './format.js';

export interface LogReaderOptions {
  /**
   * For logs whose records are each synced before the next is appended (the
   * MANIFEST): any damage that a crash cannot leave — anything but a last
   * fragment cut off by the end of the file — is CORRUPTION even with nothing
   * after it, and a valid record start anywhere after the damage is
   * CORRUPTION even if the damaged fragment looks cut off (a flipped length
   * byte). Payloads are not user values, so a fragment-shaped run of bytes
   * inside a torn record is not a concern.
   */
  strict?: boolean;
}

export interface LogReadResult {
  /** Complete records returned. */
  records: number;
  /** Whether a torn (incomplete or damaged, with nothing valid after it) tail was dropped. */
  tornTail: boolean;
  /** Bytes after the end of the last complete record that were dropped (0 unless tornTail). */
  droppedBytes: number;
}

function allZero(data: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (data[i] !== 0) return false;
  return true;
}

/**
 * Reads records back from a whole log file (see format.ts for the format and
 * for how a torn tail is told apart from corruption in the middle).
 */
export class LogReader {
  private readonly data: Buffer;
  private readonly fileName: string;
  private readonly strict: boolean;
  /** Offset of the next fragment (or block trailer) to read. */
  private pos = 0;
  /** End offset of the last complete record returned. */
  private goodEnd = 0;
  private done = false;
  private torn = false;
  private dropped = 0;
  private count = 0;
  private lastStart = -1;
  /** Fragments of the record being assembled (reused between records). */
  private readonly parts: Buffer[] = [];

  /** `data`: the whole file contents; `fileName` for error messages. */
  constructor(data: Buffer, fileName: string, options?: LogReaderOptions) {
    this.data = data;
    this.fileName = fileName;
    this.strict = options?.strict === true;
  }

  /** After readRecord() returned undefined: whether a torn/garbage tail was dropped. */
  get tornTail(): boolean {
    return this.torn;
  }
  /** After readRecord() returned undefined: bytes dropped after the last complete record (0 if not torn). */
  get droppedBytes(): number {
    return this.dropped;
  }
  /** Records returned so far. */
  get records(): number {
    return this.count;
  }
  /** File offset of the first fragment of the record last returned (-1 before the first). For error messages. */
  get lastRecordOffset(): number {
    return this.lastStart;
  }
  /** End offset of the last complete record: the length of the valid prefix of the file. */
  get validLength(): number {
    return this.goodEnd;
  }
  result(): LogReadResult {
    return { records: this.count, tornTail: this.torn, droppedBytes: this.dropped };
  }

  /**
   * Next whole record (a view into data, or a joined copy for a record split
   * over blocks), or undefined at the end. Throws CORRUPTION(fileName, offset)
   * on damage that is not a torn tail.
   */
  readRecord(): Buffer | undefined {
    if (this.done) return undefined;
    const data = this.data;
    const len = data.length;
    const parts = this.parts;
    parts.length = 0;
    let recordStart = -1;
    for (;;) {
      const p = this.pos;
      const blockEnd = p - (p % BLOCK_SIZE) + BLOCK_SIZE;
      if (blockEnd - p < HEADER_SIZE) {
        // Block trailer: too small for a header, the writer zero-filled it.
        if (!allZero(data, p, Math.min(blockEnd, len))) return this.damage(p, 'non-zero block trailer');
        this.pos = blockEnd;
        continue;
      }
      if (p >= len) {
        if (recordStart < 0) return this.finish();
        return this.damage(p, `record starting at ${recordStart} cut off by end of file`);
      }
      if (p + HEADER_SIZE > len) return this.damage(p, 'fragment header cut off by end of file');
      const length = data.readUInt16LE(p + 4);
      const type = data[p + 6]!;
      if (type === RecordType.ZERO || type > MAX_RECORD_TYPE) {
        return this.damage(p, type === 0 ? 'zero fragment header' : `unknown fragment type ${type}`);
      }
      const end = p + HEADER_SIZE + length;
      if (end > blockEnd) return this.damage(p, `fragment length ${length} crosses the block boundary`);
      if (end > len) return this.damage(p, `fragment of length ${length} cut off by end of file`);
      const expected = unmaskCrc(data.readUInt32LE(p));
      if (crc32c(data.subarray(p + 6, end)) !== expected) return this.damage(p, 'fragment checksum mismatch');
      const payload = data.subarray(p + HEADER_SIZE, end);
      if (type === RecordType.FULL || type === RecordType.FIRST) {
        if (recordStart >= 0) {
          // A valid start of a later record proves the open one lost its end.
          throw corruption(this.fileName, recordStart, `record incomplete: new record starts at ${p}`);
        }
        this.pos = end;
        if (type === RecordType.FULL) return this.complete(p, payload);
        recordStart = p;
        parts.push(payload);
        continue;
      }
      if (recordStart < 0) {
        return this.damage(p, `${type === RecordType.MIDDLE ? 'MIDDLE' : 'LAST'} fragment without FIRST`);
      }
      parts.push(payload);
      this.pos = end;
      if (type === RecordType.LAST) {
        const record = Buffer.concat(parts);
        parts.length = 0;
        return this.complete(recordStart, record);
      }
    }
  }

  private complete(start: number, record: Buffer): Buffer {
    this.goodEnd = this.pos;
    this.count++;
    this.lastStart = start;
    return record;
  }

  /** Clean end of file (possibly after zero padding). */
  private finish(): undefined {
    this.done = true;
    this.parts.length = 0;
    return undefined;
  }

  /**
   * Damage at `at`: CORRUPTION if a later block holds the start of a record,
   * otherwise the tail is dropped (torn unless it is all zeros).
   */
  private damage(at: number, what: string): undefined {
    const len = this.data.length;
    for (let b = at - (at % BLOCK_SIZE) + BLOCK_SIZE; b < len; b += BLOCK_SIZE) {
      if (this.blockStartsRecord(b)) throw corruption(this.fileName, at, what);
    }
    // A crash leaves a prefix of what was appended: intact headers, the last
    // fragment cut off by the end of the file. Other damage followed by the
    // start of a later record (anywhere, not only at a block start) is in the
    // middle of the log.
    const tornShape = this.tornShape(at);
    if (this.strict && !tornShape) throw corruption(this.fileName, at, what);
    if ((this.strict || !tornShape) && this.recordStartsAfter(at)) throw corruption(this.fileName, at, what);
    this.pos = len;
    if (!allZero(this.data, this.goodEnd, len)) {
      this.torn = true;
      this.dropped = len - this.goodEnd;
    }
    return this.finish();
  }

  /**
   * Whether the damage at `at` could be a torn write: the record was cut at a
   * fragment boundary, or the fragment at `at` has an intact-looking header
   * (valid type, inside its block) and runs past the end of the file, or
   * the file ends inside its header, or only zeros follow (preallocation).
   */
  private tornShape(at: number): boolean {
    const data = this.data;
    const len = data.length;
    if (at >= len || at + HEADER_SIZE > len) return true;
    if (allZero(data, at, len)) return true;
    const blockEnd = at - (at % BLOCK_SIZE) + BLOCK_SIZE;
    if (blockEnd - at < HEADER_SIZE) return false; // non-zero block trailer
    const type = data[at + 6]!;
    if (type === RecordType.ZERO || type > MAX_RECORD_TYPE) return false;
    const end = at + HEADER_SIZE + data.readUInt16LE(at + 4);
    return end > len && end <= blockEnd;
  }

  /** Whether a valid FULL or FIRST fragment starts at any offset after `at`. */
  private recordStartsAfter(at: number): boolean {
    const data = this.data;
    const len = data.length;
    for (let q = at + 1; q + HEADER_SIZE <= len; q++) {
      const type = data[q + 6];
      if (type !== RecordType.FULL && type !== RecordType.FIRST) continue;
      const blockEnd = q - (q % BLOCK_SIZE) + BLOCK_SIZE;
      if (blockEnd - q < HEADER_SIZE) continue;
      const end = q + HEADER_SIZE + data.readUInt16LE(q + 4);
      if (end > blockEnd || end > len) continue;
      if (crc32c(data.subarray(q + 6, end)) === unmaskCrc(data.readUInt32LE(q))) return true;
    }
    return false;
  }

  /** Whether the valid fragments from block start `b` include a FULL or FIRST one. */
  private blockStartsRecord(b: number): boolean {
    const data = this.data;
    const end = Math.min(b + BLOCK_SIZE, data.length);
    let p = b;
    while (end - p >= HEADER_SIZE) {
      const length = data.readUInt16LE(p + 4);
      const type = data[p + 6]!;
      if (type === RecordType.ZERO || type > MAX_RECORD_TYPE) return false;
      const fragEnd = p + HEADER_SIZE + length;
      if (fragEnd > end) return false;
      if (crc32c(data.subarray(p + 6, fragEnd)) !== unmaskCrc(data.readUInt32LE(p))) return false;
      if (type === RecordType.FULL || type === RecordType.FIRST) return true;
      p = fragEnd;
    }
    return false;
  }
}
