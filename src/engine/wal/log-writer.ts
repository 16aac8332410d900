import { assert, invalidArgument } from '../../base/index.js';
import { crc32c, maskCrc } from '../../base/index.js';
import type { WritableFile } from '../../base/index.js';
import { BLOCK_SIZE, HEADER_SIZE, RecordType } from './format.js';

/** Syncs that took less than this run the next one on the calling thread (see `sync`). */
export const INLINE_SYNC_MS = 2;

/**
 * Appends records to a log file in the block format described in format.ts.
 * Each record is framed into one buffer and handed to the file with a single
 * `append` (one write syscall per record).
 */
export class LogWriter {
  private readonly file: WritableFile;
  private fileSize: number;
  /** Offset within the current block of the next byte to write. */
  private blockOffset: number;
  private closed = false;
  private frame: Buffer = Buffer.allocUnsafeSlow(4096);

  /**
   * `initialSize`: bytes already in the file (0 for a new file). `now`: a
   * real-time clock in ms (tests inject one), used only to time syncs.
   */
  constructor(
    file: WritableFile,
    initialSize = 0,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!Number.isSafeInteger(initialSize) || initialSize < 0) {
      throw invalidArgument(`log initial size must be a non-negative integer, got ${initialSize}`);
    }
    this.file = file;
    this.fileSize = initialSize;
    this.blockOffset = initialSize % BLOCK_SIZE;
  }

  /** Bytes of the file so far. */
  get size(): number {
    return this.fileSize;
  }

  /**
   * Frames `record` into fragments and appends them with ONE file.append call.
   * Returns bytes appended (headers and block padding included).
   */
  addRecord(record: Uint8Array): number {
    assert(!this.closed, 'LogWriter.addRecord after close');
    const total = framedLength(this.blockOffset, record.length);
    // One framing buffer, kept: append writes synchronously, so it is free again when this returns
    // (a fresh buffer per record was an ArrayBuffer of external memory per large batch).
    if (this.frame.length < total) this.frame = Buffer.allocUnsafeSlow(Math.max(total, 2 * this.frame.length));
    const out = this.frame.subarray(0, total);
    let o = 0;
    let blockOffset = this.blockOffset;
    let left = record.length;
    let src = 0;
    let begin = true;
    do {
      const leftover = BLOCK_SIZE - blockOffset;
      if (leftover < HEADER_SIZE) {
        out.fill(0, o, o + leftover);
        o += leftover;
        blockOffset = 0;
      }
      const avail = BLOCK_SIZE - blockOffset - HEADER_SIZE;
      const n = left < avail ? left : avail;
      const end = left === n;
      const type = begin ? (end ? RecordType.FULL : RecordType.FIRST) : end ? RecordType.LAST : RecordType.MIDDLE;
      out.writeUInt16LE(n, o + 4);
      out[o + 6] = type;
      out.set(record.subarray(src, src + n), o + HEADER_SIZE);
      // The checksum covers the type byte and the payload, which are contiguous.
      out.writeUInt32LE(maskCrc(crc32c(out.subarray(o + 6, o + HEADER_SIZE + n))), o);
      o += HEADER_SIZE + n;
      blockOffset += HEADER_SIZE + n;
      src += n;
      left -= n;
      begin = false;
    } while (left > 0);
    assert(o === total, 'log framing length mismatch');
    this.file.append(out);
    this.blockOffset = blockOffset;
    this.fileSize += total;
    return total;
  }

  /**
   * Makes the log durable. While the device's syncs take under
   * INLINE_SYNC_MS, the fdatasync runs on the calling thread (as Redis's
   * appendfsync always does): the thread-pool round trip cost a sync write
   * ~20-40 µs of its ~150-200 here. A slower sync sends the next one to the
   * thread pool, so a slow or stalling device never holds the event loop
   * for more than one sync; once syncs are fast again they come back.
   */
  sync(): Promise<void> {
    const t0 = this.now();
    if (this.lastSyncMs < INLINE_SYNC_MS && this.file.syncNow !== undefined) {
      try {
        this.file.syncNow();
      } catch (err) {
        return Promise.reject(err);
      } finally {
        this.lastSyncMs = this.now() - t0;
      }
      return Promise.resolve();
    }
    this.syncsInFlight++;
    return this.file.sync().finally(() => {
      this.lastSyncMs = this.now() - t0;
      // A close() that came while this sync ran closes the file now.
      if (--this.syncsInFlight === 0 && this.closed) this.file.close();
    });
  }

  /** Syncs on the thread pool not finished yet: close() waits for them before closing the file. */
  private syncsInFlight = 0;

  /** How long the last sync took (real time: it only chooses the thread a sync runs on). */
  private lastSyncMs = INLINE_SYNC_MS;

  /** Closes the file, once any sync still running on it has finished (closing under it would fail that sync). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.syncsInFlight === 0) this.file.close();
  }
}

/** Bytes that framing a record of `length` bytes starting at `blockOffset` produces. */
export function framedLength(blockOffset: number, length: number): number {
  let total = 0;
  let left = length;
  do {
    const leftover = BLOCK_SIZE - blockOffset;
    if (leftover < HEADER_SIZE) {
      total += leftover;
      blockOffset = 0;
    }
    const avail = BLOCK_SIZE - blockOffset - HEADER_SIZE;
    const n = left < avail ? left : avail;
    total += HEADER_SIZE + n;
    blockOffset += HEADER_SIZE + n;
    left -= n;
  } while (left > 0);
  return total;
}
