import { join } from 'node:path';
import { corruption, crc32c, ioError } from '../base/index.js';
import type { Fs, WritableFile } from '../base/index.js';

/**
 * The head log: what each write and delete did, in sequence order, in
 * segment files `head-NNNNNN.log` beside the store's engine files (the
 * engine leaves names it did not make alone). Records are replayed into the
 * head buffers at open; a segment is deleted once every record in it is
 * sealed into chunks. Keeping this out of the engine spares the engine's
 * memtable, flushes and compactions the raw points (about ten times the
 * bytes of the chunks they become).
 *
 * Frame: u32 LE payload length · u32 LE crc32c of (seq and payload) · u64 LE
 * seq (two u32 halves) · payload. A frame cut short at the end of the last
 * segment (a crash mid-append) ends the log there; a bad frame anywhere else
 * is CORRUPTION naming file and offset.
 *
 * Durability: `append` writes to the current segment; `sync` makes every
 * appended record durable (fdatasync; concurrent callers share one). A new
 * segment's directory entry is synced before the first record in it is
 * acknowledged.
 */
const HEADER = 16;
/** Bytes a record encoder leaves in front of its payload for `appendFrame`. */
export const FRAME_HEADER_BYTES = HEADER;
const SEGMENT_BYTES = 64 * 1024 * 1024;
const NAME = /^head-(\d{6,})\.log$/;

export interface HeadLogRecord {
  seq: number;
  payload: Buffer;
}

interface Segment {
  number: number;
  path: string;
  /** Highest sequence in the segment (0 while empty). */
  maxSeq: number;
}

export class HeadLog {
  private current: WritableFile;
  private currentSegment: Segment;
  private readonly closedSegments: Segment[] = [];
  /** Set when the current segment's directory entry is not synced yet. */
  private dirPending = true;
  private syncing: Promise<void> | undefined;
  private nextSync: Promise<void> | undefined;
  /** Full segments whose bytes the next sync makes durable before closing them. */
  private readonly retiring: WritableFile[] = [];

  private constructor(
    private readonly fs: Fs,
    private readonly dir: string,
    older: Segment[],
    nextNumber: number,
    private readonly segmentBytes: number,
  ) {
    this.closedSegments.push(...older);
    this.currentSegment = { number: nextNumber, path: join(dir, segmentName(nextNumber)), maxSeq: 0 };
    this.current = fs.createWritable(this.currentSegment.path);
  }

  /** Opens the log in `dir`: returns it and every record in it, in order. */
  static open(fs: Fs, dir: string, options: { segmentBytes?: number } = {}): { log: HeadLog; records: HeadLogRecord[] } {
    fs.mkdir(dir);
    const names = fs
      .list(dir)
      .map((n) => ({ n, m: NAME.exec(n) }))
      .filter((x) => x.m !== null)
      .map((x) => ({ name: x.n, number: Number(x.m![1]) }))
      .sort((a, b) => a.number - b.number);
    const records: HeadLogRecord[] = [];
    const segments: Segment[] = [];
    for (let i = 0; i < names.length; i++) {
      const path = join(dir, names[i]!.name);
      const last = i === names.length - 1;
      let buf: Buffer;
      try {
        buf = fs.readFile(path);
      } catch (err) {
        throw ioError('read', path, err);
      }
      let maxSeq = 0;
      let off = 0;
      while (off < buf.length) {
        if (off + HEADER > buf.length) {
          if (last) break;
          throw corruption(path, off, 'head-log frame header cut short');
        }
        const len = buf.readUInt32LE(off);
        const crc = buf.readUInt32LE(off + 4);
        if (off + HEADER + len > buf.length) {
          if (last) break;
          throw corruption(path, off, 'head-log frame cut short');
        }
        if (crc32c(buf.subarray(off + 8, off + HEADER + len)) !== crc) {
          // A torn final append can leave garbage at the very end of the last segment only.
          if (last && off + HEADER + len === buf.length) break;
          throw corruption(path, off, 'head-log frame checksum mismatch');
        }
        const seq = buf.readUInt32LE(off + 8) + buf.readUInt32LE(off + 12) * 2 ** 32;
        records.push({ seq, payload: buf.subarray(off + HEADER, off + HEADER + len) });
        if (seq > maxSeq) maxSeq = seq;
        off += HEADER + len;
      }
      segments.push({ number: names[i]!.number, path, maxSeq });
    }
    const next = names.length > 0 ? names[names.length - 1]!.number + 1 : 1;
    return { log: new HeadLog(fs, dir, segments, next, options.segmentBytes ?? SEGMENT_BYTES), records };
  }

