import { corruption, getVarint, putVarint } from '../base/index.js';
import { BitReader, BitWriter, bitWidth, HI, LO, unzigzag as unzz, zigzag as zz } from './codec/bits.js';
import { addUlps, decimalScale, HOUR_MS, MAX_DIGITS, POW10, sumPrediction, ulpDistance } from './rollup.js';
import type { Agg } from './rollup.js';

/**
 * The 1h rollup buckets of one series and one UTC day, in one record
 * (docs/formats.md "Rollup day record"). Hour records one by one cost ~13
 * bytes per field and hour plus an engine entry each; a day of them in one
 * record, with each field's hours coded against each other, ~9: an hour's
 * first value is close to the hour before's last, counts and times repeat,
 * and each kind of number (a span, a sum's residual) gets its Rice parameter
 * once per field and day. Each field is a separate bit stream, so a query
 * decodes only the fields it asks for.
 *
 *   u8 version (4) · varint fields · the record's common count, first-time
 *   offset and span: varint count · varint (firstTs - hour start) · zigzag
 *   varint (lastTs - firstTs) · per field: varint field id · varint n ·
 *   n bytes, a bit stream (MSB first, padded with 1 bits):
 *     24 bits: the hours present (hour 0 first) · 5 bits scale s
 *     per present hour: 1 bit "the record's common count and times", or 0
 *       and G(count) · G(firstTs - hour start) · G(zz(lastTs - firstTs))
 *     s = 0 (values as doubles): per present hour the sum's 64 bits, then for
 *       min, max, first, last: 1 bit "the same as the value before", or 0 and 64 bits
 *     s ≥ 1 (first, last, min, max are m / 10^(s-1) exactly), with n present hours:
 *       G(zz(mFirst of the first hour)) · n bits: sum as 64 bits (1) or residual (0)
 *       Rice sequences, each 6 bits k then one code per hour:
 *         zz(mFirst - mLast of the hour before)   (hours after the first)
 *         zz(mLast - mFirst) · mMax - max(mFirst, mLast) · min(mFirst, mLast) - mMin
 *         zz(mSum - round(count × (mMin + mMax) / 2)) and zz(d)   (residual-form sums: the
 *           sum is mSum / 10^(s-1) with its magnitude's bit pattern moved by d, as in
 *           rollup bucket records)
 *       then the 64 bits of each sum in 64-bit form
 *
 * G(n) is the Exp-Golomb code of n (w - 1 zeros, then n + 1 in its w bits);
 * zz the zigzag map. A Rice code of z with parameter k: q = floor(z / 2^k)
 * ones, a zero and the k low bits when q < 16, else 16 ones, 6 bits w and z in
 * w bits. An empty sequence has no k.
 */
export const DAY_RECORD_VERSION = 4;
const HOURS = 24;
const ESCAPE_Q = 16;
const MAX_K = 52;
const TWO_32 = 4294967296;
/** Decimal mantissas this record codes as differences: their differences stay exact below 2^53 as zigzags. */
const MAX_M = 2 ** 50;

function putBits(bw: BitWriter, z: number, n: number): void {
  if (n > 32) bw.writeBits64(Math.floor(z / TWO_32), z >>> 0, n);
  else bw.writeBits(z >>> 0, n);
}

function getBits(br: BitReader, n: number): number {
  return n > 32 ? br.readBits(n - 32) * TWO_32 + br.readBits(32) : br.readBits(n);
}

/** Exp-Golomb code of n (0 ≤ n < 2^53). */
function putG(bw: BitWriter, n: number): void {
  const w = bitWidth(n + 1);
  for (let zeros = w - 1; zeros > 0; zeros -= 32) bw.writeBits(0, Math.min(32, zeros));
  putBits(bw, n + 1, w);
}

function getG(br: BitReader): number {
  let zeros = 0;
  while (br.readBit() === 0) if (++zeros > 53) br.fail('rollup day record: Exp-Golomb code longer than 54 bits');
  return (zeros === 0 ? 1 : 2 ** zeros + getBits(br, zeros)) - 1;
}

function riceBits(z: number, k: number): number {
  const q = z < 2147483648 && k < 31 ? z >>> k : Math.floor(z / 2 ** k);
  return q < ESCAPE_Q ? q + 1 + k : ESCAPE_Q + 6 + bitWidth(z);
}

