// BucketAggregator: the bulk column path gives what point-by-point adding gives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BucketAggregator } from '../../src/tsdb/aggregate.js';
import { intervalStart } from '../../src/tsdb/rollup.js';
import type { AggregateFn, FieldValue, Interval } from '../../src/tsdb/types.js';

const FNS: AggregateFn[] = ['count', 'sum', 'min', 'max', 'avg', 'first', 'last', 'percentile'];
const DAY = 86_400_000;

test('addColumn equals addPoint row by row: any function, ms and calendar buckets, holes, NaN, filters, several parts', () => {
  const part = fc.record({
    steps: fc.array(fc.integer({ min: 0, max: 40 * DAY }), { minLength: 0, maxLength: 60 }),
    values: fc.array(fc.oneof(fc.double(), fc.constant(undefined), fc.constant(Number.NaN), fc.integer({ min: -5, max: 5 })), { minLength: 60, maxLength: 60 }),
    lo: fc.nat(10),
    keepMod: fc.integer({ min: 0, max: 3 }),
  });
  fc.assert(
    fc.property(fc.constantFrom(...FNS), fc.constantFrom<Interval | undefined>({ ms: 60_000 }, { ms: 3 * DAY }, { months: 1 }, undefined), fc.array(part, { minLength: 1, maxLength: 4 }), (fn, every, parts) => {
      const bulk = new BucketAggregator(fn, fn === 'percentile' ? 90 : undefined);
      const single = new BucketAggregator(fn, fn === 'percentile' ? 90 : undefined);
      const everyMs = every !== undefined && 'ms' in every ? every.ms : undefined;
      const bucketOf = every === undefined ? () => 0 : (t: number) => intervalStart(every, t);
      let t = Date.UTC(2024, 0, 1);
      for (const p of parts) {
        // Ascending times within a part; later parts may go back in time (another series).
        const times: number[] = [];
        for (const s of p.steps) times.push((t += s));
        t -= 10 * DAY;
        const values: Array<FieldValue | undefined> = p.values.slice(0, times.length);
        const keep = p.keepMod === 0 ? undefined : (r: number) => r % p.keepMod !== 0;
        const lo = Math.min(p.lo, times.length);
        bulk.addColumn(times, values, lo, times.length, everyMs, bucketOf, keep);
        for (let r = lo; r < times.length; r++) {
          const v = values[r];
          if (v !== undefined && (keep === undefined || keep(r))) single.addPoint(bucketOf(times[r]!), times[r]!, v);
        }
      }
      assert.deepEqual(bulk.finish(), single.finish());
    }),
    { numRuns: 300, seed: 4242 },
  );
});

test('finish returns buckets ascending even when they were created out of order', () => {
  const a = new BucketAggregator('sum', undefined);
  a.addColumn([500, 600], [1, 2], 0, 2, 100, (t) => t);
  a.addColumn([100, 150, 300], [3, 4, 5], 0, 3, 100, (t) => t);
  assert.throws(() => a.addPoint(0, 50, 'x'), /numeric field/);
  assert.deepEqual(a.finish(), { times: [100, 300, 500, 600], values: [7, 5, 1, 2] });
  const b = new BucketAggregator('count', undefined);
  b.addColumn([500, 600], [1, 2], 0, 2, 100, (t) => t);
  b.addColumn([100, 150, 300], [3, 4, 5], 0, 3, 100, (t) => t);
  b.addPoint(0, 50, 'x');
  assert.deepEqual(b.finish(), { times: [0, 100, 300, 500, 600], values: [1, 2, 1, 1, 1] });
});