  /** Appends one record (durable once a later `sync` resolves). */
  append(seq: number, payload: Uint8Array): void {
    const frame = Buffer.allocUnsafe(HEADER + payload.length);
    frame.set(payload, HEADER);
    this.appendFrame(seq, frame);
  }

  /**
   * `append` of a record encoded after FRAME_HEADER_BYTES of headroom
   * (`frame` = headroom + payload): the header is written into the headroom,
   * so a multi-megabyte record is not copied into a new frame. The file
   * keeps `frame`: the caller must not change it afterwards.
   */
  appendFrame(seq: number, frame: Buffer): void {
    if (this.current.size > this.segmentBytes) this.rotate();
    frame.writeUInt32LE(frame.length - HEADER, 0);
    frame.writeUInt32LE(seq % 2 ** 32, 8);
    frame.writeUInt32LE(Math.floor(seq / 2 ** 32), 12);
    frame.writeUInt32LE(crc32c(frame.subarray(8)), 4);
    this.current.append(frame);
    if (seq > this.currentSegment.maxSeq) this.currentSegment.maxSeq = seq;
  }

  /**
   * Makes every record appended so far durable. A caller that arrives while
   * a sync runs (which may have started before its append) waits for one
   * more sync, shared by everyone arriving meanwhile.
   */
  sync(): Promise<void> {
    if (this.syncing === undefined) {
      this.syncing = this.doSync().finally(() => {
        this.syncing = undefined;
      });
      return this.syncing;
    }
    this.nextSync ??= this.syncing
      .catch(() => undefined)
      .then(() => {
        this.nextSync = undefined;
        return this.sync();
      });
    return this.nextSync;
  }

  private async doSync(): Promise<void> {
    for (const f of this.retiring.splice(0)) {
      await f.sync();
      f.close();
    }
    await this.current.sync();
    if (this.dirPending) {
      this.dirPending = false;
      try {
        await this.fs.syncDir(this.dir);
      } catch (err) {
        this.dirPending = true;
        throw err;
      }
    }
  }

  private rotate(): void {
    this.retiring.push(this.current);
    this.closedSegments.push(this.currentSegment);
    const number = this.currentSegment.number + 1;
    this.currentSegment = { number, path: join(this.dir, segmentName(number)), maxSeq: 0 };
    this.current = this.fs.createWritable(this.currentSegment.path);
    this.dirPending = true;
  }

  /** Whether `truncate(floorSeq)` would delete a segment. */
  canTruncate(floorSeq: number): boolean {
    const c = this.currentSegment.maxSeq;
    return (this.closedSegments.length > 0 && this.closedSegments[0]!.maxSeq < floorSeq) || (c > 0 && c < floorSeq);
  }

  /**
   * Deletes the segments whose every record is below `floorSeq`; when that
   * includes the current segment, a new one is started first (so a log whose
   * records are all sealed shrinks to an empty segment).
   */
  truncate(floorSeq: number): void {
    const c = this.currentSegment.maxSeq;
    if (c > 0 && c < floorSeq) this.rotate();
    while (this.closedSegments.length > 0 && this.closedSegments[0]!.maxSeq < floorSeq) {
      const s = this.closedSegments.shift()!;
      const open = this.retiring.findIndex((f) => f.path === s.path);
      if (open >= 0) this.retiring.splice(open, 1)[0]!.close();
      try {
        this.fs.remove(s.path);
      } catch (err) {
        throw ioError('remove', s.path, err);
      }
    }
  }

  /** Bytes in the current segment (tests). */
  get currentBytes(): number {
    return this.current.size;
  }

  async close(): Promise<void> {
    await this.sync();
    this.current.close();
  }
}

function segmentName(n: number): string {
  return `head-${String(n).padStart(6, '0')}.log`;
}
