/**
 * A shard replica's snapshots are checkpoints of its engine, never a copy
 * of its data in memory: log compaction flushes the engine and hard-links
 * its tables into `snap/<index>/` (the state as of applied index `index`),
 * and the Raft log's snapshot holds only a small descriptor naming that
 * checkpoint's files. A replica that needs the snapshot (a new replica of a
 * move, or one that fell behind the log) receives those files first,
 * streamed in chunks with checksums (see snapshot-transfer.ts), and only
 * then the Raft snapshot message itself, which installs them.
 *
 * Layout under a replica's directory:
 *   engine/                 the live engine
 *   snap/<index>/           a checkpoint at applied index <index>; complete once its DONE file exists
 *   snap/<index>/<f>.part   a file being received (renamed to <f> once whole and checked)
 *   snap/INSTALL            while snap/<index> replaces engine/: holds <index>, so a crash redoes it
 */
import { ERROR_CODES, StrataError, corruption, crc32c, invalidArgument, joinPath } from '../base/index.js';
import type { Fs, WritableFile } from '../base/index.js';
import type { DB } from '../engine/index.js';

/** What a shard's Raft snapshot holds: this magic, then the checkpoint's description as JSON. */
const MAGIC = Buffer.from('STRATA-CKPT1\n', 'latin1');
const DONE = 'DONE';
const INSTALL = 'INSTALL';
const PART = '.part';
/** Engine files a checkpoint may hold (anything else named by a peer is refused: no paths, no strays). */
const FILE_NAME = /^(?:\d{6,}\.sst|MANIFEST-\d{6,}|CURRENT|VALUE-FORMAT)$/;
const MAX_FILES = 1_000_000;
const MAX_FILE_BYTES = 2 ** 40;
/** Bytes read at a time when checking a whole file's checksum. */
const READ_BYTES = 1 << 20;

export interface CheckpointFile {
  name: string;
  size: number;
}

/** The hash range a split shard owns (routing.ts), and the shards split off it. */
export interface ShardOwnership {
  shard: number;
  n0: number;
  base: number;
  lo: number;
  hi: number;
  children: number[];
}

/**
 * A new shard's first snapshot is its parent's checkpoint (the state just
 * before the split entry): installing it records these as the shard's own.
 */
export interface SplitInit {
  owner: ShardOwnership;
  /** The log time of the split entry (the new shard's applied time). */
  logTimeMs: number;
  /** The new shard's first voters (its snapshot's configuration). */
  replicas: string[];
}

export interface CheckpointInfo {
  /** The applied index the checkpoint holds (its engine's applied record says the same, except for `init`). */
  index: number;
  files: CheckpointFile[];
  /** Set on index 1 of a shard split off another. */
  init?: SplitInit;
}

export function encodeCheckpointDescriptor(info: CheckpointInfo): Uint8Array {
  return Buffer.concat([MAGIC, Buffer.from(JSON.stringify(info), 'utf8')]);
}

export function isCheckpointDescriptor(data: Uint8Array): boolean {
  return data.length >= MAGIC.length && Buffer.from(data.buffer, data.byteOffset, MAGIC.length).equals(MAGIC);
}

/** Decodes and checks a descriptor (from the local log or a peer): throws CORRUPTION on anything malformed. */
export function decodeCheckpointDescriptor(data: Uint8Array, what = 'shard snapshot'): CheckpointInfo {
  if (!isCheckpointDescriptor(data)) throw corruption(what, 0, 'not a checkpoint descriptor');
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(data.buffer, data.byteOffset + MAGIC.length, data.length - MAGIC.length).toString('utf8'));
  } catch {
    throw corruption(what, MAGIC.length, 'descriptor is not JSON');
  }
  const bad = checkInfo(raw);
  if (bad !== undefined) throw corruption(what, MAGIC.length, bad);
  return raw as CheckpointInfo;
}

function checkInfo(raw: unknown): string | undefined {
  if (typeof raw !== 'object' || raw === null) return 'descriptor is not an object';
  const { index, files } = raw as { index: unknown; files: unknown };
  if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 1) return 'bad index';
  if (!Array.isArray(files) || files.length > MAX_FILES) return 'bad file list';
  const seen = new Set<string>();
  for (const f of files as unknown[]) {
    if (typeof f !== 'object' || f === null) return 'bad file entry';
    const { name, size } = f as { name: unknown; size: unknown };
    if (typeof name !== 'string' || !FILE_NAME.test(name) || seen.has(name)) return `bad file name ${JSON.stringify(name)}`;
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0 || size > MAX_FILE_BYTES) return `bad size of ${name}`;
    seen.add(name);
  }
  if (!seen.has('CURRENT')) return 'no CURRENT file';
  const init = (raw as { init?: unknown }).init;
  if (init !== undefined) {
    if (index !== 1) return 'split init on a snapshot other than index 1';
    const bad = checkSplitInit(init);
    if (bad !== undefined) return `split init: ${bad}`;
  }
  return undefined;
}

