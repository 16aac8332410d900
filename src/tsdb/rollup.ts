import { corruption, getVarint, putVarint } from '../base/index.js';
import { HI, LO, unzigzag as unzz, zigzag as zz } from './codec/bits.js';
import type { Interval, RollupLevel } from './types.js';

/**
 * Rollup levels and the aggregate record they store. Every level keeps, per
 * bucket and numeric field: count, sum, min, max, first (earliest point) and
 * last (latest point) with their times, so avg = sum / count and every
 * level combines exactly into the next (DESIGN.md "Time series").
 */

/** Level codes in keys: 1 = 1h, 2 = 1d, 3 = 1M, 4 = 1y. */
export const LEVEL_CODE: Record<RollupLevel, number> = { '1h': 1, '1d': 2, '1M': 3, '1y': 4 };
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

/** Start of the UTC month containing t. */
function monthStart(t: number): number {
  const d = new Date(t);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

function addMonths(t: number, n: number): number {
  const d = new Date(t);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + n, 1);
}

/** Months since 1970-01 of the month containing t. */
function monthIndex(t: number): number {
  const d = new Date(t);
  return (d.getUTCFullYear() - 1970) * 12 + d.getUTCMonth();
}

function fromMonthIndex(i: number): number {
  return Date.UTC(1970 + Math.floor(i / 12), ((i % 12) + 12) % 12, 1);
}

/** The start of the bucket of `level` containing t (UTC). */
export function bucketStart(level: RollupLevel, t: number): number {
  switch (level) {
    case '1h':
      return Math.floor(t / HOUR_MS) * HOUR_MS;
    case '1d':
      return Math.floor(t / DAY_MS) * DAY_MS;
    case '1M':
      return monthStart(t);
    case '1y':
      return Date.UTC(new Date(t).getUTCFullYear(), 0, 1);
  }
}

/** The start of the next bucket of `level` after the one starting at `start`. */
export function bucketEnd(level: RollupLevel, start: number): number {
  switch (level) {
    case '1h':
      return start + HOUR_MS;
    case '1d':
      return start + DAY_MS;
    case '1M':
      return addMonths(start, 1);
    case '1y':
      return addMonths(start, 12);
  }
}

/** The next-finer level (whose buckets tile this one), or undefined for 1h. */
export function finerLevel(level: RollupLevel): RollupLevel | undefined {
  return level === '1y' ? '1M' : level === '1M' ? '1d' : level === '1d' ? '1h' : undefined;
}

/** Start of the group-by bucket of `every` containing t (aligned to the epoch, UTC). */
export function intervalStart(every: Interval, t: number): number {
  if ('ms' in every) return Math.floor(t / every.ms) * every.ms;
  const i = monthIndex(t);
  return fromMonthIndex(Math.floor(i / every.months) * every.months);
}

export function intervalEnd(every: Interval, start: number): number {
  return 'ms' in every ? start + every.ms : addMonths(start, every.months);
}

/** Whether buckets of `level` nest inside group-by buckets of `every` (each level bucket lies in one). */
export function levelFitsInterval(level: RollupLevel, every: Interval | undefined): boolean {
  if (every === undefined) return true;
  if ('ms' in every) {
    if (level === '1h') return every.ms % HOUR_MS === 0;
    if (level === '1d') return every.ms % DAY_MS === 0;
    return false;
  }
  if (level === '1h' || level === '1d' || level === '1M') return true;
  return every.months % 12 === 0;
}

/** A mergeable aggregate of numeric values. */
export interface Agg {
  count: number;
  sum: number;
  min: number;
  max: number;
  first: number;
  firstTs: number;
  last: number;
  lastTs: number;
}

export function newAgg(t: number, v: number): Agg {
  return { count: 1, sum: v, min: v, max: v, first: v, firstTs: t, last: v, lastTs: t };
}

/** Adds one point. NaN values count but never become min or max (Prometheus staleness markers). */
export function addPoint(a: Agg, t: number, v: number): void {
  a.count++;
  a.sum += v;
  if (v < a.min || Number.isNaN(a.min)) a.min = v;
  if (v > a.max || Number.isNaN(a.max)) a.max = v;
  if (t < a.firstTs) {
    a.first = v;
    a.firstTs = t;
  }
  if (t >= a.lastTs) {
    a.last = v;
    a.lastTs = t;
  }
}

