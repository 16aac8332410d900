/**
 * Opt-in float rounding (src/tsdb/rounding.ts): the fast path must give the
 * very double `Number(v.toPrecision(d))` gives, for any double and digits.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isStrataError, SeededRandom } from '../../src/base/index.js';
import { checkSignificantDigits, roundSignificant } from '../../src/tsdb/rounding.js';

const same = (a: number, b: number) => Object.is(a, b);

test('roundSignificant equals Number(v.toPrecision(d)) for any double (property, fixed seed)', () => {
  fc.assert(
    fc.property(fc.double({ noNaN: true }), fc.integer({ min: 1, max: 15 }), (v, d) => {
      const want = v === 0 || !Number.isFinite(v) ? v : Number(v.toPrecision(d));
      assert.ok(same(roundSignificant(v, d), want), `${v} at ${d} digits: ${roundSignificant(v, d)} != ${want}`);
    }),
    { seed: 6012, numRuns: 20000 },
  );
  // Values as monitoring data has them (a few magnitudes, long fractions), where the fast path runs.
  fc.assert(
    fc.property(fc.double({ min: -1e6, max: 1e6, noNaN: true }), fc.integer({ min: 6, max: 15 }), (v, d) => {
      const want = v === 0 ? v : Number(v.toPrecision(d));
      assert.ok(same(roundSignificant(v, d), want), `${v} at ${d} digits`);
    }),
    { seed: 6013, numRuns: 20000 },
  );
});

test('roundSignificant: powers of ten, ties, carries, signs and specials', () => {
  const cases: Array<[number, number, number]> = [
    [58.1317132304976, 12, 58.1317132305],
    [58.1317132304976, 4, 58.13],
    [-58.1317132304976, 4, -58.13],
    [9.99951, 4, 10],
    [99.995, 4, 100],
    [0.000123456, 3, 0.000123],
    [1e21, 3, 1e21],
    [123456789012345680000, 5, 1.2346e20],
    [1000, 1, 1000],
    [999.5, 3, 1000],
    [2.5, 1, 3],
    [-2.5, 1, -3],
    [5e-324, 3, 5e-324],
    [1.7976931348623157e308, 15, 1.79769313486232e308],
  ];
  for (const [v, d, want] of cases) assert.ok(same(roundSignificant(v, d), want), `${v} at ${d}: got ${roundSignificant(v, d)}, want ${want}`);
  for (let e = -30; e <= 30; e++) {
    const p = Number(`1e${e}`);
    for (const v of [p, -p, p * (1 - 2 ** -52), p * (1 + 2 ** -52)]) {
      for (const d of [1, 7, 13, 15]) assert.ok(same(roundSignificant(v, d), Number(v.toPrecision(d))), `${v} at ${d}`);
    }
  }
  for (const v of [NaN, Infinity, -Infinity, 0, -0]) assert.ok(same(roundSignificant(v, 12), v));
});

test('roundSignificant on decimal ties: values written as d digits then a 5 round as their binary value says', () => {
  // "1.2345" is a double a hair above or below the tie 1.2345, and toPrecision(4) rounds by
  // which: the scaled value's own rounding error must not decide it.
  const rnd = new SeededRandom(6014);
  let fastWouldErr = 0;
  for (let i = 0; i < 20000; i++) {
    const d = rnd.int(1, 15);
    let digitsStr = String(rnd.int(1, 9));
    for (let j = 1; j < d; j++) digitsStr += String(rnd.int(0, 9));
    const exp = rnd.int(-8, 8);
    const v = Number(`${digitsStr}5e${exp - d}`) * (rnd.int(0, 1) === 0 ? 1 : -1);
    const want = Number(v.toPrecision(d));
    const got = roundSignificant(v, d);
    assert.ok(same(got, want), `${v} at ${d} digits: ${got} != ${want}`);
    if (Math.round(Math.abs(v) * 10 ** (d - 1 - Math.floor(Math.log10(Math.abs(v))))) / 10 ** (d - 1 - Math.floor(Math.log10(Math.abs(v)))) !== Math.abs(want)) fastWouldErr++;
  }
  // The naive scale-and-round is wrong on a good share of these: the cases do test the tie handling.
  assert.ok(fastWouldErr > 100, `only ${fastWouldErr} cases where naive rounding errs`);
});

test('a rounded value has at most d significant digits and is within half a unit of the d-th digit', () => {
  const rnd = fc.sample(fc.double({ min: 1e-3, max: 1e5, noNaN: true }), { seed: 7, numRuns: 2000 });
  for (const v of rnd) {
    const r = roundSignificant(v, 13);
    assert.ok(Math.abs(r - v) / Math.abs(v) <= 5e-13 * (1 + 1e-9), `${v} -> ${r}`);
    assert.ok(Number(r.toPrecision(13)) === r);
  }
});

test('checkSignificantDigits accepts 1..15 and null, and names the range otherwise', () => {
  assert.equal(checkSignificantDigits(13), 13);
  assert.equal(checkSignificantDigits(null), undefined);
  assert.equal(checkSignificantDigits(undefined), undefined);
  for (const bad of [0, 16, 2.5, '12', -1, true]) {
    assert.throws(
      () => checkSignificantDigits(bad),
      (e: unknown) => isStrataError(e) && e.code === 'INVALID_ARGUMENT' && /from 1 to 15/.test(e.message),
    );
  }
});
