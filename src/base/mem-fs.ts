import * as path from 'node:path';
import { ERROR_CODES, StrataError, ioError } from './errors.js';
import type { FileLock, Fs, RandomAccessFile, WritableFile } from './fs.js';

/**
 * File contents with a durability model: `data[0..length)` is what readers
 * see now; `synced` is what a crash would leave (the bytes at the last sync).
 */
export class MemFile {
  data: Buffer = Buffer.alloc(0);
  length = 0;
  synced: Buffer = Buffer.alloc(0);

  append(bytes: Uint8Array): void {
    if (this.length + bytes.length > this.data.length) {
      const grown = Buffer.alloc(Math.max(64, (this.length + bytes.length) * 2));
      this.data.copy(grown, 0, 0, this.length);
      this.data = grown;
    }
    this.data.set(bytes, this.length);
    this.length += bytes.length;
  }
  contents(): Buffer {
    return this.data.subarray(0, this.length);
  }
  sync(): void {
    this.synced = Buffer.from(this.contents());
  }
}

function notFound(op: string, p: string): StrataError {
  const err = Object.assign(new Error(`ENOENT: no such file, ${op} '${p}'`), { code: 'ENOENT' });
  return ioError(op, p, err);
}

/**
 * An in-memory file system. Besides the visible namespace it keeps the
 * durable one (names as of the last `syncDir` of their directory) and each
 * file's synced bytes, so `crashImage()` returns exactly what a power loss
 * would leave: unsynced bytes gone, unsynced creations/renames/removals undone.
 */
export class MemFs implements Fs {
  /** path → file, as visible now. */
  readonly files = new Map<string, MemFile>();
  /** path → file, as a crash would leave the directory entries. */
  readonly durable = new Map<string, MemFile>();
  readonly dirs = new Set<string>(['/', '.']);
  private readonly locks = new Set<string>();

  private norm(p: string): string {
    return path.resolve('/', p);
  }
  private file(op: string, p: string): MemFile {
    const f = this.files.get(this.norm(p));
    if (!f) throw notFound(op, p);
    return f;
  }

  createWritable(p: string): WritableFile {
    const key = this.norm(p);
    if (!this.dirs.has(path.dirname(key))) throw notFound('create', p);
    const f = new MemFile();
    this.files.set(key, f);
    return {
      path: p,
      get size() {
        return f.length;
      },
      append: (data) => f.append(data),
      sync: async () => f.sync(),
      close: () => {},
    };
  }
  openRandomAccess(p: string): RandomAccessFile {
    const f = this.file('open', p);
    const size = f.length;
    return {
      path: p,
      size,
      read(position: number, length: number, into?: Buffer): Buffer {
        const end = Math.min(position + length, f.length);
        const n = Math.max(0, end - position);
        const buf = into ?? Buffer.allocUnsafe(length);
        if (n > 0) f.data.copy(buf, 0, position, end);
        return n === buf.length ? buf : buf.subarray(0, n);
      },
      close() {},
    };
  }
  readFile(p: string): Buffer {
    return Buffer.from(this.file('read', p).contents());
  }
  exists(p: string): boolean {
    const key = this.norm(p);
    return this.files.has(key) || this.dirs.has(key);
  }
  /** Files and subdirectories of `dir`, as a real directory listing has them. */
  list(dir: string): string[] {
    const d = this.norm(dir);
    if (!this.dirs.has(d)) throw notFound('list', dir);
    const out: string[] = [];
    for (const k of this.files.keys()) if (path.dirname(k) === d) out.push(path.basename(k));
    for (const k of this.dirs) if (k !== d && path.dirname(k) === d) out.push(path.basename(k));
    return out.sort();
  }
  fileSize(p: string): number {
    return this.file('stat', p).length;
  }
  remove(p: string): void {
    this.files.delete(this.norm(p));
  }
  removeAsync(p: string): Promise<void> {
    this.remove(p);
    return Promise.resolve();
  }
  removeDir(dir: string): void {
    const d = this.norm(dir);
    if (!this.dirs.has(d)) return;
    for (const k of [...this.files.keys(), ...this.dirs]) {
      if (k !== d && path.dirname(k) === d) throw new StrataError(ERROR_CODES.IO, `cannot remove ${dir}: not empty`);
    }
    this.dirs.delete(d);
  }
  rename(from: string, to: string): void {
    const f = this.file('rename', from);
    this.files.delete(this.norm(from));
    this.files.set(this.norm(to), f);
  }
  link(from: string, to: string): void {
    const f = this.file('link', from);
    const key = this.norm(to);
    if (this.files.has(key)) throw ioError('link', to, Object.assign(new Error(`EEXIST: file already exists, link '${to}'`), { code: 'EEXIST' }));
    if (!this.dirs.has(path.dirname(key))) throw notFound('link', to);
    // Both names share the file: its bytes and what a crash keeps of them.
    this.files.set(key, f);
  }
  mkdir(dir: string): void {
    let d = this.norm(dir);
    while (!this.dirs.has(d)) {
      this.dirs.add(d);
      d = path.dirname(d);
    }
  }
  async syncDir(dir: string): Promise<void> {
    const d = this.norm(dir);
    for (const k of [...this.durable.keys()]) if (path.dirname(k) === d && !this.files.has(k)) this.durable.delete(k);
    for (const [k, f] of this.files) if (path.dirname(k) === d) this.durable.set(k, f);
  }
  lock(p: string): FileLock {
    const key = this.norm(p);
    if (this.locks.has(key)) throw new StrataError(ERROR_CODES.LOCKED, `${p} is already locked`);
    this.locks.add(key);
    if (!this.files.has(key)) this.files.set(key, new MemFile());
    return { release: () => this.locks.delete(key) };
  }

  /** An independent copy of what is visible now (names and contents), all of it durable. */
  clone(): MemFs {
    const out = new MemFs();
    for (const d of this.dirs) out.dirs.add(d);
    for (const [k, f] of this.files) {
      const nf = new MemFile();
      nf.append(f.contents());
      nf.sync();
      out.files.set(k, nf);
      out.durable.set(k, nf);
    }
    return out;
  }

  /**
   * What a power loss would leave. With `tear`, a file's unsynced tail is
   * kept up to a length `tear(path, syncedLength, length)` chooses (a torn
   * write); without it, unsynced bytes are lost.
   */
  crashImage(tear?: (path: string, syncedLength: number, length: number) => number): MemFs {
    const img = new MemFs();
    for (const d of this.dirs) img.dirs.add(d);
    for (const [k, f] of this.durable) {
      const nf = new MemFile();
      let bytes: Buffer = f.synced;
      if (tear && f.length > f.synced.length && f.contents().subarray(0, f.synced.length).equals(f.synced)) {
        const keep = tear(k, f.synced.length, f.length);
        bytes = f.contents().subarray(0, Math.max(f.synced.length, Math.min(keep, f.length)));
      }
      nf.append(bytes);
      nf.sync();
      img.files.set(k, nf);
      img.durable.set(k, nf);
    }
    return img;
  }
}