/** An aggregate of no points yet: adding a value v makes sum v exactly (-0 included), and min, max, first and last v. */
export function emptyAgg(): Agg {
  return { count: 0, sum: -0, min: Number.NaN, max: Number.NaN, first: Number.NaN, firstTs: Infinity, last: Number.NaN, lastTs: -Infinity };
}

/**
 * `addPoint` into `a` for every numeric value of rows lo.. that `keep`
 * accepts, in row order (the same sums to the last bit), up to `hi` or the
 * first row whose time is `endMs` or later (rows are in time order): one
 * bucket's run of rows in one pass. Returns the row it stopped at. One call
 * per run: the values stay unboxed, where a call per value would box each
 * double it passes.
 */
export function addRowsBefore(
  a: Agg,
  times: ArrayLike<number>,
  values: ArrayLike<unknown>,
  lo: number,
  hi: number,
  endMs: number,
  keep?: (row: number) => boolean,
): number {
  let { count, sum, min, max, first, firstTs, last, lastTs } = a;
  let r = lo;
  for (; r < hi; r++) {
    const t = times[r]!;
    if (t >= endMs) break;
    const v = values[r];
    if (typeof v !== 'number' || (keep !== undefined && !keep(r))) continue;
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
  a.count = count;
  a.sum = sum;
  a.min = min;
  a.max = max;
  a.first = first;
  a.firstTs = firstTs;
  a.last = last;
  a.lastTs = lastTs;
  return r;
}

/**
 * `addRowsBefore` over rows [lo, hi) whatever their times, into `a`, or into
 * a new aggregate when `a` is undefined (then returned; undefined when no
 * value was taken).
 */
export function addRows(a: Agg | undefined, times: ArrayLike<number>, values: ArrayLike<unknown>, lo: number, hi: number, keep?: (row: number) => boolean): Agg | undefined {
  const into = a ?? emptyAgg();
  addRowsBefore(into, times, values, lo, hi, Infinity, keep);
  return a === undefined && into.count === 0 ? undefined : into;
}

/** Merges b into a. */
export function mergeAgg(a: Agg, b: Agg): void {
  a.count += b.count;
  a.sum += b.sum;
  if (b.min < a.min || Number.isNaN(a.min)) a.min = b.min;
  if (b.max > a.max || Number.isNaN(a.max)) a.max = b.max;
  if (b.firstTs < a.firstTs) {
    a.first = b.first;
    a.firstTs = b.firstTs;
  }
  if (b.lastTs >= a.lastTs) {
    a.last = b.last;
    a.lastTs = b.lastTs;
  }
}

export function cloneAgg(a: Agg): Agg {
  return { ...a };
}

/**
 * A bucket record: per field id, an Agg. Encoding (version 3; version 2 is
 * still read):
 *
 *   u8 version (3) · varint field count, then per field:
 *     varint field id · u8 flags
 *     [unless flags bit 5] varint count · varint (firstTs - bucket start) · zigzag varint (lastTs - firstTs)
 *     values, by the scale s = flags bits 0–4:
 *       s = 0: five tagged values (below): sum min max first last
 *       s ≥ 1: first, last, min and max are m / 10^k exactly, k = s - 1, as
 *              zigzag varint mFirst · zigzag varint (mLast - mFirst)
 *              · varint (mMax - max(mFirst, mLast)) · varint (min(mFirst, mLast) - mMin)
 *              then the sum: a tagged value when flags bit 6, otherwise
 *              zigzag varint (mSum - round(count × (mMin + mMax) / 2)) · zigzag varint d:
 *              the sum is mSum / 10^k moved by d units in the last place (its
 *              magnitude's bit pattern + d, same sign), which carries the
 *              rounding of a floating-point running sum exactly
 *   Flags bit 5: count and times are those of the previous field (fields
 *   written together share them).
 *
 * A tagged value is a tag byte and its payload: 0 → f64 LE; 1..16 → the
 * value is m / 10^(tag-1) exactly, with m as a zigzag varint; 17 → the same
 * value as the previous one of this field (first == min, ...).
 *
 * Version 2 (written before 2026-12): u8 version (2) · varint field count,
 * then per field: varint field id · varint count · five tagged values (sum
 * min max first last) · varint (firstTs - bucket start) · varint (lastTs -
 * bucket start).
 *
 * Two-decimal sensor data takes ~13 bytes per field and hour in version 3,
 * ~29 in version 2: the values of one bucket are close to each other, so
 * their differences are short.
 */
const VERSION_2 = 2;
const VERSION = 3;
const TAG_F64 = 0;
const TAG_SAME = 17;
export const MAX_DIGITS = 15;
export const POW10 = Array.from({ length: MAX_DIGITS + 1 }, (_, k) => 10 ** k);
const FLAG_SAME_META = 0x20;
const FLAG_SUM_TAGGED = 0x40;
const SCALE_MASK = 0x1f;
/** Largest unit-in-the-last-place correction of a sum the residual form carries. */
const MAX_ULPS = 2 ** 40;
const TWO_32 = 4294967296;

/** Digits k (0..15) such that v = m / 10^k exactly with m a safe integer, or -1. */
export function decimalDigits(v: number): number {
  if (!Number.isFinite(v) || Object.is(v, -0)) return -1;
  for (let k = 0; k <= MAX_DIGITS; k++) {
    const m = Math.round(v * POW10[k]!);
    if (!Number.isSafeInteger(m)) return -1;
    if (m / POW10[k]! === v) return k;
  }
  return -1;
}

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);

