import { join } from 'node:path';
import { NodeFs, ioError } from '../base/index.js';
import type { Fs } from '../base/index.js';

/**
 * Where cold chunks go. The interface is the subset of an S3-compatible
 * store the tier needs (PUT, GET, DELETE by object name; names use '/'
 * as S3 keys do), so an S3 client can implement it; the default is a local
 * directory.
 */
export interface ObjectStore {
  /** Stores the object durably before resolving (replacing any object of that name). */
  put(name: string, data: Buffer): Promise<void>;
  /** The object's bytes, or undefined when there is none. */
  get(name: string): Promise<Buffer | undefined>;
  delete(name: string): Promise<void>;
  /** A human description for logs and `explain` ("dir:/data/tsdb-cold"). */
  describe(): string;
}

/**
 * Objects as files under a directory: written to a temporary name,
 * synced, renamed, and the directory synced, so a crash leaves either the
 * old object or the new one.
 */
export class LocalDirObjectStore implements ObjectStore {
  private readonly made = new Set<string>();

  constructor(
    private readonly root: string,
    private readonly fs: Fs = new NodeFs(),
  ) {}

  describe(): string {
    return `dir:${this.root}`;
  }

  private pathOf(name: string): { dir: string; file: string } {
    if (!/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(name) || name.split('/').some((p) => p === '..' || p === '.')) throw new Error(`assertion failed: bad object name ${name}`);
    const parts = name.split('/');
    const dir = join(this.root, ...parts.slice(0, -1));
    return { dir, file: join(dir, parts[parts.length - 1]!) };
  }

  async put(name: string, data: Buffer): Promise<void> {
    const { dir, file } = this.pathOf(name);
    if (!this.made.has(dir)) {
      this.fs.mkdir(dir);
      this.made.add(dir);
    }
    const tmp = `${file}.tmp`;
    const w = this.fs.createWritable(tmp);
    try {
      w.append(data);
      await w.sync();
    } finally {
      w.close();
    }
    this.fs.rename(tmp, file);
    await this.fs.syncDir(dir);
  }

  async get(name: string): Promise<Buffer | undefined> {
    const { file } = this.pathOf(name);
    if (!this.fs.exists(file)) return undefined;
    try {
      return this.fs.readFile(file);
    } catch (err) {
      throw ioError('read', file, err);
    }
  }

  async delete(name: string): Promise<void> {
    const { file } = this.pathOf(name);
    if (this.fs.exists(file)) this.fs.remove(file);
  }
}