const isInt = (v: unknown, min: number, max: number): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max;

/** Checks a ShardOwnership (stored in an engine, or named by a peer). */
export function checkOwnership(raw: unknown): string | undefined {
  if (typeof raw !== 'object' || raw === null) return 'ownership is not an object';
  const o = raw as Record<string, unknown>;
  if (!isInt(o.shard, 0, 4095) || !isInt(o.n0, 1, 4096) || !isInt(o.base, 0, o.n0 - 1)) return 'bad shard, n0 or base';
  if (!isInt(o.lo, 0, 2 ** 32) || !isInt(o.hi, 1, 2 ** 32) || o.lo >= o.hi) return 'bad range';
  if (!Array.isArray(o.children) || o.children.length > 4096 || o.children.some((c) => !isInt(c, 0, 4095))) return 'bad children';
  return undefined;
}

function checkSplitInit(raw: unknown): string | undefined {
  if (typeof raw !== 'object' || raw === null) return 'not an object';
  const { owner, logTimeMs, replicas } = raw as Record<string, unknown>;
  const bad = checkOwnership(owner);
  if (bad !== undefined) return bad;
  if (typeof logTimeMs !== 'number' || !Number.isFinite(logTimeMs) || logTimeMs < 0) return 'bad log time';
  if (!Array.isArray(replicas) || replicas.length === 0 || replicas.length > 7 || replicas.some((r) => typeof r !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(r))) return 'bad replicas';
  return undefined;
}

interface Receiving {
  info: CheckpointInfo;
  /** Files being written (same process: a retried transfer resumes at their size). */
  writers: Map<string, WritableFile>;
}

/** The checkpoints of one replica: made here for log compaction, or received from a leader. */
export class ReplicaSnapshots {
  /** Checkpoints a transfer is reading (never pruned meanwhile), with their reader counts. */
  private readonly inUse = new Map<number, number>();
  private receiving: Receiving | undefined;

  constructor(
    private readonly fs: Fs,
    /** The replica's `snap/` directory. */
    readonly root: string,
  ) {}

  private dir(index: number): string {
    return joinPath(this.root, String(index));
  }

  path(index: number, name: string): string {
    return joinPath(this.dir(index), name);
  }

  /** Indexes of the checkpoint directories here (complete or not), ascending. */
  private indexes(): number[] {
    if (!this.fs.exists(this.root)) return [];
    return this.fs
      .list(this.root)
      .filter((n) => /^\d+$/.test(n))
      .map(Number)
      .sort((a, b) => a - b);
  }

  /** A complete checkpoint's description, or undefined. */
  info(index: number): CheckpointInfo | undefined {
    const done = joinPath(this.dir(index), DONE);
    if (!this.fs.exists(done)) return undefined;
    const info = decodeCheckpointDescriptor(this.fs.readFile(done), done);
    if (info.index !== index) throw corruption(done, 0, `describes index ${info.index}, not ${index}`);
    return info;
  }

  /**
   * Checkpoints `db` (which holds exactly the state as of applied index
   * `index`) into snap/<index>/ and returns the Raft snapshot descriptor.
   * Older checkpoints are pruned, all but the newest before this one (the
   * log may not have made its snapshot at this index durable yet) and any
   * a transfer is reading. Newer ones stay: received from a leader, they
   * wait for the snapshot message that installs them.
   */
  async create(db: DB, index: number): Promise<Uint8Array> {
    const dir = this.dir(index);
    if (this.info(index) === undefined) {
      this.removeDir(index);
      this.fs.mkdir(dir);
      const files = await db.checkpoint(dir);
      await this.writeDone({ index, files });
    }
    const info = this.info(index)!;
    const all = this.indexes();
    const older = all.filter((i) => i < index && this.info(i) !== undefined);
    this.prune(new Set([index, ...older.slice(-1), ...all.filter((i) => i > index)]));
    return encodeCheckpointDescriptor(info);
  }

  /**
   * Checkpoints `db` (its parent's engine, holding the state just before
   * the split entry) as snap/1 of a shard split off it. A checkpoint made
   * already (the entry applied again after a crash) is kept as it is.
   */
  async createSplit(db: DB, init: SplitInit): Promise<void> {
    if (this.info(1) !== undefined) return;
    const dir = this.dir(1);
    this.removeDir(1);
    this.fs.mkdir(dir);
    const files = await db.checkpoint(dir);
    await this.writeDone({ index: 1, files, init });
  }