/**
 * (bits of `a`'s magnitude) - (bits of `b`'s magnitude), when both have the
 * same sign bit and the difference is within ±MAX_ULPS; otherwise undefined.
 */
export function ulpDistance(a: number, b: number): number | undefined {
  f64[0] = a;
  const ah = u32[HI]!;
  const al = u32[LO]!;
  f64[0] = b;
  const bh = u32[HI]!;
  const bl = u32[LO]!;
  if ((ah ^ bh) >>> 31 !== 0) return undefined;
  const d = ((ah & 0x7fffffff) - (bh & 0x7fffffff)) * TWO_32 + (al - bl);
  return Math.abs(d) <= MAX_ULPS ? d : undefined;
}

/** `b` with its magnitude's bit pattern moved by d, or undefined when that leaves the sign's range. */
export function addUlps(b: number, d: number): number | undefined {
  f64[0] = b;
  const sign = u32[HI]! & 0x80000000;
  const total = u32[LO]! + d;
  const carry = Math.floor(total / TWO_32);
  const hi = (u32[HI]! & 0x7fffffff) + carry;
  if (hi < 0 || hi > 0x7fffffff) return undefined;
  u32[HI] = (sign | hi) >>> 0;
  u32[LO] = total - carry * TWO_32;
  return f64[0]!;
}

/** Writes a tagged value; returns the new offset. */
function putTagged(buf: Buffer, off: number, v: number, prev: number | undefined): number {
  if (prev !== undefined && Object.is(v, prev)) {
    buf[off++] = TAG_SAME;
    return off;
  }
  const k = decimalDigits(v);
  const m = k < 0 ? 0 : Math.round(v * POW10[k]!);
  if (k >= 0 && Math.abs(m) < 2 ** 52) {
    buf[off++] = k + 1;
    return putVarint(buf, off, zz(m));
  }
  buf[off++] = TAG_F64;
  return buf.writeDoubleLE(v, off);
}

/**
 * The decimal scale k (0..15) at which every aggregate's first, last, min and
 * max is m / 10^k exactly with |m| < maxM and min ≤ first, last ≤ max; -1 when
 * there is none (a NaN, -0, a full-precision double).
 */
export function decimalScale(aggs: readonly Agg[], maxM: number): number {
  let k = 0;
  for (const a of aggs) {
    for (const v of [a.first, a.last, a.min, a.max]) {
      const d = decimalDigits(v);
      if (d < 0) return -1;
      if (d > k) k = d;
    }
  }
  const p = POW10[k]!;
  for (const a of aggs) {
    const mf = Math.round(a.first * p);
    const ml = Math.round(a.last * p);
    const mn = Math.round(a.min * p);
    const mx = Math.round(a.max * p);
    for (const m of [mf, ml, mn, mx]) if (!(Math.abs(m) < maxM)) return -1;
    if (mf / p !== a.first || ml / p !== a.last || mn / p !== a.min || mx / p !== a.max) return -1;
    if (mx < Math.max(mf, ml) || mn > Math.min(mf, ml)) return -1;
  }
  return k;
}

