import { corruption, getVarint, putVarint } from '../base/index.js';
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

/**
 * `addPoint` for every numeric value of rows [lo, hi) that `keep` accepts,
 * in row order (the same sums to the last bit), into `a`, or into a new
 * aggregate from the first such value when `a` is undefined (then returned;
 * undefined when there was none). One call per run of rows: the values stay
 * unboxed, where a call per value would box each double it passes.
 */
export function addRows(a: Agg | undefined, times: ArrayLike<number>, values: ArrayLike<unknown>, lo: number, hi: number, keep?: (row: number) => boolean): Agg | undefined {
  let r = lo;
  if (a === undefined) {
    for (; r < hi && a === undefined; r++) {
      const v = values[r];
      if (typeof v === 'number' && (keep === undefined || keep(r))) a = newAgg(times[r]!, v);
    }
    if (a === undefined) return undefined;
  }
  let { count, sum, min, max, first, firstTs, last, lastTs } = a;
  for (; r < hi; r++) {
    const v = values[r];
    if (typeof v !== 'number' || (keep !== undefined && !keep(r))) continue;
    const t = times[r]!;
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
  return a;
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
 * A bucket record: per field id, an Agg. Encoding (version 2):
 *
 *   u8 version (2) · varint field count, then per field:
 *     varint field id · varint count · value sum · value min · value max · value first · value last
 *     · varint (first time - bucket start) · varint (last time - bucket start)
 *
 * A value is a tag byte and its payload: 0 → f64 LE; 1..16 → the value is
 * m / 10^(tag-1) exactly, with m as a zigzag varint (two-decimal sensor
 * readings take 2–4 bytes instead of 8); 17 → the same value as the
 * previous one of this field (first == min, ...). Times are inside the
 * bucket, so their offsets are small.
 */
const VERSION = 2;
const TAG_F64 = 0;
const TAG_SAME = 17;
const MAX_DIGITS = 15;
const POW10 = Array.from({ length: MAX_DIGITS + 1 }, (_, k) => 10 ** k);

/** Digits k (0..15) such that v = m / 10^k exactly with m a safe integer, or -1. */
function decimalDigits(v: number): number {
  if (!Number.isFinite(v) || Object.is(v, -0)) return -1;
  for (let k = 0; k <= MAX_DIGITS; k++) {
    const m = Math.round(v * POW10[k]!);
    if (!Number.isSafeInteger(m)) return -1;
    if (m / POW10[k]! === v) return k;
  }
  return -1;
}

const zz = (n: number) => (n >= 0 ? n * 2 : -n * 2 - 1);
const unzz = (z: number) => (z % 2 === 0 ? z / 2 : -(z + 1) / 2);

export function encodeBucket(fields: ReadonlyMap<number, Agg>, bucketStartMs: number): Buffer {
  const buf = Buffer.allocUnsafe(1 + 9 + fields.size * (2 * 9 + 5 * 10 + 2 * 9));
  let off = 0;
  buf[off++] = VERSION;
  off = putVarint(buf, off, fields.size);
  for (const [id, a] of fields) {
    off = putVarint(buf, off, id);
    off = putVarint(buf, off, a.count);
    let prev: number | undefined;
    for (const v of [a.sum, a.min, a.max, a.first, a.last]) {
      if (prev !== undefined && Object.is(v, prev)) buf[off++] = TAG_SAME;
      else {
        const k = decimalDigits(v);
        const m = k < 0 ? 0 : Math.round(v * POW10[k]!);
        if (k >= 0 && Math.abs(m) < 2 ** 52) {
          buf[off++] = k + 1;
          off = putVarint(buf, off, zz(m));
        } else {
          buf[off++] = TAG_F64;
          off = buf.writeDoubleLE(v, off);
        }
      }
      prev = v;
    }
    off = putVarint(buf, off, a.firstTs - bucketStartMs);
    off = putVarint(buf, off, a.lastTs - bucketStartMs);
  }
  return buf.subarray(0, off);
}

export function decodeBucket(buf: Buffer, bucketStartMs: number, what = '<rollup>'): Map<number, Agg> {
  const out = new Map<number, Agg>();
  const cur = { pos: 0 };
  if (buf.length < 2 || buf[0] !== VERSION) throw corruption(what, 0, 'unknown rollup record version');
  cur.pos = 1;
  const n = getVar(buf, cur, what);
  const vals = [0, 0, 0, 0, 0];
  for (let i = 0; i < n; i++) {
    const id = getVar(buf, cur, what);
    const count = getVar(buf, cur, what);
    for (let j = 0; j < 5; j++) {
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
    const firstTs = bucketStartMs + getVar(buf, cur, what);
    const lastTs = bucketStartMs + getVar(buf, cur, what);
    out.set(id, { count, sum: vals[0]!, min: vals[1]!, max: vals[2]!, first: vals[3]!, last: vals[4]!, firstTs, lastTs });
  }
  if (cur.pos !== buf.length) throw corruption(what, cur.pos, 'trailing bytes after rollup record');
  return out;
}

function getVar(buf: Buffer, cur: { pos: number }, what: string): number {
  const n = getVarint(buf, cur);
  if (n < 0) throw corruption(what, cur.pos, 'bad varint in rollup record');
  return n;
}
