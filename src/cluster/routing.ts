/**
 * Which shard owns a key. A keyspace starts with `n0` shards (its
 * KeyspaceInfo.shards, fixed for its life) and a key's base shard is
 * crc32c(key) mod n0, as it always was. Splitting divides a shard by hash
 * range: inside a base shard, keys are ordered by q = floor(crc32c / n0),
 * in [0, subHashLimit(n0)), and each shard owns one range [lo, hi) of q in
 * one base. An unsplit shard owns its whole base; a split halves the
 * parent's range, the parent keeping [lo, at) and the new shard taking
 * [at, hi). So shards only ever shrink, a key's owner is always exactly
 * one shard, and a keyspace that never splits routes as before.
 */
import { crc32c } from '../base/index.js';

/** The hash range a shard owns. */
export interface HashRange {
  /** The base shard: crc32c(key) mod n0. */
  base: number;
  /** The owned q = floor(crc32c(key) / n0), from lo (inclusive) to hi (exclusive). */
  lo: number;
  hi: number;
}

/** What routing reads of a shard (ShardInfo carries these). */
export interface RoutedShard {
  id: number;
  base?: number;
  lo?: number;
  hi?: number;
  /** Set while the shard is being split off `splitFrom` (keys still route to the parent). */
  splitFrom?: number;
}

/** One more than the largest q in a keyspace of n0 base shards. */
export function subHashLimit(n0: number): number {
  return Math.floor(0xffffffff / n0) + 1;
}

/** A shard's range: its own, or (never split) its whole base. */
export function rangeOf(sh: RoutedShard, n0: number): HashRange {
  return sh.lo === undefined || sh.hi === undefined ? { base: sh.base ?? sh.id, lo: 0, hi: subHashLimit(n0) } : { base: sh.base ?? sh.id, lo: sh.lo, hi: sh.hi };
}

/** Whether `key` falls in `r` (a keyspace of n0 base shards). */
export function inRange(key: Uint8Array, r: HashRange, n0: number): boolean {
  const h = crc32c(key);
  if (h % n0 !== r.base) return false;
  const q = Math.floor(h / n0);
  return q >= r.lo && q < r.hi;
}

/**
 * Routes keys by a shard map. A shard still being split off its parent
 * routes nothing unless `serving` names it: a node learns that a split has
 * taken effect (the parent answered WRONG_SHARD) before the shard map says
 * so, and from then on routes the new shard's range to it. Where ranges
 * nest (the parent's, not yet shrunk, holds the new shard's), the
 * narrowest wins.
 */
export class ShardRouter {
  /** Per base shard: the routable shards' ranges, narrowest first. */
  private readonly bases: Array<Array<{ id: number; lo: number; hi: number }>>;
  private readonly all: number[];

  constructor(
    readonly n0: number,
    shards: readonly RoutedShard[],
    serving: ReadonlySet<number> = new Set(),
  ) {
    this.bases = Array.from({ length: n0 }, () => []);
    this.all = shards.map((sh) => sh.id).sort((a, b) => a - b);
    for (const sh of shards) {
      if (sh.splitFrom !== undefined && !serving.has(sh.id)) continue;
      const r = rangeOf(sh, n0);
      this.bases[r.base]?.push({ id: sh.id, lo: r.lo, hi: r.hi });
    }
    for (const list of this.bases) list.sort((a, b) => a.hi - a.lo - (b.hi - b.lo));
  }

  /** The shard id owning `key`. */
  shardOf(key: Uint8Array): number {
    const h = crc32c(key);
    const q = Math.floor(h / this.n0);
    for (const r of this.bases[h % this.n0]!) if (q >= r.lo && q < r.hi) return r.id;
    // Unreachable for a well-formed map (every base's ranges cover it): fall back to the base shard.
    return h % this.n0;
  }

  /**
   * Every shard of the map, those being split off included (scans and
   * counts visit them all: once a parent has cut a range off, only the new
   * shard answers for it, so a scan waits for it rather than miss keys).
   */
  shardIds(): readonly number[] {
    return this.all;
  }
}
