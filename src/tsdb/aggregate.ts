import { invalidArgument } from '../base/index.js';
import { addPoint, mergeAgg, newAgg } from './rollup.js';
import type { Agg } from './rollup.js';
import type { AggregateFn, FieldValue } from './types.js';

interface AnyAgg {
  count: number;
  first: FieldValue;
  firstTs: number;
  last: FieldValue;
  lastTs: number;
}

/**
 * Accumulates one (group, field)'s buckets from raw points and from rollup
 * records, then finalizes the requested function. Numeric fields support
 * every function; boolean and string fields count, first and last.
 */
export class BucketAggregator {
  private readonly numeric = new Map<number, Agg>();
  private readonly other = new Map<number, AnyAgg>();
  private readonly samples = new Map<number, number[]>();

  constructor(
    readonly fn: AggregateFn,
    private readonly percentile: number | undefined,
  ) {}

  /** The bucket the last numeric point went to (raw points arrive in time order, so runs share a bucket). */
  private lastBucket = NaN;
  private lastAgg: Agg | undefined = undefined;

  addPoint(bucket: number, t: number, v: FieldValue): void {
    if (typeof v === 'number') {
      if (bucket === this.lastBucket) addPoint(this.lastAgg!, t, v);
      else {
        let a = this.numeric.get(bucket);
        if (a === undefined) this.numeric.set(bucket, (a = newAgg(t, v)));
        else addPoint(a, t, v);
        this.lastBucket = bucket;
        this.lastAgg = a;
      }
      if (this.fn === 'percentile') {
        const s = this.samples.get(bucket);
        if (s === undefined) this.samples.set(bucket, [v]);
        else s.push(v);
      }
      return;
    }
    if (this.fn !== 'count' && this.fn !== 'first' && this.fn !== 'last') throw invalidArgument(`${this.fn} needs a numeric field (float or integer)`);
    const a = this.other.get(bucket);
    if (a === undefined) this.other.set(bucket, { count: 1, first: v, firstTs: t, last: v, lastTs: t });
    else {
      a.count++;
      if (t < a.firstTs) {
        a.first = v;
        a.firstTs = t;
      }
      if (t >= a.lastTs) {
        a.last = v;
        a.lastTs = t;
      }
    }
  }

  addAgg(bucket: number, agg: Agg): void {
    const a = this.numeric.get(bucket);
    if (a === undefined) this.numeric.set(bucket, { ...agg });
    else mergeAgg(a, agg);
  }

  /** Buckets ascending with their finalized values. */
  finish(): { times: number[]; values: FieldValue[] } {
    const times: number[] = [];
    const values: FieldValue[] = [];
    const keys = [...new Set([...this.numeric.keys(), ...this.other.keys()])].sort((a, b) => a - b);
    for (const b of keys) {
      const n = this.numeric.get(b);
      const o = this.other.get(b);
      times.push(b);
      if (o !== undefined) {
        values.push(this.fn === 'count' ? o.count : this.fn === 'first' ? o.first : o.last);
        continue;
      }
      const a = n!;
      switch (this.fn) {
        case 'count':
          values.push(a.count);
          break;
        case 'sum':
          values.push(a.sum);
          break;
        case 'min':
          values.push(a.min);
          break;
        case 'max':
          values.push(a.max);
          break;
        case 'avg':
          values.push(a.sum / a.count);
          break;
        case 'first':
          values.push(a.first);
          break;
        case 'last':
          values.push(a.last);
          break;
        case 'percentile':
          values.push(percentileOf(this.samples.get(b)!, this.percentile!));
          break;
      }
    }
    return { times, values };
  }
}

/** Linear interpolation between the closest ranks (numpy's default); NaN samples are ignored. */
export function percentileOf(samples: number[], p: number): number {
  const s = samples.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const rank = (p / 100) * (s.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return s[lo]! + (s[hi]! - s[lo]!) * (rank - lo);
}