  private async writeDone(info: CheckpointInfo): Promise<void> {
    const dir = this.dir(info.index);
    await this.fs.syncDir(dir);
    const f = this.fs.createWritable(joinPath(dir, DONE));
    try {
      f.append(encodeCheckpointDescriptor(info));
      await f.sync();
    } finally {
      f.close();
    }
    await this.fs.syncDir(dir);
    await this.fs.syncDir(this.root);
  }

  /** Removes every checkpoint directory except `keep`'s, those in use and the one being received. */
  prune(keep: ReadonlySet<number>): void {
    for (const i of this.indexes()) {
      if (keep.has(i) || this.inUse.has(i) || this.receiving?.info.index === i) continue;
      this.removeDir(i);
    }
  }

  acquire(index: number): void {
    this.inUse.set(index, (this.inUse.get(index) ?? 0) + 1);
  }

  release(index: number): void {
    const n = (this.inUse.get(index) ?? 0) - 1;
    if (n <= 0) this.inUse.delete(index);
    else this.inUse.set(index, n);
  }

  private removeDir(index: number): void {
    const dir = this.dir(index);
    if (!this.fs.exists(dir)) return;
    for (const n of this.fs.list(dir)) this.fs.remove(joinPath(dir, n));
    this.fs.removeDir(dir);
  }

  // ---- receiving ----

  /**
   * Starts (or resumes) receiving the checkpoint `info` describes. Returns
   * the bytes already held of each file: whole files kept from an earlier
   * attempt (even across a restart), and files still being written by this
   * process. Any other checkpoint being received is dropped.
   */
  beginReceive(info: CheckpointInfo): Record<string, number> {
    const bad = checkInfo(info);
    if (bad !== undefined) throw invalidArgument(`snapshot transfer: ${bad}`);
    const have: Record<string, number> = {};
    if (this.info(info.index) !== undefined) {
      for (const f of info.files) have[f.name] = f.size;
      return have;
    }
    let r = this.receiving;
    if (r !== undefined && (r.info.index !== info.index || JSON.stringify(r.info.files) !== JSON.stringify(info.files))) {
      this.dropReceiving();
      r = undefined;
    }
    const dir = this.dir(info.index);
    if (r === undefined) {
      r = { info, writers: new Map() };
      this.receiving = r;
      this.fs.mkdir(dir);
    }
    const wanted = new Map(info.files.map((f) => [f.name, f.size]));
    for (const n of this.fs.list(dir)) {
      const name = n.endsWith(PART) ? n.slice(0, -PART.length) : n;
      const size = wanted.get(name);
      if (n.endsWith(PART) && size !== undefined && r.writers.has(name)) have[name] = r.writers.get(name)!.size;
      else if (!n.endsWith(PART) && size !== undefined && this.fs.fileSize(joinPath(dir, n)) === size) have[name] = size;
      // A part file no writer of this process holds (a restart) may have lost unsynced bytes: start it again.
      else this.fs.remove(joinPath(dir, n));
    }
    return have;
  }

  /** Appends a chunk at `offset` of file `name`; returns the bytes now held of it. A chunk at any other offset is refused with the size held. */
  writeChunk(index: number, name: string, offset: number, data: Uint8Array, crc: number): number {
    const r = this.receivingFor(index);
    const f = r.info.files.find((x) => x.name === name);
    if (f === undefined) throw invalidArgument(`snapshot transfer: ${name} is not a file of checkpoint ${index}`);
    if (crc32c(data) !== crc) throw new StrataError(ERROR_CODES.CORRUPTION, `snapshot transfer: chunk of ${name} at ${offset} failed its checksum`);
    let w = r.writers.get(name);
    if (w === undefined) {
      if (this.fs.exists(this.path(index, name))) return f.size; // already whole
      w = this.fs.createWritable(this.path(index, name + PART));
      r.writers.set(name, w);
    }
    if (offset !== w.size) return w.size;
    if (offset + data.length > f.size) throw invalidArgument(`snapshot transfer: chunk runs past the ${f.size} bytes of ${name}`);
    w.append(data);
    return w.size;
  }

  /** Finishes file `name` once all its bytes arrived: fsync, check the whole file's checksum, then give it its name. */
  async finishFile(index: number, name: string, crc: number): Promise<void> {
    if (this.info(index) !== undefined) return; // the whole checkpoint is here already
    const r = this.receivingFor(index);
    const f = r.info.files.find((x) => x.name === name);
    if (f === undefined) throw invalidArgument(`snapshot transfer: ${name} is not a file of checkpoint ${index}`);
    if (this.fs.exists(this.path(index, name))) return;
    const w = r.writers.get(name);
    if (w === undefined && f.size > 0) throw new StrataError(ERROR_CODES.UNAVAILABLE, `snapshot transfer: nothing of ${name} received`);
    const out = w ?? this.fs.createWritable(this.path(index, name + PART));
    if (out.size !== f.size) throw new StrataError(ERROR_CODES.UNAVAILABLE, `snapshot transfer: ${name} has ${out.size} of ${f.size} bytes`);
    r.writers.delete(name);
    try {
      await out.sync();
    } finally {
      out.close();
    }
    const got = fileCrc(this.fs, this.path(index, name + PART));
    if (got !== crc) {
      this.fs.remove(this.path(index, name + PART));
      throw new StrataError(ERROR_CODES.CORRUPTION, `snapshot transfer: ${name} failed its whole-file checksum (sent ${crc}, received ${got})`);
    }
    this.fs.rename(this.path(index, name + PART), this.path(index, name));
  }