/** The decimal form of one aggregate's values, or undefined when they have none. */
function decimalForm(a: Agg): { k: number; mFirst: number; mLast: number; mMin: number; mMax: number } | undefined {
  const k = decimalScale([a], 2 ** 52);
  if (k < 0) return undefined;
  const p = POW10[k]!;
  return { k, mFirst: Math.round(a.first * p), mLast: Math.round(a.last * p), mMin: Math.round(a.min * p), mMax: Math.round(a.max * p) };
}

export function sumPrediction(count: number, mMin: number, mMax: number): number {
  return Math.round((count * (mMin + mMax)) / 2);
}

export function encodeBucket(fields: ReadonlyMap<number, Agg>, bucketStartMs: number): Buffer {
  const buf = Buffer.allocUnsafe(1 + 9 + fields.size * (9 + 1 + 3 * 9 + 5 * 10 + 2 * 9));
  let off = 0;
  buf[off++] = VERSION;
  off = putVarint(buf, off, fields.size);
  let prev: Agg | undefined;
  for (const [id, a] of fields) {
    off = putVarint(buf, off, id);
    const flagsAt = off++;
    let flags = 0;
    if (prev !== undefined && prev.count === a.count && prev.firstTs === a.firstTs && prev.lastTs === a.lastTs) flags |= FLAG_SAME_META;
    else {
      off = putVarint(buf, off, a.count);
      off = putVarint(buf, off, a.firstTs - bucketStartMs);
      off = putVarint(buf, off, zz(a.lastTs - a.firstTs));
    }
    prev = a;
    const d = decimalForm(a);
    if (d === undefined) {
      let before: number | undefined;
      for (const v of [a.sum, a.min, a.max, a.first, a.last]) {
        off = putTagged(buf, off, v, before);
        before = v;
      }
    } else {
      flags |= d.k + 1;
      off = putVarint(buf, off, zz(d.mFirst));
      off = putVarint(buf, off, zz(d.mLast - d.mFirst));
      off = putVarint(buf, off, d.mMax - Math.max(d.mFirst, d.mLast));
      off = putVarint(buf, off, Math.min(d.mFirst, d.mLast) - d.mMin);
      const p = POW10[d.k]!;
      const mSum = Math.round(a.sum * p);
      const prediction = sumPrediction(a.count, d.mMin, d.mMax);
      const residual = mSum - prediction;
      let ulps: number | undefined;
      if (Number.isSafeInteger(mSum) && Number.isSafeInteger(prediction) && Number.isSafeInteger(residual) && prediction + residual === mSum) {
        ulps = ulpDistance(a.sum, mSum / p);
        // The decoder's arithmetic must give back this very sum.
        if (ulps !== undefined && !Object.is(addUlps(mSum / p, ulps), a.sum)) ulps = undefined;
      }
      if (ulps === undefined) {
        flags |= FLAG_SUM_TAGGED;
        off = putTagged(buf, off, a.sum, undefined);
      } else {
        off = putVarint(buf, off, zz(residual));
        off = putVarint(buf, off, zz(ulps));
      }
    }
    buf[flagsAt] = flags;
  }
  return buf.subarray(0, off);
}

