// Rollup bucket records round-trip every aggregate exactly (bit patterns
// included) and stay small for decimal data; damaged records are CORRUPTION.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isStrataError } from '../../src/base/index.js';
import { addPoint, addRows, addRowsBefore, decodeBucket, emptyAgg, encodeBucket, newAgg } from '../../src/tsdb/rollup.js';
import { decodeDayHours, encodeDayHours, isDayRecord } from '../../src/tsdb/rollup-day.js';
import type { Agg } from '../../src/tsdb/rollup.js';

const B = Date.UTC(2024, 0, 1);
const bits = (v: number) => Buffer.from(new Float64Array([v]).buffer).toString('hex');

const value = fc.oneof(
  fc.double(),
  fc.integer({ min: -1_000_000, max: 1_000_000 }).map((m) => m / 100),
  fc.constantFrom(0, -0, NaN, Infinity, -Infinity, Number.MAX_VALUE, Number.MIN_VALUE, 0.1 + 0.2),
);
const agg = fc.record({
  count: fc.integer({ min: 1, max: 2 ** 40 }),
  sum: value,
  min: value,
  max: value,
  first: value,
  last: value,
  firstTs: fc.integer({ min: B, max: B + 3_600_000 - 1 }),
  lastTs: fc.integer({ min: B, max: B + 3_600_000 - 1 }),
});

test('bucket records round-trip every field bit for bit', () => {
  fc.assert(
    fc.property(fc.array(agg, { minLength: 1, maxLength: 12 }), (aggs) => {
      const fields = new Map<number, Agg>(aggs.map((a, i) => [i * 7, a]));
      const back = decodeBucket(encodeBucket(fields, B), B);
      assert.equal(back.size, fields.size);
      for (const [id, a] of fields) {
        const b = back.get(id)!;
        for (const k of ['sum', 'min', 'max', 'first', 'last'] as const) assert.equal(bits(b[k]), bits(a[k]), k);
        assert.equal(b.count, a.count);
        assert.equal(b.firstTs, a.firstTs);
        assert.equal(b.lastTs, a.lastTs);
      }
    }),
    { seed: 42, numRuns: 500 },
  );
});

function sameAgg(b: Agg | undefined, a: Agg, what: string): void {
  assert.ok(b !== undefined, what);
  for (const k of ['sum', 'min', 'max', 'first', 'last'] as const) assert.equal(bits(b[k]), bits(a[k]), `${what} ${k}`);
  assert.equal(b.count, a.count, `${what} count`);
  assert.equal(b.firstTs, a.firstTs, `${what} firstTs`);
  assert.equal(b.lastTs, a.lastTs, `${what} lastTs`);
}

/** Aggregates built point by point, as the store builds them: sums carry floating-point rounding. */
const pointsAgg = (point: fc.Arbitrary<number>) =>
  fc.array(fc.tuple(fc.integer({ min: 0, max: 3_599_999 }), point), { minLength: 1, maxLength: 400 }).map((pts) => {
    const a = newAgg(B + pts[0]![0], pts[0]![1]);
    for (const [t, v] of pts.slice(1)) addPoint(a, B + t, v);
    return a;
  });

test('aggregates of real points round-trip bit for bit, decimal sums with their rounding included', () => {
  const point = fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: -100_000, max: 100_000 }).map((m) => m / 100) },
    { weight: 2, arbitrary: fc.integer({ min: -(2 ** 40), max: 2 ** 40 }) },
    { weight: 1, arbitrary: fc.double({ noNaN: true }) },
    { weight: 1, arbitrary: fc.constantFrom(NaN, -0, 0.1, 1e-300, 1e300, -Infinity) },
  );
  fc.assert(
    fc.property(fc.array(pointsAgg(point), { minLength: 1, maxLength: 8 }), (aggs) => {
      const fields = new Map<number, Agg>(aggs.map((a, i) => [i + 1, a]));
      const back = decodeBucket(encodeBucket(fields, B), B);
      assert.equal(back.size, fields.size);
      for (const [id, a] of fields) sameAgg(back.get(id), a, `field ${id}`);
    }),
    { seed: 7, numRuns: 400 },
  );
});

test('version 2 records (written before version 3) still decode', () => {
  const v2 = Buffer.from('020200e8020d86b0d4a99bac9e0c010003a42303901303b01c00f08edb01030200343333333333d33f02020204020202040506', 'hex');
  const back = decodeBucket(v2, B);
  sameAgg(back.get(0), { count: 360, sum: 3444.430000000003, min: 0, max: 22.58, first: 12.24, last: 18.16, firstTs: B, lastTs: B + 3_590_000 }, 'field 0');
  sameAgg(back.get(3), { count: 2, sum: 0.30000000000000004, min: 0.1, max: 0.2, first: 0.1, last: 0.2, firstTs: B + 5, lastTs: B + 6 }, 'field 3');
});

