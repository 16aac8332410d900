import * as nodeFs from 'node:fs';
import * as path from 'node:path';
import { ERROR_CODES, StrataError, ioError } from './errors.js';

/**
 * All file access goes through `Fs`. Reads, appends and namespace changes are
 * synchronous (a page-cache hit costs microseconds, far less than a thread-pool
 * hop); only `sync` and `syncDir`, which wait on the device, are asynchronous.
 *
 * Implementations: `NodeFs` (real files), `MemFs` (in memory, models what
 * survives a crash), and the fault-injecting `FaultFs` in `src/sim`.
 */
export interface WritableFile {
  readonly path: string;
  /** Bytes appended so far. */
  readonly size: number;
  /**
   * Appends `data`. Not durable until `sync` resolves. The bytes are written
   * (or copied) before append returns: the caller may reuse `data` at once.
   */
  append(data: Uint8Array): void;
  /** Makes every byte appended so far durable (fdatasync). Rejects on failure; never retried. */
  sync(): Promise<void>;
  /**
   * `sync` on the calling thread, where the file system can (throws on
   * failure). Saves the thread-pool round trip (tens of microseconds) but
   * holds the caller for the whole fdatasync: only for devices that answer fast.
   */
  syncNow?(): void;
  close(): void;
}

export interface RandomAccessFile {
  readonly path: string;
  readonly size: number;
  /**
   * Reads up to `length` bytes at `position` into `into` (or a new buffer).
   * Returns a view of exactly the bytes read: shorter than `length` only at
   * end of file.
   */
  read(position: number, length: number, into?: Buffer): Buffer;
  close(): void;
  /** The OS file descriptor, where there is one (another thread may pread it while the file is open). */
  readonly fd?: number;
}

export interface FileLock {
  release(): void;
}

export interface Fs {
  /** Creates (or truncates) `path` for appending. */
  createWritable(path: string): WritableFile;
  openRandomAccess(path: string): RandomAccessFile;
  readFile(path: string): Buffer;
  exists(path: string): boolean;
  /** Names (not paths) of the entries of `dir`, sorted. */
  list(dir: string): string[];
  fileSize(path: string): number;
  remove(path: string): void;
  /** `remove` off the event loop (unlinking a large file can take milliseconds). */
  removeAsync(path: string): Promise<void>;
  /** Removes `dir`, which must hold nothing (a missing one is fine). */
  removeDir(dir: string): void;
  /** Atomically replaces `to` with `from`. Durable once the directory is synced. */
  rename(from: string, to: string): void;
  /**
   * Makes `to` a second name of the (immutable) file `from`: a hard link,
   * or a synced copy where links are impossible. `to` must not exist.
   * Durable once `to`'s directory is synced.
   */
  link(from: string, to: string): void;
  /** Creates `dir` and its parents if missing. */
  mkdir(dir: string): void;
  /** Makes creations, renames and removals in `dir` durable. */
  syncDir(dir: string): Promise<void>;
  /** Takes an exclusive lock on `path` (created if missing); throws LOCKED if held. */
  lock(path: string): FileLock;
}

export function joinPath(dir: string, name: string): string {
  return path.join(dir, name);
}

/** Paths locked by this process (a second `open` of the same directory must fail too). */
const heldLocks = new Set<string>();

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

class NodeWritableFile implements WritableFile {
  size = 0;
  private fd: number;
  constructor(readonly path: string) {
    try {
      this.fd = nodeFs.openSync(path, 'w');
    } catch (err) {
      throw ioError('create', path, err);
    }
  }
  append(data: Uint8Array): void {
    let off = 0;
    try {
      while (off < data.length) off += nodeFs.writeSync(this.fd, data, off, data.length - off);
    } catch (err) {
      throw ioError('write', this.path, err);
    }
    this.size += data.length;
  }
  sync(): Promise<void> {
    return new Promise((resolve, reject) => {
      nodeFs.fdatasync(this.fd, (err) => (err ? reject(ioError('fsync', this.path, err)) : resolve()));
    });
  }
  syncNow(): void {
    try {
      nodeFs.fdatasyncSync(this.fd);
    } catch (err) {
      throw ioError('fsync', this.path, err);
    }
  }
  close(): void {
    if (this.fd >= 0) {
      nodeFs.closeSync(this.fd);
      this.fd = -1;
    }
  }
}