  /** Completes the checkpoint once every file is whole: its DONE file makes it installable. */
  async finishReceive(index: number): Promise<void> {
    if (this.info(index) !== undefined) return;
    const r = this.receivingFor(index);
    for (const f of r.info.files) {
      const p = this.path(index, f.name);
      if (!this.fs.exists(p) || this.fs.fileSize(p) !== f.size) throw new StrataError(ERROR_CODES.UNAVAILABLE, `snapshot transfer: ${f.name} is not complete`);
    }
    await this.writeDone(r.info);
    this.receiving = undefined;
  }

  private receivingFor(index: number): Receiving {
    const r = this.receiving;
    if (r === undefined || r.info.index !== index) throw new StrataError(ERROR_CODES.UNAVAILABLE, `snapshot transfer: checkpoint ${index} is not being received here (begin again)`);
    return r;
  }

  private dropReceiving(): void {
    const r = this.receiving;
    if (r === undefined) return;
    for (const w of r.writers.values()) w.close();
    this.receiving = undefined;
  }

  close(): void {
    this.dropReceiving();
  }

  // ---- installing ----

  /**
   * Replaces the (closed) engine in `engineDir` with checkpoint `index`:
   * the INSTALL marker first, then the engine's files are removed and the
   * checkpoint's linked in, then the marker goes. A crash in between is
   * finished by `recoverInstall` before the engine opens.
   */
  async install(engineDir: string, index: number): Promise<void> {
    const info = this.info(index);
    if (info === undefined) throw new StrataError(ERROR_CODES.UNAVAILABLE, `snapshot ${index} is not here (its files were not received)`);
    const marker = joinPath(this.root, INSTALL);
    const m = this.fs.createWritable(marker);
    try {
      m.append(Buffer.from(String(index), 'utf8'));
      await m.sync();
    } finally {
      m.close();
    }
    await this.fs.syncDir(this.root);
    await this.replaceEngine(engineDir, info);
  }

  private async replaceEngine(engineDir: string, info: CheckpointInfo): Promise<void> {
    this.fs.mkdir(engineDir);
    for (const n of this.fs.list(engineDir)) this.fs.remove(joinPath(engineDir, n));
    for (const f of info.files) this.fs.link(this.path(info.index, f.name), joinPath(engineDir, f.name));
    await this.fs.syncDir(engineDir);
    this.fs.remove(joinPath(this.root, INSTALL));
    await this.fs.syncDir(this.root);
  }

  /** Finishes an install a crash interrupted (call before opening the engine). */
  async recoverInstall(engineDir: string): Promise<void> {
    const marker = joinPath(this.root, INSTALL);
    if (!this.fs.exists(marker)) return;
    const index = Number(this.fs.readFile(marker).toString('utf8'));
    const info = Number.isSafeInteger(index) ? this.info(index) : undefined;
    if (info === undefined) throw corruption(marker, 0, `names checkpoint ${index}, which is not complete`);
    await this.replaceEngine(engineDir, info);
  }
}

/** Removes a replica's whole `snap/` directory (its replica is gone). */
export function removeCheckpoints(fs: Fs, root: string): void {
  if (!fs.exists(root)) return;
  for (const name of fs.list(root)) {
    const p = joinPath(root, name);
    if (/^\d+$/.test(name)) {
      for (const f of fs.list(p)) fs.remove(joinPath(p, f));
      fs.removeDir(p);
    } else fs.remove(p);
  }
  fs.removeDir(root);
}

/** crc32c of a whole file, read in 1 MiB pieces. */
export function fileCrc(fs: Fs, path: string): number {
  const f = fs.openRandomAccess(path);
  try {
    let crc = 0;
    const buf = Buffer.alloc(READ_BYTES);
    for (let pos = 0; pos < f.size; ) {
      const got = f.read(pos, Math.min(READ_BYTES, f.size - pos), buf);
      if (got.length === 0) throw corruption(path, pos, 'file ended early');
      crc = crc32c(got, crc);
      pos += got.length;
    }
    return crc;
  } finally {
    f.close();
  }
}
