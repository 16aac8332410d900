// Rollup bucket records round-trip every aggregate exactly (bit patterns
// included) and stay small for decimal data; damaged records are CORRUPTION.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isStrataError } from '../../src/base/index.js';
import { decodeBucket, encodeBucket } from '../../src/tsdb/rollup.js';
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
