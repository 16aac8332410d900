import { ERROR_CODES, StrataError } from '../base/index.js';
import type { FileLock, Fs, RandomAccessFile, WritableFile } from '../base/index.js';
import { MemFs } from '../base/index.js';
import { SeededRandom, type Random } from '../base/index.js';

/**
 * Thrown by every FaultFs operation once the simulated process has crashed.
 * Deliberately not a StrataError: code under test must not mistake it for an
 * ordinary I/O failure it could handle.
 */
export class SimulatedCrashError extends Error {
  readonly code = 'SIMULATED_CRASH';
  constructor(op: string) {
    super(`simulated crash (at ${op})`);
    this.name = 'SimulatedCrashError';
  }
}

export function isSimulatedCrash(err: unknown): err is SimulatedCrashError {
  return err instanceof SimulatedCrashError;
}

/** What a sync-failure predicate is shown. */
export interface SyncFaultInfo {
  /** `sync` of a file, or `syncDir` of a directory. */
  kind: 'sync' | 'syncDir';
  path: string;
  /** The operation's number (1-based, as counted by `opCount`). */
  op: number;
}

export interface FaultFsOptions {
  /** Source of randomness for torn crash images (default: SeededRandom(0)). */
  random?: Random;
}

export interface CrashImageOptions {
  /** Keep a random prefix of each file's unsynced tail (a torn write) instead of dropping it. */
  tear?: boolean;
  /** Overrides the FaultFs's random source for this image. */
  random?: Random;
}

/**
 * A fault-injecting `Fs` over a `MemFs` for simulated-crash tests. Every Fs
 * call and every WritableFile / RandomAccessFile / FileLock method call is one
 * operation (`opCount`); property reads (`size`, `path`) are not.
 *
 * - `crashAfter(n)`: n more operations succeed; the next one, and every one
 *   after it, throws SimulatedCrashError (`sync`/`syncDir` return a rejected
 *   promise). The crashing operation has no effect.
 * - `failSyncAfter(n)` / `failSyncWhen(pred)`: one later `sync`/`syncDir`
 *   rejects with StrataError IO and makes nothing durable; operations go on
 *   working afterwards.
 * - `crashImage()`: what a power loss now would leave, as a fresh MemFs.
 */
export class FaultFs implements Fs {
  private readonly mem: MemFs;
  private readonly random: Random;
  private ops = 0;
  /** Operation number that crashes (Infinity: none scheduled). */
  private crashAt = Number.POSITIVE_INFINITY;
  private dead = false;
  /** The first sync/syncDir with an operation number > this fails (Infinity: none). */
  private failSyncFrom = Number.POSITIVE_INFINITY;
  private syncPredicate: ((info: SyncFaultInfo) => boolean) | undefined;

  constructor(inner?: MemFs, options?: FaultFsOptions) {
    this.mem = inner ?? new MemFs();
    this.random = options?.random ?? new SeededRandom(0);
  }

  /** The wrapped file system (not counted, never faulted). */
  get inner(): MemFs {
    return this.mem;
  }
  /** Operations started so far (including one that crashed or failed). */
  get opCount(): number {
    return this.ops;
  }
  get crashed(): boolean {
    return this.dead;
  }

  /** Lets `n` more operations succeed, then crashes the simulated process. */
  crashAfter(n: number): void {
    this.crashAt = this.ops + n + 1;
  }
  /** Crashes now: every later operation throws. */
  crash(): void {
    this.dead = true;
  }
  /** The first `sync`/`syncDir` after `n` more operations rejects with IO, once. */
  failSyncAfter(n: number): void {
    this.failSyncFrom = this.ops + n;
  }
  /** The first `sync`/`syncDir` for which `pred` returns true rejects with IO; then the hook is removed. */
  failSyncWhen(pred: (info: SyncFaultInfo) => boolean): void {
    this.syncPredicate = pred;
  }
  /** Removes scheduled crashes and sync failures (does not revive a crashed fs). */
  clearFaults(): void {
    this.crashAt = Number.POSITIVE_INFINITY;
    this.failSyncFrom = Number.POSITIVE_INFINITY;
    this.syncPredicate = undefined;
  }

