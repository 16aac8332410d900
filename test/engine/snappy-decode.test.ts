// The table reader's snappy decoder against the native compressor: equal
// output for any input, and malformed input always rejected without
// reading or writing out of bounds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compressSync } from 'snappy';
import { SnappyFormatError, snappyDecodeInto, snappyUncompressedLength } from '../../src/engine/table/snappy-decode.js';

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** Decodes `c` into a fresh buffer with guard bytes on both sides, checks the guards, returns the output. */
function decode(c: Uint8Array): Buffer {
  const { length, at } = snappyUncompressedLength(c, 0, c.length);
  if (length > 1 << 22) throw new SnappyFormatError('too large for the test');
  const out = Buffer.alloc(length + 32, 0xee);
  try {
    snappyDecodeInto(c, view(c), at, c.length, out, view(out), 16, length);
  } finally {
    // Also when it throws: nothing may have been written outside the range.
    assert.ok(out.subarray(0, 16).every((x) => x === 0xee) && out.subarray(16 + length).every((x) => x === 0xee), 'wrote outside its range');
  }
  return out.subarray(16, 16 + length);
}

/** Inputs with what snappy finds: runs, repeats at short and long distances, literals of every length class. */
const inputArb = fc
  .array(
    fc.oneof(
      fc.uint8Array({ minLength: 0, maxLength: 80 }),
      fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 300 })).map(([b, n]) => new Uint8Array(n).fill(b)),
      fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 12 }), fc.integer({ min: 1, max: 40 })).map(([p, n]) => {
        const out = new Uint8Array(p.length * n);
        for (let i = 0; i < n; i++) out.set(p, i * p.length);
        return out;
      }),
    ),
    { maxLength: 40 },
  )
  .map((parts) => Buffer.concat(parts));

test('snappy decoder: output equals the input the native compressor was given', () => {
  fc.assert(
    fc.property(inputArb, (input) => {
      assert.ok(decode(compressSync(input)).equals(input));
    }),
    { numRuns: 400, seed: 7 },
  );
  // Long literals (the 2-4 byte length forms) and a 70 KB block of incompressible bytes.
  const big = Buffer.alloc(70_000);
  for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
  assert.ok(decode(compressSync(big)).equals(big));
});

test('snappy decoder: corrupted or truncated input throws SnappyFormatError or decodes to the declared length, never out of bounds', () => {
  fc.assert(
    fc.property(inputArb, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), fc.nat(), (input, flips, cut) => {
      const c = Buffer.from(compressSync(input));
      for (const [at, v] of flips) c[at % c.length] = v;
      const damaged = c.subarray(0, c.length - (cut % 3 === 0 ? cut % Math.max(1, c.length) : 0));
      try {
        const out = decode(damaged);
        assert.equal(out.length, snappyUncompressedLength(damaged, 0, damaged.length).length);
      } catch (err) {
        assert.ok(err instanceof SnappyFormatError, `unexpected ${String(err)}`);
      }
    }),
    { numRuns: 1000, seed: 11 },
  );
  assert.throws(() => decode(Buffer.from([])), SnappyFormatError);
  assert.throws(() => decode(Buffer.from([5, 0x08, 0x61])), SnappyFormatError, 'output shorter than declared');
  assert.throws(() => decode(Buffer.from([4, 0x0d, 0x01])), SnappyFormatError, 'copy before the start');
});