/** Writes 6 bits of the cheapest k, then each code (nothing for an empty sequence). */
function putRiceSeq(bw: BitWriter, zs: readonly number[]): void {
  if (zs.length === 0) return;
  // The best k of a geometric-like sequence is near log2 of its mean: try around it.
  let sum = 0;
  for (const z of zs) sum += z;
  const k0 = Math.max(0, bitWidth(Math.floor(sum / zs.length)) - 2);
  let best = Infinity;
  let bestK = 0;
  for (let k = k0; k <= Math.min(MAX_K, k0 + 3); k++) {
    let bits = 0;
    for (const z of zs) bits += riceBits(z, k);
    if (bits < best) {
      best = bits;
      bestK = k;
    }
  }
  bw.writeBits(bestK, 6);
  for (const z of zs) {
    const q = Math.floor(z / 2 ** bestK);
    if (q < ESCAPE_Q) {
      bw.writeBits(((1 << q) - 1) << 1, q + 1);
      putBits(bw, z % 2 ** bestK, bestK);
    } else {
      bw.writeBits((1 << ESCAPE_Q) - 1, ESCAPE_Q);
      const w = bitWidth(z);
      bw.writeBits(w, 6);
      putBits(bw, z, w);
    }
  }
}

function getRiceSeq(br: BitReader, n: number): number[] {
  const out: number[] = [];
  if (n === 0) return out;
  const k = br.readBits(6);
  if (k > MAX_K) br.fail(`rollup day record: Rice parameter ${k}`);
  for (let i = 0; i < n; i++) {
    // The unary part: leading ones of the next 17 bits (bits past the end read as zeros).
    const ones = Math.clz32(~(br.peekBits(17) << 15));
    const q = ones < ESCAPE_Q ? ones : ESCAPE_Q;
    br.skipBits(q < ESCAPE_Q ? q + 1 : q);
    if (q < ESCAPE_Q) out.push(q * 2 ** k + getBits(br, k));
    else {
      const w = br.readBits(6);
      if (w > 53) br.fail(`rollup day record: escape of ${w} bits`);
      out.push(getBits(br, w));
    }
  }
  return out;
}

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);

function putDouble(bw: BitWriter, v: number): void {
  f64[0] = v;
  bw.writeBits(u32[HI]!, 32);
  bw.writeBits(u32[LO]!, 32);
}

function getDouble(br: BitReader): number {
  u32[HI] = br.readBits(32);
  u32[LO] = br.readBits(32);
  return f64[0]!;
}

/**
 * Encodes the 1h buckets of the UTC day starting at `dayMs`: bucket start →
 * field id → aggregate. Every bucket start must be an hour of that day and
 * hold at least one field; times must lie in their hour.
 */
export function encodeDayHours(dayMs: number, hours: ReadonlyMap<number, ReadonlyMap<number, Agg>>): Buffer {
  // Field id → aggregates by hour index.
  const fields = new Map<number, Array<Agg | undefined>>();
  for (const [start, byField] of hours) {
    const h = (start - dayMs) / HOUR_MS;
    if (!Number.isInteger(h) || h < 0 || h >= HOURS) throw new Error(`assertion failed: bucket ${start} is not an hour of day ${dayMs}`);
    for (const [id, a] of byField) {
      let row = fields.get(id);
      if (row === undefined) fields.set(id, (row = new Array<Agg | undefined>(HOURS).fill(undefined)));
      row[h] = a;
    }
  }
  // The record's common count and times: those of the most hours.
  const tally = new Map<string, { n: number; meta: [number, number, number] }>();
  for (const [start, byField] of hours) {
    for (const a of byField.values()) {
      const meta: [number, number, number] = [a.count, a.firstTs - start, a.lastTs - a.firstTs];
      const key = meta.join();
      const t = tally.get(key);
      if (t === undefined) tally.set(key, { n: 1, meta });
      else t.n++;
    }
  }
  let common: [number, number, number] = [1, 0, 0];
  let most = 0;
  for (const t of tally.values()) if (t.n > most) [most, common] = [t.n, t.meta];
  const parts: Buffer[] = [];
  const head = Buffer.allocUnsafe(1 + 4 * 9);
  let off = 0;
  head[off++] = DAY_RECORD_VERSION;
  off = putVarint(head, off, fields.size);
  off = putVarint(head, off, common[0]);
  off = putVarint(head, off, common[1]);
  off = putVarint(head, off, zz(common[2]));
  parts.push(head.subarray(0, off));
  for (const [id, row] of fields) {
    const bw = new BitWriter(256);
    let mask = 0;
    const present: Array<[number, Agg]> = [];
    for (let h = 0; h < HOURS; h++) {
      const a = row[h];
      if (a === undefined) continue;
      mask |= 1 << (HOURS - 1 - h);
      present.push([dayMs + h * HOUR_MS, a]);
    }
    bw.writeBits(mask, HOURS);
    const aggs = present.map(([, a]) => a);
    const k = decimalScale(aggs, MAX_M);
    bw.writeBits(k + 1, 5);
    for (const [start, a] of present) {
      if (a.count === common[0] && a.firstTs - start === common[1] && a.lastTs - a.firstTs === common[2]) bw.writeBit(1);
      else {
        bw.writeBit(0);
        putG(bw, a.count);
        putG(bw, a.firstTs - start);
        putG(bw, zz(a.lastTs - a.firstTs));
      }
    }
    writeFieldValues(bw, k, aggs);
    const body = bw.finish();
    const fh = Buffer.allocUnsafe(18);
    const fl = putVarint(fh, putVarint(fh, 0, id), body.length);
    parts.push(fh.subarray(0, fl), body);
  }
  return Buffer.concat(parts);
}