class NodeRandomAccessFile implements RandomAccessFile {
  readonly size: number;
  fd: number;
  constructor(readonly path: string) {
    try {
      this.fd = nodeFs.openSync(path, 'r');
      this.size = nodeFs.fstatSync(this.fd).size;
    } catch (err) {
      throw ioError('open', path, err);
    }
  }
  read(position: number, length: number, into?: Buffer): Buffer {
    const buf = into ?? Buffer.allocUnsafe(length);
    let n = 0;
    try {
      while (n < length) {
        const r = nodeFs.readSync(this.fd, buf, n, length - n, position + n);
        if (r === 0) break;
        n += r;
      }
    } catch (err) {
      throw ioError('read', this.path, err);
    }
    return n === buf.length ? buf : buf.subarray(0, n);
  }
  close(): void {
    if (this.fd >= 0) {
      nodeFs.closeSync(this.fd);
      this.fd = -1;
    }
  }
}

/** The real file system. */
export class NodeFs implements Fs {
  createWritable(p: string): WritableFile {
    return new NodeWritableFile(p);
  }
  openRandomAccess(p: string): RandomAccessFile {
    return new NodeRandomAccessFile(p);
  }
  readFile(p: string): Buffer {
    try {
      return nodeFs.readFileSync(p);
    } catch (err) {
      throw ioError('read', p, err);
    }
  }
  exists(p: string): boolean {
    return nodeFs.existsSync(p);
  }
  list(dir: string): string[] {
    try {
      return nodeFs.readdirSync(dir).sort();
    } catch (err) {
      throw ioError('list', dir, err);
    }
  }
  fileSize(p: string): number {
    try {
      return nodeFs.statSync(p).size;
    } catch (err) {
      throw ioError('stat', p, err);
    }
  }
  remove(p: string): void {
    try {
      nodeFs.rmSync(p, { force: true });
    } catch (err) {
      throw ioError('remove', p, err);
    }
  }
  async removeAsync(p: string): Promise<void> {
    try {
      await nodeFs.promises.rm(p, { force: true });
    } catch (err) {
      throw ioError('remove', p, err);
    }
  }
  removeDir(dir: string): void {
    try {
      nodeFs.rmdirSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw ioError('remove', dir, err);
    }
  }
  rename(from: string, to: string): void {
    try {
      nodeFs.renameSync(from, to);
    } catch (err) {
      throw ioError('rename', from, err);
    }
  }
  link(from: string, to: string): void {
    try {
      nodeFs.linkSync(from, to);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EMLINK') throw ioError('link', from, err);
      try {
        nodeFs.copyFileSync(from, to, nodeFs.constants.COPYFILE_EXCL);
        const fd = nodeFs.openSync(to, 'r+');
        try {
          nodeFs.fdatasyncSync(fd);
        } finally {
          nodeFs.closeSync(fd);
        }
      } catch (copyErr) {
        throw ioError('copy', from, copyErr);
      }
    }
  }
  mkdir(dir: string): void {
    try {
      nodeFs.mkdirSync(dir, { recursive: true });
    } catch (err) {
      throw ioError('mkdir', dir, err);
    }
  }
  syncDir(dir: string): Promise<void> {
    return new Promise((resolve, reject) => {
      nodeFs.open(dir, 'r', (err, fd) => {
        if (err) return reject(ioError('open', dir, err));
        nodeFs.fsync(fd, (err2) => {
          nodeFs.close(fd, () => (err2 ? reject(ioError('fsync', dir, err2)) : resolve()));
        });
      });
    });
  }
  /**
   * Node has no flock: the LOCK file holds the owner's pid. A lock whose owner
   * is dead (e.g. after kill -9) is taken over; one held by a live process, or
   * by this process, is refused with LOCKED.
   */
  lock(p: string): FileLock {
    const abs = path.resolve(p);
    if (heldLocks.has(abs)) {
      throw new StrataError(ERROR_CODES.LOCKED, `${p} is already open in this process`);
    }
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = nodeFs.openSync(abs, 'wx');
        nodeFs.writeSync(fd, `${process.pid}\n`);
        nodeFs.fsyncSync(fd);
        nodeFs.closeSync(fd);
        heldLocks.add(abs);
        return {
          release: () => {
            heldLocks.delete(abs);
            nodeFs.rmSync(abs, { force: true });
          },
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw ioError('lock', p, err);
      }
      let owner = NaN;
      try {
        owner = Number.parseInt(nodeFs.readFileSync(abs, 'utf8').trim(), 10);
      } catch {
        // Unreadable or vanished lock file: treated as stale below.
      }
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && pidAlive(owner)) {
        throw new StrataError(ERROR_CODES.LOCKED, `${p} is held by process ${owner}`);
      }
      nodeFs.rmSync(abs, { force: true });
    }
    throw new StrataError(ERROR_CODES.LOCKED, `could not take ${p}`);
  }
}
