import { corruption, ERROR_CODES, joinPath, StrataError } from '../base/index.js';
import type { Fs } from '../base/index.js';
import { currentFile, manifestName, tableFile, tempFile } from './filenames.js';
import { Version } from './version.js';
import { VersionEdit } from './version-edit.js';
import { LogReader, LogWriter } from './wal/index.js';

export const FORMAT_NAME = 'stratadb.v1';

/**
 * The MANIFEST (a log of VersionEdits, same framing as the WAL) and the
 * current Version. Edits are applied one at a time: each is appended and
 * synced before the new version is installed, so what readers see is always
 * what recovery would rebuild.
 */
export class VersionSet {
  current: Version;
  nextFileNumber = 2;
  lastSequence = 0;
  /** WAL files numbered below this are fully flushed and may be deleted. */
  logNumber = 0;
  manifestNumber = 0;
  readonly compactPointers: Array<Buffer | undefined>;
  /** Versions pinned by iterators or compactions, besides `current`. */
  private readonly live = new Set<Version>();
  private manifest: LogWriter | undefined;
  /** Serializes MANIFEST writes: an edit is applied only after the previous one is durable. */
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly fs: Fs,
    private readonly dir: string,
    readonly numLevels: number,
  ) {
    this.current = new Version(Array.from({ length: numLevels }, () => []));
    this.compactPointers = new Array<Buffer | undefined>(numLevels).fill(undefined);
  }

  newFileNumber(): number {
    return this.nextFileNumber++;
  }

  /** Marks `n` used (e.g. a WAL found on disk) so it is never handed out again. */
  markFileNumberUsed(n: number): void {
    if (n >= this.nextFileNumber) this.nextFileNumber = n + 1;
  }

  /** Replays CURRENT → MANIFEST. Throws CORRUPTION on any damage except a torn last record. */
  recover(): { tornBytes: number } {
    const curPath = currentFile(this.dir);
    const cur = this.fs.readFile(curPath).toString('utf8');
    const m = /^MANIFEST-(\d+)\n$/.exec(cur);
    if (!m) throw corruption(curPath, 0, 'CURRENT does not name a MANIFEST');
    const name = `MANIFEST-${m[1]}`;
    const path = joinPath(this.dir, name);
    if (!this.fs.exists(path)) throw corruption(curPath, 0, `CURRENT names missing ${name}`);
    // Strict: each edit is synced before the next is appended, so only a cut-off last record is a crash.
    const reader = new LogReader(this.fs.readFile(path), path, { strict: true });
    let version = this.current;
    let haveLog = false;
    let haveNext = false;
    let haveSeq = false;
    let first = true;
    for (let rec = reader.readRecord(); rec !== undefined; rec = reader.readRecord()) {
      const edit = VersionEdit.decode(rec, path, reader.lastRecordOffset, this.numLevels);
      if (first && edit.formatName !== FORMAT_NAME) {
        throw corruption(path, 0, `not a ${FORMAT_NAME} MANIFEST (format ${edit.formatName ?? 'missing'})`);
      }
      first = false;
      if (edit.logNumber !== undefined) {
        this.logNumber = edit.logNumber;
        haveLog = true;
      }
      if (edit.nextFileNumber !== undefined) {
        this.nextFileNumber = edit.nextFileNumber;
        haveNext = true;
      }
      if (edit.lastSequence !== undefined) {
        this.lastSequence = edit.lastSequence;
        haveSeq = true;
      }
      for (const p of edit.compactPointers) this.compactPointers[p.level] = p.key;
      version = version.apply(edit);
    }
    if (!haveLog || !haveNext || !haveSeq) throw corruption(path, 0, 'MANIFEST lacks log number, next file number or last sequence');
    const bad = version.checkInvariants();
    if (bad) throw corruption(path, 0, bad);
    for (const files of version.levels) {
      for (const f of files) {
        if (!this.fs.exists(tableFile(this.dir, f.number))) {
          throw new StrataError(ERROR_CODES.CORRUPTION, `table ${tableFile(this.dir, f.number)} named in ${name} is missing`, {
            file: tableFile(this.dir, f.number),
            offset: 0,
          });
        }
      }
    }
    this.manifestNumber = Number(m[1]);
    this.markFileNumberUsed(this.manifestNumber);
    this.current = version;
    return { tornBytes: reader.droppedBytes };
  }

  /**
   * Starts a new MANIFEST holding a snapshot of the current state and points
   * CURRENT at it (temp file, fsync, rename, fsync directory).
   */
  async writeNewManifest(): Promise<void> {
    const num = this.newFileNumber();
    const writer = await this.writeManifestSnapshot(this.dir, num, this.current, this.logNumber);
    this.manifest?.close();
    this.manifest = writer;
    this.manifestNumber = num;
  }

  /**
   * A checkpoint's MANIFEST: `version` (whose tables the caller linked into
   * `dir`) as a fresh database in `dir` with no WAL to replay. Returns the
   * MANIFEST's name.
   */
  async writeCheckpointManifest(dir: string, version: Version): Promise<string> {
    const num = this.newFileNumber();
    // A log number past every file number in use: the checkpoint replays no WAL.
    (await this.writeManifestSnapshot(dir, num, version, this.nextFileNumber)).close();
    return manifestName(num);
  }

  /** Writes MANIFEST-`num` in `dir` holding `version` whole and points CURRENT at it (temp file, fsync, rename, fsync directory). */
  private async writeManifestSnapshot(dir: string, num: number, version: Version, logNumber: number): Promise<LogWriter> {
    const path = joinPath(dir, manifestName(num));
    const snap = new VersionEdit();
    snap.formatName = FORMAT_NAME;
    snap.logNumber = logNumber;
    snap.nextFileNumber = this.nextFileNumber;
    snap.lastSequence = this.lastSequence;
    this.compactPointers.forEach((key, level) => {
      if (key) snap.compactPointers.push({ level, key });
    });
    version.levels.forEach((files, level) => files.forEach((f) => snap.addFile(level, f)));
    const writer = new LogWriter(this.fs.createWritable(path));
    try {
      writer.addRecord(snap.encode());
      await writer.sync();
      const tmp = tempFile(dir, num);
      const t = this.fs.createWritable(tmp);
      t.append(Buffer.from(`${manifestName(num)}\n`, 'utf8'));
      await t.sync();
      t.close();
      this.fs.rename(tmp, currentFile(dir));
      await this.fs.syncDir(dir);
    } catch (err) {
      writer.close();
      throw err;
    }
    return writer;
  }

  /**
   * Appends `edit` (stamped with the file counter and, if given, the log
   * number) to the MANIFEST, syncs it, then installs the new version. New
   * table files named by the edit have their directory entries synced first.
   */
  logAndApply(edit: VersionEdit): Promise<void> {
    const run = async () => {
      if (!this.manifest) throw new Error('assertion failed: logAndApply before writeNewManifest');
      edit.nextFileNumber = this.nextFileNumber;
      edit.lastSequence ??= this.lastSequence;
      if (edit.newFiles.length > 0) await this.fs.syncDir(this.dir);
      const next = this.current.apply(edit);
      const bad = next.checkInvariants();
      if (bad) throw new Error(`assertion failed: edit breaks level invariant: ${bad}`);
      this.manifest.addRecord(edit.encode());
      await this.manifest.sync();
      if (edit.logNumber !== undefined) this.logNumber = edit.logNumber;
      for (const p of edit.compactPointers) this.compactPointers[p.level] = p.key;
      this.current = next;
    };
    const p = this.tail.then(run);
    this.tail = p.catch(() => undefined);
    return p;
  }

  /** Pins `v` (the current version by default) for a reader; call `release` when done. */
  pin(v: Version = this.current): { version: Version; release: () => void } {
    v.ref();
    this.live.add(v);
    let done = false;
    return {
      version: v,
      release: () => {
        if (done) return;
        done = true;
        if (--v.refs === 0) this.live.delete(v);
      },
    };
  }

  /** Table numbers referenced by the current or any pinned version. */
  liveTableNumbers(): Set<number> {
    const out = new Set<number>();
    for (const v of [this.current, ...this.live]) for (const files of v.levels) for (const f of files) out.add(f.number);
    return out;
  }

  close(): void {
    this.manifest?.close();
    this.manifest = undefined;
  }
}
