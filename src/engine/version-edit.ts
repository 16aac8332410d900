import { corruption, getVarint, putVarint, varintLength } from '../base/index.js';
import type { Cursor } from '../base/index.js';

/** One table file in a version. `smallest`/`largest` are internal keys. */
export interface FileMeta {
  readonly number: number;
  readonly size: number;
  readonly smallest: Buffer;
  readonly largest: Buffer;
}

/**
 * A change to the set of live files, recorded as one MANIFEST record. Fields
 * are tagged so new ones can be added (docs/formats.md, "MANIFEST"):
 *
 *   tag 1 logNumber        varint
 *   tag 2 nextFileNumber   varint
 *   tag 3 lastSequence     varint
 *   tag 4 compactPointer   varint level, varint len, internal key
 *   tag 5 deletedFile      varint level, varint file number
 *   tag 6 newFile          varint level, varint number, varint size,
 *                          varint len, smallest ikey, varint len, largest ikey
 *   tag 7 formatName       varint len, UTF-8 ("stratadb.v1"), first record only
 */
export class VersionEdit {
  logNumber: number | undefined = undefined;
  nextFileNumber: number | undefined = undefined;
  lastSequence: number | undefined = undefined;
  formatName: string | undefined = undefined;
  compactPointers: Array<{ level: number; key: Buffer }> = [];
  deletedFiles: Array<{ level: number; number: number }> = [];
  newFiles: Array<{ level: number; file: FileMeta }> = [];

  addFile(level: number, file: FileMeta): void {
    this.newFiles.push({ level, file });
  }
  deleteFile(level: number, number: number): void {
    this.deletedFiles.push({ level, number });
  }

  encode(): Buffer {
    let size = 0;
    const name = this.formatName === undefined ? undefined : Buffer.from(this.formatName, 'utf8');
    if (name) size += 1 + varintLength(name.length) + name.length;
    if (this.logNumber !== undefined) size += 1 + varintLength(this.logNumber);
    if (this.nextFileNumber !== undefined) size += 1 + varintLength(this.nextFileNumber);
    if (this.lastSequence !== undefined) size += 1 + varintLength(this.lastSequence);
    for (const p of this.compactPointers) size += 1 + varintLength(p.level) + varintLength(p.key.length) + p.key.length;
    for (const d of this.deletedFiles) size += 1 + varintLength(d.level) + varintLength(d.number);
    for (const { level, file } of this.newFiles) {
      size += 1 + varintLength(level) + varintLength(file.number) + varintLength(file.size);
      size += varintLength(file.smallest.length) + file.smallest.length + varintLength(file.largest.length) + file.largest.length;
    }
    const out = Buffer.allocUnsafe(size);
    let o = 0;
    const bytes = (b: Buffer) => {
      o = putVarint(out, o, b.length);
      out.set(b, o);
      o += b.length;
    };
    if (name) {
      out[o++] = 7;
      bytes(name);
    }
    if (this.logNumber !== undefined) {
      out[o++] = 1;
      o = putVarint(out, o, this.logNumber);
    }
    if (this.nextFileNumber !== undefined) {
      out[o++] = 2;
      o = putVarint(out, o, this.nextFileNumber);
    }
    if (this.lastSequence !== undefined) {
      out[o++] = 3;
      o = putVarint(out, o, this.lastSequence);
    }
    for (const p of this.compactPointers) {
      out[o++] = 4;
      o = putVarint(out, o, p.level);
      bytes(p.key);
    }
    for (const d of this.deletedFiles) {
      out[o++] = 5;
      o = putVarint(out, o, d.level);
      o = putVarint(out, o, d.number);
    }
    for (const { level, file } of this.newFiles) {
      out[o++] = 6;
      o = putVarint(out, o, level);
      o = putVarint(out, o, file.number);
      o = putVarint(out, o, file.size);
      bytes(file.smallest);
      bytes(file.largest);
    }
    return out;
  }

  /** Decodes one MANIFEST record; any structural problem is CORRUPTION(fileName, offset). */
  static decode(rec: Buffer, fileName: string, offset: number, numLevels: number): VersionEdit {
    const e = new VersionEdit();
    const cur: Cursor = { pos: 0 };
    const bad = (what: string) => corruption(fileName, offset + cur.pos, `version edit: ${what}`);
    const varint = (what: string): number => {
      const v = getVarint(rec, cur);
      if (v < 0) throw bad(`truncated ${what}`);
      return v;
    };
    const bytes = (what: string): Buffer => {
      const len = varint(what);
      if (cur.pos + len > rec.length) throw bad(`truncated ${what}`);
      const b = Buffer.from(rec.subarray(cur.pos, cur.pos + len));
      cur.pos += len;
      return b;
    };
    const level = (): number => {
      const l = varint('level');
      if (l >= numLevels) throw bad(`level ${l} out of range`);
      return l;
    };
    while (cur.pos < rec.length) {
      const tag = rec[cur.pos++]!;
      switch (tag) {
        case 1:
          e.logNumber = varint('log number');
          break;
        case 2:
          e.nextFileNumber = varint('next file number');
          break;
        case 3:
          e.lastSequence = varint('last sequence');
          break;
        case 4: {
          const l = level();
          e.compactPointers.push({ level: l, key: bytes('compact pointer') });
          break;
        }
        case 5: {
          const l = level();
          e.deletedFiles.push({ level: l, number: varint('file number') });
          break;
        }
        case 6: {
          const l = level();
          const number = varint('file number');
          const size = varint('file size');
          const smallest = bytes('smallest key');
          const largest = bytes('largest key');
          if (smallest.length < 8 || largest.length < 8) throw bad('file key shorter than its trailer');
          e.newFiles.push({ level: l, file: { number, size, smallest, largest } });
          break;
        }
        case 7:
          e.formatName = bytes('format name').toString('utf8');
          break;
        default:
          throw bad(`unknown tag ${tag}`);
      }
    }
    return e;
  }
}
