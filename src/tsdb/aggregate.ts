import { invalidArgument } from '../base/index.js';
import { addPoint, addRows, addRowsBefore, emptyAgg, mergeAgg, newAgg } from './rollup.js';
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

  /**
   * Rows [lo, hi) of one column, in ascending time: `addPoint` for each
   * defined value whose row `keep` accepts (all when omitted). Buckets are
   * `everyMs` wide (aligned to the epoch), or `bucketOf(t)` when `everyMs`
   * is undefined (calendar months, or one bucket).
   */
  addColumn(
    times: ArrayLike<number>,
    values: ArrayLike<FieldValue | undefined>,
    lo: number,
    hi: number,
    everyMs: number | undefined,
    bucketOf: (t: number) => number,
    keep?: (row: number) => boolean,
  ): void {
    // A column holds one type: numbers (aggregated a bucket's run of rows at a time) or not.
    let k = lo;
    while (k < hi && values[k] === undefined) k++;
    if (this.fn === 'percentile' || (k < hi && typeof values[k] !== 'number')) {
      for (let r = lo; r < hi; r++) {
        const v = values[r];
        if (v !== undefined && (keep === undefined || keep(r))) this.addPoint(bucketOf(times[r]!), times[r]!, v);
      }
      return;
    }
    this.lastBucket = NaN;
    this.lastAgg = undefined;
    if (everyMs !== undefined && keep === undefined && Array.isArray(values)) {
      this.addDenseNumbers(times, values as number[], k, hi, everyMs);
      return;
    }
    for (let r = k; r < hi; ) {
      if (everyMs !== undefined) {
        const b = Math.floor(times[r]! / everyMs) * everyMs;
        const prev = this.numeric.get(b);
        const a = prev ?? emptyAgg();
        r = addRowsBefore(a, times, values, r, hi, b + everyMs, keep);
        if (prev === undefined && a.count > 0) this.numeric.set(b, a);
        continue;
      }
      const b = bucketOf(times[r]!);
      let e = r + 1;
      while (e < hi && bucketOf(times[e]!) === b) e++;
      const prev = this.numeric.get(b);
      const a = addRows(prev, times, values, r, e, keep);
      if (prev === undefined && a !== undefined) this.numeric.set(b, a);
      r = e;
    }
  }

  /**
   * addColumn's common case (fixed-width buckets, no row filter, values in a
   * plain array: what a chunk column decodes to), one loop over the rows
   * with the bucket's aggregate in locals: this is most of a raw query's
   * time. Absent values (sparse columns) are skipped. The per-row update is
   * rollup.ts addRowsBefore's (kept in step with it), inlined here: a call
   * to it per bucket took 42–46 µs of a 1 h / 1 min query where this takes
   * 31–34 (in-process, tmpbench/qin.mjs), and that query is at parity with
   * VictoriaMetrics.
   */
  private addDenseNumbers(times: ArrayLike<number>, values: readonly (number | undefined)[], lo: number, hi: number, everyMs: number): void {
    let r = lo;
    while (r < hi) {
      const v0 = values[r];
      if (v0 === undefined) {
        r++;
        continue;
      }
      const t0 = times[r]!;
      const b = Math.floor(t0 / everyMs) * everyMs;
      const end = b + everyMs;
      // The bucket's state: carried on from earlier rows (the same order of additions as addRows), or this row's.
      const prev = this.numeric.get(b);
      let count = 1;
      let sum = v0;
      let min = v0;
      let max = v0;
      let first = v0;
      let firstTs = t0;
      let last = v0;
      let lastTs = t0;
      if (prev !== undefined) {
        ({ count, sum, min, max, first, firstTs, last, lastTs } = prev);
      } else r++;
      for (; r < hi; r++) {
        const t = times[r]!;
        if (t >= end) break;
        const v = values[r];
        if (v === undefined) continue;
        count++;
        sum += v;
        if (v < min || Number.isNaN(min)) min = v;
        if (v > max || Number.isNaN(max)) max = v;
        if (t < firstTs) {
          first = v;
          firstTs = t;
        }
        if (t >= lastTs) {
          last = v;
          lastTs = t;
        }
      }
      if (prev === undefined) this.numeric.set(b, { count, sum, min, max, first, firstTs, last, lastTs });
      else {
        prev.count = count;
        prev.sum = sum;
        prev.min = min;
        prev.max = max;
        prev.first = first;
        prev.firstTs = firstTs;
        prev.last = last;
        prev.lastTs = lastTs;
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
    if (this.other.size === 0) {
      // Numeric buckets only, mostly created in time order: walk them as they are unless they were not.
      let ascending = true;
      let prev = -Infinity;
      for (const b of this.numeric.keys()) {
        if (b <= prev) {
          ascending = false;
          break;
        }
        prev = b;
      }
      const entries = ascending ? this.numeric : [...this.numeric].sort((x, y) => x[0] - y[0]);
      for (const [b, a] of entries) {
        times.push(b);
        values.push(this.numericValue(b, a));
      }
      return { times, values };
    }
    const keys = [...new Set([...this.numeric.keys(), ...this.other.keys()])].sort((a, b) => a - b);
    for (const b of keys) {
      const o = this.other.get(b);
      times.push(b);
      if (o !== undefined) values.push(this.fn === 'count' ? o.count : this.fn === 'first' ? o.first : o.last);
      else values.push(this.numericValue(b, this.numeric.get(b)!));
    }
    return { times, values };
  }

  /** The requested function of one numeric bucket. */
  private numericValue(b: number, a: Agg): FieldValue {
    switch (this.fn) {
      case 'count':
        return a.count;
      case 'sum':
        return a.sum;
      case 'min':
        return a.min;
      case 'max':
        return a.max;
      case 'avg':
        return a.sum / a.count;
      case 'first':
        return a.first;
      case 'last':
        return a.last;
      case 'percentile':
        return percentileOf(this.samples.get(b)!, this.percentile!);
    }
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