/** The values of one field's present hours (after its hours and metas) at scale k (-1: doubles). */
function writeFieldValues(bw: BitWriter, k: number, aggs: readonly Agg[]): void {
  if (k < 0) {
    for (const a of aggs) {
      putDouble(bw, a.sum);
      let before = a.sum;
      for (const v of [a.min, a.max, a.first, a.last]) {
        if (Object.is(v, before)) bw.writeBit(1);
        else {
          bw.writeBit(0);
          putDouble(bw, v);
        }
        before = v;
      }
    }
    return;
  }
  const p = POW10[k]!;
  const firsts: number[] = [];
  const spans: number[] = [];
  const above: number[] = [];
  const below: number[] = [];
  const residuals: number[] = [];
  const ulps: number[] = [];
  const rawSums: number[] = [];
  const sumRaw: number[] = [];
  let prevLast: number | undefined;
  for (const a of aggs) {
    const mf = Math.round(a.first * p);
    const ml = Math.round(a.last * p);
    const mn = Math.round(a.min * p);
    const mx = Math.round(a.max * p);
    if (prevLast === undefined) putG(bw, zz(mf));
    else firsts.push(zz(mf - prevLast));
    prevLast = ml;
    spans.push(zz(ml - mf));
    above.push(mx - Math.max(mf, ml));
    below.push(Math.min(mf, ml) - mn);
    const mSum = Math.round(a.sum * p);
    const prediction = sumPrediction(a.count, mn, mx);
    let d: number | undefined;
    if (Math.abs(mSum) < MAX_M && Math.abs(prediction) < MAX_M) {
      d = ulpDistance(a.sum, mSum / p);
      if (d !== undefined && !Object.is(addUlps(mSum / p, d), a.sum)) d = undefined;
    }
    if (d === undefined) {
      sumRaw.push(1);
      rawSums.push(a.sum);
    } else {
      sumRaw.push(0);
      residuals.push(zz(mSum - prediction));
      ulps.push(zz(d));
    }
  }
  for (const b of sumRaw) bw.writeBit(b);
  for (const seq of [firsts, spans, above, below, residuals, ulps]) putRiceSeq(bw, seq);
  for (const s of rawSums) putDouble(bw, s);
}

/** Whether `buf` is a day record (the other 1h records are single buckets, rollup.ts). */
export function isDayRecord(buf: Uint8Array): boolean {
  return buf.length > 0 && buf[0] === DAY_RECORD_VERSION;
}

/**
 * Decodes a day record of the day starting at `dayMs`: bucket start → field
 * id → aggregate, hours ascending. With `fields`, only those fields are
 * decoded (the others' bit streams are skipped).
 */