test('an hour of two-decimal readings in ten fields costs about 13 bytes a field', () => {
  // A random walk of two-decimal readings every 10 s, as sensors send them.
  const fields = new Map<number, Agg>();
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let f = 0; f < 10; f++) {
    let m = 5000;
    let a: Agg | undefined;
    for (let t = 0; t < 3_600_000; t += 10_000) {
      m = Math.max(0, Math.min(10_000, m + Math.round((rnd() + rnd() + rnd() - 1.5) * 200)));
      if (a === undefined) a = newAgg(B + t, m / 100);
      else addPoint(a, B + t, m / 100);
    }
    fields.set(f, a!);
  }
  const buf = encodeBucket(fields, B);
  // Version 2 took ~29 bytes a field here (tagged values, a double for the
  // sum, times per field).
  assert.ok(buf.length <= 10 * 15, `${buf.length} bytes`);
  const back = decodeBucket(buf, B);
  for (const [id, a] of fields) sameAgg(back.get(id), a, `field ${id}`);
});

test('two-decimal aggregates cost far less than eight bytes a value', () => {
  const a: Agg = { count: 360, sum: 18_234.5, min: 12.25, max: 99.5, first: 12.25, last: 57.13, firstTs: B + 10_000, lastTs: B + 3_590_000 };
  const buf = encodeBucket(new Map([[3, a]]), B);
  // Fixed-width doubles and times would take 1 + 1 + 1 + 2 + 7 × 8 = 61 bytes.
  assert.ok(buf.length <= 28, `${buf.length} bytes`);
  assert.deepEqual(decodeBucket(buf, B).get(3), a);
});

test('truncated or unknown records are CORRUPTION', () => {
  const a: Agg = { count: 2, sum: 1.5, min: 0.5, max: 1, first: 0.5, last: 1, firstTs: B, lastTs: B + 1 };
  const buf = encodeBucket(new Map([[1, a]]), B);
  for (let n = 0; n < buf.length; n++) assert.throws(() => decodeBucket(buf.subarray(0, n), B), (e: unknown) => isStrataError(e, 'CORRUPTION'), `prefix ${n}`);
  const bad = Buffer.from(buf);
  bad[0] = 9;
  assert.throws(() => decodeBucket(bad, B), (e: unknown) => isStrataError(e, 'CORRUPTION'));
});

// ---- day records of 1h buckets ----

const DAY = Date.UTC(2024, 0, 1);
const HOUR = 3_600_000;

/** An hour's aggregate built point by point (times inside hour h of DAY). */
const hourAgg = (h: number, point: fc.Arbitrary<number>) =>
  fc.array(fc.tuple(fc.integer({ min: 0, max: HOUR - 1 }), point), { minLength: 1, maxLength: 60 }).map((pts) => {
    const a = newAgg(DAY + h * HOUR + pts[0]![0], pts[0]![1]);
    for (const [t, v] of pts.slice(1)) addPoint(a, DAY + h * HOUR + t, v);
    return a;
  });

const dayOf = (point: fc.Arbitrary<number>) =>
  fc
    .array(fc.tuple(fc.integer({ min: 0, max: 23 }), fc.array(fc.tuple(fc.integer({ min: 0, max: 40 }), fc.boolean()), { minLength: 1, maxLength: 4 })), { minLength: 1, maxLength: 24 })
    .chain((hours) =>
      fc.tuple(...hours.map(([h, fields]) => fc.tuple(fc.constant(h), fc.tuple(...fields.map(([id, decimal]) => fc.tuple(fc.constant(id), hourAgg(h, decimal ? point : fc.double()))))))),
    )
    .map((hours) => {
      const m = new Map<number, Map<number, Agg>>();
      for (const [h, fields] of hours) m.set(DAY + h * HOUR, new Map(fields));
      return m;
    });

function sameDay(back: Map<number, Map<number, Agg>>, day: Map<number, Map<number, Agg>>): void {
  assert.deepEqual([...back.keys()], [...day.keys()].sort((a, b) => a - b));
  for (const [h, fields] of day) {
    const got = back.get(h)!;
    assert.equal(got.size, fields.size, `hour ${h}`);
    for (const [id, a] of fields) sameAgg(got.get(id), a, `hour ${(h - DAY) / HOUR} field ${id}`);
  }
}

