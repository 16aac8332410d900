import { compareUserKeyTo, userKeyOf } from './format.js';
import { userKeyRange } from './version.js';
import type { Version } from './version.js';
import type { FileMeta } from './version-edit.js';

/**
 * Pure compaction policy (leveled, as LevelDB): no I/O, no clock. Given a
 * version and the per-level compaction pointers it says what to merge next.
 */
export interface LevelPolicy {
  numLevels: number;
  level0CompactionTrigger: number;
  maxBytesForLevelBase: number;
  levelSizeMultiplier: number;
  targetFileSize: number;
}

export interface CompactionPlan {
  /** Input level; outputs go to `level + 1`. */
  level: number;
  /** Files of `level`, then of `level + 1`. */
  inputs: [FileMeta[], FileMeta[]];
  /** A single input file with nothing to merge against: move it down by a MANIFEST edit only. */
  trivialMove: boolean;
  /** Why it was picked, for stats and tests. */
  reason: 'level0-files' | 'level-size' | 'seek' | 'manual';
  score: number;
  /** Where outputs go when not `level + 1`: `level` itself for an in-place rewrite of the last level. */
  outputLevel?: number;
}

export function maxBytesForLevel(policy: LevelPolicy, level: number): number {
  let bytes = policy.maxBytesForLevelBase;
  for (let l = 1; l < level; l++) bytes *= policy.levelSizeMultiplier;
  return bytes;
}

/** Score per level: >= 1 means the level needs compaction. The last level is never a source. */
export function levelScores(version: Version, policy: LevelPolicy): number[] {
  const scores: number[] = [];
  for (let l = 0; l < policy.numLevels - 1; l++) {
    scores.push(l === 0 ? version.levels[0]!.length / policy.level0CompactionTrigger : version.levelBytes(l) / maxBytesForLevel(policy, l));
  }
  return scores;
}

/** Adds every L0 file overlapping the range of `picked`, until the set stops growing. */
function expandLevel0(version: Version, picked: FileMeta[]): FileMeta[] {
  let set = picked;
  for (;;) {
    const { lo, hi } = userKeyRange(set);
    const next = version.overlapping(0, lo, hi);
    if (next.length === set.length) return next;
    set = next;
  }
}

function planFor(version: Version, level: number, base: FileMeta[], reason: CompactionPlan['reason'], score: number): CompactionPlan {
  const inputs0 = level === 0 ? expandLevel0(version, base) : base;
  const { lo, hi } = userKeyRange(inputs0);
  const inputs1 = version.overlapping(level + 1, lo, hi);
  const trivialMove = reason !== 'manual' && inputs0.length === 1 && inputs1.length === 0;
  return { level, inputs: [inputs0, inputs1], trivialMove, reason, score };
}

/** A file that reads keep paying for (see DB's seek accounting), to compact when nothing else is due. */
export interface SeekCandidate {
  level: number;
  file: FileMeta;
}

/**
 * The next compaction, or undefined if no level scores >= 1 and there is no
 * seek candidate. For L0 the oldest file is picked (plus all L0 files
 * overlapping it); for Ln the first file after the level's compaction
 * pointer (round robin over the key space). With nothing due by size, a
 * `seek` candidate still in `version` is merged into the next level
 * (LevelDB's seek compaction).
 */
export function pickCompaction(
  version: Version,
  policy: LevelPolicy,
  compactPointers: ReadonlyArray<Buffer | undefined>,
  seek?: SeekCandidate,
): CompactionPlan | undefined {
  const scores = levelScores(version, policy);
  let best = -1;
  let bestScore = 1;
  for (let l = 0; l < scores.length; l++) {
    if (scores[l]! >= bestScore) {
      best = l;
      bestScore = scores[l]!;
    }
  }
  if (best < 0) {
    if (seek === undefined || seek.level >= policy.numLevels - 1 || !version.levels[seek.level]!.includes(seek.file)) return undefined;
    return planFor(version, seek.level, [seek.file], 'seek', 0);
  }
  const files = version.levels[best]!;
  if (best === 0) {
    const oldest = files[files.length - 1]!;
    return planFor(version, 0, [oldest], 'level0-files', bestScore);
  }
  const ptr = compactPointers[best];
  let pick = files[0]!;
  if (ptr !== undefined) {
    const ptrUser = userKeyOf(ptr);
    const after = files.find((f) => compareUserKeyTo(ptrUser, f.largest) < 0);
    if (after) pick = after;
  }
  return planFor(version, best, [pick], 'level-size', bestScore);
}

/** A manual compaction of `level` restricted to user keys in [lo, hi] (undefined = unbounded). */
export function planManualCompaction(version: Version, level: number, lo: Buffer | undefined, hi: Buffer | undefined): CompactionPlan | undefined {
  const base = version.overlapping(level, lo, hi);
  if (base.length === 0) return undefined;
  return planFor(version, level, base, 'manual', 0);
}

/**
 * A manual in-place rewrite of the files of `level` (L1+, the deepest level
 * holding data) that intersect [lo, hi]: the only way to drop versions and
 * tombstones that already sit at the bottom. The files are contiguous in the
 * sorted level, so outputs (within their key range) cannot overlap the rest.
 */
export function planBottomCompaction(version: Version, level: number, lo: Buffer | undefined, hi: Buffer | undefined): CompactionPlan | undefined {
  if (level === 0) return undefined;
  const base = version.overlapping(level, lo, hi);
  if (base.length === 0) return undefined;
  return { level, inputs: [base, []], trivialMove: false, reason: 'manual', score: 0, outputLevel: level };
}

/**
 * Level for a freshly flushed memtable covering [lo, hi]: L0 if it overlaps
 * L0, otherwise pushed down while the next level has no overlap, up to
 * `maxLevel` (LevelDB pushes to at most L2 to avoid costly L0→L1 merges of
 * disjoint key ranges, e.g. sequential inserts).
 */
export function pickLevelForFlush(version: Version, lo: Buffer, hi: Buffer, maxLevel = 2): number {
  if (version.overlapping(0, lo, hi).length > 0) return 0;
  let level = 0;
  while (level < maxLevel && level + 1 < version.levels.length && version.overlapping(level + 1, lo, hi).length === 0) {
    level++;
  }
  return level;
}