export function decodeBucket(buf: Buffer, bucketStartMs: number, what = '<rollup>'): Map<number, Agg> {
  if (buf.length < 2 || (buf[0] !== VERSION && buf[0] !== VERSION_2)) throw corruption(what, 0, 'unknown rollup record version');
  const out = new Map<number, Agg>();
  const cur = { pos: 1 };
  const n = getVar(buf, cur, what);
  if (buf[0] === VERSION_2) {
    const vals = [0, 0, 0, 0, 0];
    for (let i = 0; i < n; i++) {
      const id = getVar(buf, cur, what);
      const count = getVar(buf, cur, what);
      getTaggedValues(buf, cur, vals, what);
      const firstTs = bucketStartMs + getVar(buf, cur, what);
      const lastTs = bucketStartMs + getVar(buf, cur, what);
      out.set(id, { count, sum: vals[0]!, min: vals[1]!, max: vals[2]!, first: vals[3]!, last: vals[4]!, firstTs, lastTs });
    }
  } else {
    let prev: Agg | undefined;
    const vals = [0, 0, 0, 0, 0];
    for (let i = 0; i < n; i++) {
      const id = getVar(buf, cur, what);
      if (cur.pos >= buf.length) throw corruption(what, cur.pos, 'truncated rollup record');
      const flags = buf[cur.pos++]!;
      const scale = flags & SCALE_MASK;
      if (flags & 0x80 || scale > MAX_DIGITS + 1 || (scale === 0 && flags & FLAG_SUM_TAGGED)) throw corruption(what, cur.pos - 1, `bad flags ${flags} in rollup record`);
      let count: number;
      let firstTs: number;
      let lastTs: number;
      if (flags & FLAG_SAME_META) {
        if (prev === undefined) throw corruption(what, cur.pos - 1, 'first field of a rollup record refers to a previous one');
        ({ count, firstTs, lastTs } = prev);
      } else {
        count = getVar(buf, cur, what);
        firstTs = bucketStartMs + getVar(buf, cur, what);
        lastTs = firstTs + unzz(getVar(buf, cur, what));
      }
      let a: Agg;
      if (scale === 0) {
        getTaggedValues(buf, cur, vals, what);
        a = { count, sum: vals[0]!, min: vals[1]!, max: vals[2]!, first: vals[3]!, last: vals[4]!, firstTs, lastTs };
      } else {
        const p = POW10[scale - 1]!;
        const mFirst = unzz(getVar(buf, cur, what));
        const mLast = mFirst + unzz(getVar(buf, cur, what));
        const mMax = Math.max(mFirst, mLast) + getVar(buf, cur, what);
        const mMin = Math.min(mFirst, mLast) - getVar(buf, cur, what);
        let sum: number;
        if (flags & FLAG_SUM_TAGGED) {
          vals[0] = 0;
          getTagged(buf, cur, vals, 0, what);
          sum = vals[0];
        } else {
          const mSum = sumPrediction(count, mMin, mMax) + unzz(getVar(buf, cur, what));
          const s = addUlps(mSum / p, unzz(getVar(buf, cur, what)));
          if (s === undefined) throw corruption(what, cur.pos, 'rollup sum correction out of range');
          sum = s;
        }
        a = { count, sum, min: mMin / p, max: mMax / p, first: mFirst / p, last: mLast / p, firstTs, lastTs };
      }
      out.set(id, a);
      prev = a;
    }
  }
  if (cur.pos !== buf.length) throw corruption(what, cur.pos, 'trailing bytes after rollup record');
  return out;
}

/** Reads the tagged value j of `vals` (17 copies value j-1). */
function getTagged(buf: Buffer, cur: { pos: number }, vals: number[], j: number, what: string): void {
  if (cur.pos >= buf.length) throw corruption(what, cur.pos, 'truncated rollup record');
  const tag = buf[cur.pos++]!;
  if (tag === TAG_F64) {
    if (cur.pos + 8 > buf.length) throw corruption(what, cur.pos, 'truncated rollup record');
    vals[j] = buf.readDoubleLE(cur.pos);
    cur.pos += 8;
  } else if (tag === TAG_SAME && j > 0) vals[j] = vals[j - 1]!;
  else if (tag >= 1 && tag <= MAX_DIGITS + 1) vals[j] = unzz(getVar(buf, cur, what)) / POW10[tag - 1]!;
  else throw corruption(what, cur.pos - 1, `bad value tag ${tag} in rollup record`);
}

/** Reads five tagged values: sum min max first last. */
function getTaggedValues(buf: Buffer, cur: { pos: number }, vals: number[], what: string): void {
  for (let j = 0; j < 5; j++) getTagged(buf, cur, vals, j, what);
}

function getVar(buf: Buffer, cur: { pos: number }, what: string): number {
  const n = getVarint(buf, cur);
  if (n < 0) throw corruption(what, cur.pos, 'bad varint in rollup record');
  return n;
}