  /**
   * What survives a crash now: a new MemFs holding durable directory entries
   * and synced bytes. With `tear`, each file whose durable entry has an
   * unsynced tail keeps a random prefix of it.
   */
  crashImage(options?: CrashImageOptions): MemFs {
    if (!options?.tear) return this.mem.crashImage();
    const random = options.random ?? this.random;
    return this.mem.crashImage((_path, syncedLength, length) => random.int(syncedLength, length));
  }

  /** Counts an operation; throws if the process is (now) dead. */
  private op(name: string): void {
    if (this.dead) throw new SimulatedCrashError(name);
    this.ops++;
    if (this.ops >= this.crashAt) {
      this.dead = true;
      throw new SimulatedCrashError(name);
    }
  }

  /** Counts a sync-like operation; returns the rejection to deliver, if any. */
  private syncOp(kind: 'sync' | 'syncDir', path: string): Error | undefined {
    try {
      this.op(`${kind} ${path}`);
    } catch (err) {
      return err as Error;
    }
    let fail = false;
    if (this.ops > this.failSyncFrom) {
      this.failSyncFrom = Number.POSITIVE_INFINITY;
      fail = true;
    } else if (this.syncPredicate?.({ kind, path, op: this.ops })) {
      this.syncPredicate = undefined;
      fail = true;
    }
    if (!fail) return undefined;
    return new StrataError(ERROR_CODES.IO, `${kind === 'sync' ? 'fsync' : 'fsync directory'} ${path}: injected I/O error`);
  }

  createWritable(path: string): WritableFile {
    this.op(`createWritable ${path}`);
    return this.wrapWritable(this.mem.createWritable(path));
  }
  openRandomAccess(path: string): RandomAccessFile {
    this.op(`openRandomAccess ${path}`);
    return this.wrapRandomAccess(this.mem.openRandomAccess(path));
  }
  readFile(path: string): Buffer {
    this.op(`readFile ${path}`);
    return this.mem.readFile(path);
  }
  exists(path: string): boolean {
    this.op(`exists ${path}`);
    return this.mem.exists(path);
  }
  list(dir: string): string[] {
    this.op(`list ${dir}`);
    return this.mem.list(dir);
  }
  fileSize(path: string): number {
    this.op(`fileSize ${path}`);
    return this.mem.fileSize(path);
  }
  remove(path: string): void {
    this.op(`remove ${path}`);
    this.mem.remove(path);
  }
  removeAsync(path: string): Promise<void> {
    try {
      this.remove(path);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }
  removeDir(dir: string): void {
    this.op(`removeDir ${dir}`);
    this.mem.removeDir(dir);
  }
  rename(from: string, to: string): void {
    this.op(`rename ${from}`);
    this.mem.rename(from, to);
  }
  link(from: string, to: string): void {
    this.op(`link ${from}`);
    this.mem.link(from, to);
  }
  mkdir(dir: string): void {
    this.op(`mkdir ${dir}`);
    this.mem.mkdir(dir);
  }
  syncDir(dir: string): Promise<void> {
    const err = this.syncOp('syncDir', dir);
    if (err) return Promise.reject(err);
    return this.mem.syncDir(dir);
  }
  lock(path: string): FileLock {
    this.op(`lock ${path}`);
    const held = this.mem.lock(path);
    return {
      release: () => {
        this.op(`release ${path}`);
        held.release();
      },
    };
  }

  private wrapWritable(f: WritableFile): WritableFile {
    const path = f.path;
    return {
      path,
      get size() {
        return f.size;
      },
      append: (data: Uint8Array) => {
        this.op(`append ${path}`);
        f.append(data);
      },
      sync: () => {
        const err = this.syncOp('sync', path);
        if (err) return Promise.reject(err);
        return f.sync();
      },
      close: () => {
        this.op(`close ${path}`);
        f.close();
      },
    };
  }

  private wrapRandomAccess(f: RandomAccessFile): RandomAccessFile {
    const path = f.path;
    return {
      path,
      size: f.size,
      read: (position: number, length: number, into?: Buffer) => {
        this.op(`read ${path}`);
        return f.read(position, length, into);
      },
      close: () => {
        this.op(`close ${path}`);
        f.close();
      },
    };
  }
}
