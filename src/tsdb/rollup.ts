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
 * A bucket record: per field id, an Agg. Encoding: u8 version (1), varint
 * field count, then per field: varint field id, varint count, f64 sum, min,
 * max, first, last, and f64 firstTs, lastTs (absolute ms).
 */
const PER_FIELD = 8 * 7;

export function encodeBucket(fields: ReadonlyMap<number, Agg>): Buffer {
  const buf = Buffer.allocUnsafe(1 + 5 + fields.size * (PER_FIELD + 10));
  let off = 0;
  buf[off++] = 1;
  off = putVarint(buf, off, fields.size);
  for (const [id, a] of fields) {
    off = putVarint(buf, off, id);
    off = putVarint(buf, off, a.count);
    off = buf.writeDoubleLE(a.sum, off);
    off = buf.writeDoubleLE(a.min, off);
    off = buf.writeDoubleLE(a.max, off);
    off = buf.writeDoubleLE(a.first, off);
    off = buf.writeDoubleLE(a.last, off);
    off = buf.writeDoubleLE(a.firstTs, off);
    off = buf.writeDoubleLE(a.lastTs, off);
  }
  return buf.subarray(0, off);
}

export function decodeBucket(buf: Buffer, what = '<rollup>'): Map<number, Agg> {
  const out = new Map<number, Agg>();
  const cur = { pos: 0 };
  if (buf.length < 2 || buf[0] !== 1) throw corruption(what, 0, 'unknown rollup record version');
  cur.pos = 1;
  const n = getVar(buf, cur, what);
  for (let i = 0; i < n; i++) {
    const id = getVar(buf, cur, what);
    const count = getVar(buf, cur, what);
    if (cur.pos + PER_FIELD > buf.length) throw corruption(what, cur.pos, 'truncated rollup record');
    const p = cur.pos;
    out.set(id, {
      count,
      sum: buf.readDoubleLE(p),
      min: buf.readDoubleLE(p + 8),
      max: buf.readDoubleLE(p + 16),
      first: buf.readDoubleLE(p + 24),
      last: buf.readDoubleLE(p + 32),
      firstTs: buf.readDoubleLE(p + 40),
      lastTs: buf.readDoubleLE(p + 48),
    });
    cur.pos = p + PER_FIELD;
  }
  if (cur.pos !== buf.length) throw corruption(what, cur.pos, 'trailing bytes after rollup record');
  return out;
}

function getVar(buf: Buffer, cur: { pos: number }, what: string): number {
  const n = getVarint(buf, cur);
  if (n < 0) throw corruption(what, cur.pos, 'bad varint in rollup record');
  return n;
}