test('day records of 1h buckets round-trip bit for bit: decimal and full-precision fields, gaps, NaN, -0', () => {
  const point = fc.oneof(
    { weight: 8, arbitrary: fc.integer({ min: -100_000, max: 100_000 }).map((m) => m / 100) },
    { weight: 1, arbitrary: fc.integer({ min: -(2 ** 45), max: 2 ** 45 }) },
    { weight: 1, arbitrary: fc.constantFrom(NaN, -0, 1e-300, 1e15, Infinity) },
  );
  fc.assert(
    fc.property(dayOf(point), (day) => {
      sameDay(decodeDayHours(encodeDayHours(DAY, day), DAY), day);
    }),
    { seed: 11, numRuns: 300 },
  );
});

/** Ten fields of two-decimal random walks, a reading every 10 s, for `hours` hours of DAY. */
function sensorDay(hours: number): Map<number, Map<number, Agg>> {
  let seed = 99;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const day = new Map<number, Map<number, Agg>>();
  const walk = Array.from({ length: 10 }, () => 5000);
  for (let h = 0; h < hours; h++) {
    const fields = new Map<number, Agg>();
    for (let f = 0; f < 10; f++) {
      let a: Agg | undefined;
      for (let t = DAY + h * HOUR; t < DAY + (h + 1) * HOUR; t += 10_000) {
        walk[f] = Math.max(0, Math.min(10_000, walk[f]! + Math.round((rnd() + rnd() + rnd() - 1.5) * 200)));
        if (a === undefined) a = newAgg(t, walk[f]! / 100);
        else addPoint(a, t, walk[f]! / 100);
      }
      fields.set(f, a!);
    }
    day.set(DAY + h * HOUR, fields);
  }
  return day;
}

test('a day of ten two-decimal fields costs about 9 bytes a field and hour (single-hour records: ~13 plus an entry each)', () => {
  const day = sensorDay(24);
  const buf = encodeDayHours(DAY, day);
  assert.ok(buf.length <= 24 * 10 * 10, `${buf.length} bytes`);
  let single = 0;
  for (const [h, fields] of day) single += encodeBucket(fields, h).length;
  assert.ok(buf.length < single * 0.8, `${buf.length} vs ${single}`);
  sameDay(decodeDayHours(buf, DAY), day);
});

test('day records: every truncation and random damage is CORRUPTION or a clean decode, never another error', () => {
  const buf = encodeDayHours(DAY, sensorDay(5));
  for (let n = 0; n < buf.length; n++) assert.throws(() => decodeDayHours(buf.subarray(0, n), DAY), (e: unknown) => isStrataError(e, 'CORRUPTION'), `prefix ${n}`);
  assert.throws(() => decodeDayHours(Buffer.concat([buf, Buffer.from([0])]), DAY), (e: unknown) => isStrataError(e, 'CORRUPTION'));
  assert.ok(!isDayRecord(encodeBucket(new Map([[1, newAgg(DAY, 1)]]), DAY)));
  assert.ok(isDayRecord(buf));
  fc.assert(
    fc.property(fc.nat(), fc.integer({ min: 1, max: 255 }), (pos, xor) => {
      const b = Buffer.from(buf);
      b[pos % b.length] = b[pos % b.length]! ^ xor;
      try {
        decodeDayHours(b, DAY);
      } catch (e) {
        assert.ok(isStrataError(e, 'CORRUPTION'), String(e));
      }
    }),
    { seed: 3, numRuns: 1000 },
  );
});

test('addRowsBefore: one run of rows up to a time bound, the same aggregate as addPoint one by one (-0 and NaN included)', () => {
  const times = [0, 10, 20, 30, 40];
  const values: Array<number | undefined> = [-0, undefined, NaN, 5, 7];
  const a = emptyAgg();
  assert.equal(addRowsBefore(a, times, values, 0, times.length, 30), 3, 'stops at the first row at or after the bound');
  const b = newAgg(0, -0);
  addPoint(b, 20, NaN);
  assert.deepEqual(a, b);
  assert.ok(Number.isNaN(a.sum));
  // A single -0 sums to -0, as newAgg gives.
  assert.ok(Object.is(addRows(undefined, [0], [-0], 0, 1)!.sum, -0));
  assert.equal(addRows(undefined, times, [undefined, undefined], 0, 2), undefined, 'no value: no aggregate');
  // Carried on from an aggregate already there, with a row filter.
  const c = newAgg(0, 1);
  assert.equal(addRowsBefore(c, times, values, 3, 5, Infinity, (r) => r !== 3), 5);
  assert.deepEqual(c, { count: 2, sum: 8, min: 1, max: 7, first: 1, firstTs: 0, last: 7, lastTs: 40 });
});
