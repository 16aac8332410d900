import { bucketEnd, bucketStart, levelFitsInterval } from './rollup.js';
import type { Interval, RollupLevel, TsPlanSegment } from './types.js';

/** Coarsest first. */
const DESCENDING: readonly RollupLevel[] = ['1y', '1M', '1d', '1h'];

export interface PlanInput {
  fromMs: number;
  toMs: number;
  every: Interval | undefined;
  /** Levels allowed at all (empty: raw only). */
  allowed: readonly RollupLevel[];
  /** Rollups hold sealed data only: from this time on (unsealed head points) the answer comes from raw. */
  rawFromMs: number;
  /** Per level, the earliest bucket start still retained (retention); absent: all. */
  retainedFrom: Partial<Record<RollupLevel, number>>;
}

/**
 * Splits [fromMs, toMs) into segments, each answered by the coarsest level
 * whose whole buckets tile it and nest in the group-by buckets; the
 * unaligned edges fall to finer levels and finally to raw data. Adjacent
 * raw pieces are merged.
 */
export function planSegments(input: PlanInput): TsPlanSegment[] {
  const levels = DESCENDING.filter((l) => input.allowed.includes(l) && levelFitsInterval(l, input.every));
  const out: TsPlanSegment[] = [];
  const push = (s: TsPlanSegment) => {
    if (s.fromMs >= s.toMs) return;
    const prev = out[out.length - 1];
    if (prev !== undefined && prev.level === 'raw' && s.level === 'raw' && prev.toMs === s.fromMs) prev.toMs = s.toMs;
    else out.push(s);
  };
  const decompose = (a: number, b: number, idx: number): void => {
    if (a >= b) return;
    const level = levels[idx];
    if (level === undefined) {
      push({ level: 'raw', fromMs: a, toMs: b });
      return;
    }
    const lo = Math.max(a, input.retainedFrom[level] ?? -Infinity);
    const first = bucketStart(level, lo);
    const s = first === lo ? lo : bucketEnd(level, first);
    const e = bucketStart(level, b);
    if (s < e) {
      decompose(a, s, idx + 1);
      push({ level, fromMs: s, toMs: e });
      decompose(e, b, idx + 1);
    } else decompose(a, b, idx + 1);
  };
  const split = Math.max(input.fromMs, Math.min(input.toMs, input.rawFromMs));
  decompose(input.fromMs, split, 0);
  push({ level: 'raw', fromMs: split, toMs: input.toMs });
  return out;
}