export function decodeDayHours(buf: Uint8Array, dayMs: number, what = '<rollup day>', fields?: ReadonlySet<number>): Map<number, Map<number, Agg>> {
  const fail = (pos: number, msg: string): never => {
    throw corruption(what, pos, `rollup day record: ${msg}`);
  };
  const varint = (cur: { pos: number }): number => {
    const n = getVarint(buf, cur);
    if (n < 0) fail(cur.pos, 'bad varint');
    return n;
  };
  if (buf.length < 1 || buf[0] !== DAY_RECORD_VERSION) fail(0, 'unknown version');
  const cur = { pos: 1 };
  const nFields = varint(cur);
  const common: [number, number, number] = [varint(cur), varint(cur), unzz(varint(cur))];
  const byHour: Array<Map<number, Agg> | undefined> = new Array<Map<number, Agg> | undefined>(HOURS).fill(undefined);
  for (let f = 0; f < nFields; f++) {
    const id = varint(cur);
    const len = varint(cur);
    const start = cur.pos;
    if (start + len > buf.length) fail(start, `field ${id} runs past the end`);
    cur.pos += len;
    if (fields !== undefined && !fields.has(id)) continue;
    decodeField(new BitReader(buf, start, start + len, what), id, dayMs, common, byHour);
  }
  if (cur.pos !== buf.length) fail(cur.pos, 'trailing bytes');
  const out = new Map<number, Map<number, Agg>>();
  for (let h = 0; h < HOURS; h++) if (byHour[h] !== undefined) out.set(dayMs + h * HOUR_MS, byHour[h]!);
  return out;
}

/** Decodes one field's bit stream into `byHour` (hour index → field id → aggregate). */
function decodeField(br: BitReader, id: number, dayMs: number, common: readonly [number, number, number], byHour: Array<Map<number, Agg> | undefined>): void {
  const mask = br.readBits(HOURS);
  if (mask === 0) br.fail(`rollup day record: field ${id} has no hours`);
  const s = br.readBits(5);
  if (s > MAX_DIGITS + 1) br.fail(`rollup day record: scale ${s}`);
  const hours: number[] = [];
  for (let h = 0; h < HOURS; h++) if (mask & (1 << (HOURS - 1 - h))) hours.push(h);
  const metas: Array<readonly [number, number, number]> = [];
  for (let i = 0; i < hours.length; i++) metas.push(br.readBit() === 1 ? common : [getG(br), getG(br), unzz(getG(br))]);
  const put = (i: number, sum: number, min: number, max: number, first: number, last: number) => {
    const h = hours[i]!;
    const start = dayMs + h * HOUR_MS;
    const [count, firstOff, span] = metas[i]!;
    let m = byHour[h];
    if (m === undefined) byHour[h] = m = new Map();
    if (m.has(id)) br.fail(`rollup day record: field ${id} appears twice`);
    m.set(id, { count, sum, min, max, first, last, firstTs: start + firstOff, lastTs: start + firstOff + span });
  };
  if (s === 0) {
    for (let i = 0; i < hours.length; i++) {
      const v = [getDouble(br), 0, 0, 0, 0];
      for (let j = 1; j < 5; j++) v[j] = br.readBit() === 1 ? v[j - 1]! : getDouble(br);
      put(i, v[0]!, v[1]!, v[2]!, v[3]!, v[4]!);
    }
    br.expectEnd('rollup day record');
    return;
  }
  const p = POW10[s - 1]!;
  const n = hours.length;
  const first0 = unzz(getG(br));
  const sumRaw: number[] = [];
  let residualCount = 0;
  for (let i = 0; i < n; i++) {
    const b = br.readBit();
    sumRaw.push(b);
    if (b === 0) residualCount++;
  }
  const firsts = getRiceSeq(br, n - 1);
  const spans = getRiceSeq(br, n);
  const above = getRiceSeq(br, n);
  const below = getRiceSeq(br, n);
  const residuals = getRiceSeq(br, residualCount);
  const ulps = getRiceSeq(br, residualCount);
  let prevLast = 0;
  let r = 0;
  for (let i = 0; i < n; i++) {
    const mf = i === 0 ? first0 : prevLast + unzz(firsts[i - 1]!);
    const ml = mf + unzz(spans[i]!);
    const mx = Math.max(mf, ml) + above[i]!;
    const mn = Math.min(mf, ml) - below[i]!;
    prevLast = ml;
    let sum = Number.NaN;
    if (sumRaw[i] === 0) {
      const mSum = sumPrediction(metas[i]![0], mn, mx) + unzz(residuals[r]!);
      const back = addUlps(mSum / p, unzz(ulps[r]!));
      r++;
      if (back === undefined) br.fail('rollup day record: sum correction out of range');
      sum = back;
    }
    put(i, sum, mn / p, mx / p, mf / p, ml / p);
  }
  for (let i = 0; i < n; i++) if (sumRaw[i] === 1) byHour[hours[i]!]!.get(id)!.sum = getDouble(br);
  br.expectEnd('rollup day record');
}
