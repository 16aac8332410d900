import { compareInternalKeys, compareUserKeyParts, compareUserKeyTo, userKeyOf } from './format.js';
import type { FileMeta } from './version-edit.js';
import type { VersionEdit } from './version-edit.js';

/**
 * An immutable set of table files per level. L0 files may overlap and are
 * kept newest first (descending file number); files of L1+ are disjoint and
 * sorted by smallest key. Readers (iterators, compactions) pin a version with
 * `ref()`/`unref()` so its files are not deleted under them.
 */
export class Version {
  refs = 0;
  constructor(readonly levels: ReadonlyArray<ReadonlyArray<FileMeta>>) {}

  ref(): void {
    this.refs++;
  }

  levelBytes(level: number): number {
    let s = 0;
    for (const f of this.levels[level] ?? []) s += f.size;
    return s;
  }

  /** Files of `level` whose user-key range intersects [lo, hi] (user keys; undefined = unbounded). */
  overlapping(level: number, lo: Buffer | undefined, hi: Buffer | undefined): FileMeta[] {
    const out: FileMeta[] = [];
    for (const f of this.levels[level] ?? []) {
      if (lo !== undefined && compareUserKeyTo(lo, f.largest) > 0) continue;
      if (hi !== undefined && compareUserKeyTo(hi, f.smallest) < 0) continue;
      out.push(f);
    }
    return out;
  }

  /** Whether any file at a level deeper than `level` may hold `userKey`. */
  keyMayExistBelow(level: number, userKey: Buffer): boolean {
    for (let l = level + 1; l < this.levels.length; l++) {
      const files = this.levels[l]!;
      const i = findFile(files, userKey);
      if (i < files.length && compareUserKeyTo(userKey, files[i]!.smallest) >= 0) return true;
    }
    return false;
  }

  /** Applies `edit`, returning a new version. Pure. */
  apply(edit: VersionEdit): Version {
    const deleted = new Set<string>();
    for (const d of edit.deletedFiles) deleted.add(`${d.level}:${d.number}`);
    const levels: FileMeta[][] = this.levels.map((files, level) => files.filter((f) => !deleted.has(`${level}:${f.number}`)));
    for (const { level, file } of edit.newFiles) levels[level]!.push(file);
    levels[0]!.sort((a, b) => b.number - a.number);
    for (let l = 1; l < levels.length; l++) levels[l]!.sort((a, b) => compareInternalKeys(a.smallest, b.smallest));
    return new Version(levels);
  }

  /** Checks the level invariants; returns a description of the first violation, or undefined. */
  checkInvariants(): string | undefined {
    for (let l = 1; l < this.levels.length; l++) {
      const files = this.levels[l]!;
      for (let i = 1; i < files.length; i++) {
        if (compareUserKeyParts(files[i - 1]!.largest, files[i]!.smallest) >= 0) {
          return `level ${l}: files ${files[i - 1]!.number} and ${files[i]!.number} overlap`;
        }
      }
    }
    return undefined;
  }

  fileCount(): number {
    let n = 0;
    for (const files of this.levels) n += files.length;
    return n;
  }
}

/** Index of the first file in a sorted, disjoint level whose largest user key >= userKey. */
export function findFile(files: ReadonlyArray<FileMeta>, userKey: Buffer): number {
  let lo = 0;
  let hi = files.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareUserKeyTo(userKey, files[mid]!.largest) > 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index of the first file in a sorted, disjoint level whose largest internal key >= ikey. */
export function findFileInternal(files: ReadonlyArray<FileMeta>, ikey: Buffer): number {
  let lo = 0;
  let hi = files.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareInternalKeys(files[mid]!.largest, ikey) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The user-key range [smallest, largest] covered by `files`. */
export function userKeyRange(files: ReadonlyArray<FileMeta>): { lo: Buffer; hi: Buffer } {
  let lo = userKeyOf(files[0]!.smallest);
  let hi = userKeyOf(files[0]!.largest);
  for (const f of files) {
    const s = userKeyOf(f.smallest);
    const l = userKeyOf(f.largest);
    if (Buffer.compare(s, lo) < 0) lo = s;
    if (Buffer.compare(l, hi) > 0) hi = l;
  }
  return { lo, hi };
}
