// Rollup bucket records round-trip every aggregate exactly (bit patterns
// included) and stay small for decimal data; damaged records are CORRUPTION.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isStrataError } from '../../src/base/index.js';
import { addPoint, decodeBucket, encodeBucket, newAgg } from '../../src/tsdb/rollup.js';
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
