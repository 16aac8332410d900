/**
 * Columnar chunk codecs (src/tsdb/codec): exact round trips (floats by bit
 * pattern), compression sizes that fail if a codec breaks, and corrupt input
 * that must throw CORRUPTION. Property tests use fixed seeds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isStrataError, SeededRandom } from '../../src/base/index.js';
import {
  codecOf,
  decodeBooleans,
  decodeColumn,
  decodeFloats,
  decodeIntegers,
  decodePresence,
  decodeStrings,
  decodeTimestamps,
  timestampsCodecName,
  encodeBooleans,
  encodeColumn,
  encodeFloats,
  encodeFloatsGorilla,
  encodeIntegers,
  encodePresence,
  encodeStrings,
  encodeTimestamps,
  floatsCodecName,
  integersCodecName,
  BitReader,
  BitWriter,
  ByteReader,
  ByteWriter,
  unzigzag,
  zigzag,
} from '../../src/tsdb/codec/index.js';
import { encodeFloatsDelta, floatsCodecDetail } from '../../src/tsdb/codec/floats.js';
import { encodeIntegersRice } from '../../src/tsdb/codec/integers.js';
import { RiceBlocks, varintSize, WordWriter, zigzagSize } from '../../src/tsdb/codec/bits.js';
import type { FieldType, FieldValue } from '../../src/tsdb/types.js';

const RUNS = { seed: 42, numRuns: 300 };
const MAX = Number.MAX_SAFE_INTEGER;

// ---- helpers ----

function bytesOf(f: Float64Array): Uint8Array {
  return new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
}

/** Float64Array from 64-bit patterns given as [hi, lo] uint32 pairs (keeps NaN payloads: never stored in a JS array). */
function fromBits(pairs: ReadonlyArray<readonly [number, number]>): Float64Array {
  const dv = new DataView(new ArrayBuffer(pairs.length * 8));
  pairs.forEach(([hi, lo], i) => {
    dv.setUint32(i * 8, hi);
    dv.setUint32(i * 8 + 4, lo);
  });
  const out = new Float64Array(pairs.length);
  for (let i = 0; i < pairs.length; i++) out[i] = dv.getFloat64(i * 8);
  return out;
}

function assertFloatsRoundTrip(f: Float64Array): Buffer {
  const enc = encodeFloats(f);
  const dec = decodeFloats(enc, f.length);
  assert.equal(dec.length, f.length);
  assert.deepEqual(bytesOf(dec), bytesOf(f), `codec ${floatsCodecName(enc)}`);
  const gor = encodeFloatsGorilla(f);
  assert.deepEqual(bytesOf(decodeFloats(gor, f.length)), bytesOf(f), 'gorilla');
  const del = encodeFloatsDelta(f);
  assert.deepEqual(bytesOf(decodeFloats(del, f.length)), bytesOf(f), `delta (${floatsCodecDetail(del)})`);
  // The encoder sizes the candidates before writing one: its choice is never larger than either.
  assert.ok(enc.length <= Math.min(gor.length, del.length), `chosen ${enc.length} vs gorilla ${gor.length}, delta ${del.length}`);
  if (floatsCodecName(enc) === 'delta') assert.deepEqual(enc, del);
  if (floatsCodecName(enc) === 'gorilla') assert.deepEqual(enc, gor);
  return enc;
}

/** Full-precision uniform draw in [0, 1) (SeededRandom.float has only 30 random bits). */
function fullFloat(rnd: SeededRandom): number {
  return rnd.float() + rnd.float() / 0x40000000;
}

/** The bench's random walk at full precision: start 50, steps uniform in [-1, 1] (or N(0, 1)), clamped to [0, 100]. */
function fullPrecisionWalk(rnd: SeededRandom, n: number, gaussian = false): number[] {
  const out: number[] = [];
  let x = 50;
  for (let i = 0; i < n; i++) {
    const step = gaussian
      ? Math.sqrt(-2 * Math.log(1 - fullFloat(rnd))) * Math.cos(2 * Math.PI * fullFloat(rnd))
      : 2 * fullFloat(rnd) - 1;
    x = Math.min(100, Math.max(0, x + step));
    out.push(x);
  }
  return out;
}

function assertCorrupt(fn: () => unknown, label: string): void {
  assert.throws(fn, (e: unknown) => isStrataError(e, 'CORRUPTION'), label);
}

/** Decoding garbage either succeeds or throws CORRUPTION; never another error. */
function corruptOrOk(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (!isStrataError(e, 'CORRUPTION')) throw e;
  }
}

/** Every strict prefix of a valid encoding must be rejected. */
function assertPrefixesCorrupt(enc: Uint8Array, decode: (b: Uint8Array) => unknown, label: string): void {
  for (let len = 0; len < enc.length; len++) assertCorrupt(() => decode(enc.subarray(0, len)), `${label}: prefix of ${len}/${enc.length} bytes`);
}

function twoDecimalWalk(rnd: SeededRandom, n: number, start = 21.5): number[] {
  const out: number[] = [];
  let x = start;
  for (let i = 0; i < n; i++) {
    x += rnd.float() - 0.5;
    out.push(Math.round(x * 100) / 100);
  }
  return out;
}

function walk(rnd: SeededRandom, n: number, step: number): number[] {
  let x = 0;
  return Array.from({ length: n }, () => (x += rnd.int(-step, step)));
}

/** Values whose zigzag deltas are uniform over w bits, w cycling through `widths` block (128 deltas) by block. */
function zigzagBlocks(rnd: SeededRandom, n: number, widths: number[]): number[] {
  let x = 0;
  return Array.from({ length: n }, (_, i) => {
    if (i === 0) return x;
    const z = rnd.int(0, 2 ** widths[Math.floor((i - 1) / 128) % widths.length]! - 1);
    return (x += z % 2 === 0 ? z / 2 : -(z + 1) / 2);
  });
}

/** Standard normal draws (Box–Muller, the second output kept for the next call), as bench/lib/tsdb-data.ts draws them. */
function normals(rng: SeededRandom): () => number {
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    const u1 = 1 - rng.float();
    const u2 = rng.float();
    const r = Math.sqrt(-2 * Math.log(u1));
    spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  };
}

/**
 * The bench's sensor data (bench/lib/tsdb-data.ts, variant `sensor`): the ten
 * fields of one host, each a random walk with N(0, 1) steps clamped to
 * [0, 100] from a uniform start, rounded to two decimals; n steps.
 */
function benchSensorColumns(seed: number, host: number, n: number): number[][] {
  const rng = new SeededRandom(seed * 1_000_003 + host * 7 + 2);
  const normal = normals(rng);
  const vals = Array.from({ length: 10 }, () => rng.float() * 100);
  const cols = vals.map(() => [] as number[]);
  for (let i = 0; i < n; i++) {
    for (let f = 0; f < 10; f++) {
      let v = vals[f]! + normal();
      if (v > 100) v = 100;
      if (v < 1e-6) v = 0;
      vals[f] = v;
      cols[f]!.push(Math.round(v * 100) / 100);
    }
  }
  return cols;
}

/** A monotone counter whose per-interval increase is `rate` + N(0, sd), rounded. */
function steadyCounter(rng: SeededRandom, n: number, start: number, rate: number, sd: number): number[] {
  const normal = normals(rng);
  let x = start;
  return Array.from({ length: n }, () => (x += Math.max(0, Math.round(rate + sd * normal()))));
}

// ---- arbitraries ----

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const bitPattern = fc.tuple(u32, u32);
const special = fc.constantFrom<readonly [number, number]>(
  [0x7ff80000, 0], // NaN
  [0x7ff00000, 1], // signalling NaN with payload
  [0xfff12345, 0x6789abcd], // negative NaN with payload
  [0x7ff80000, 0xdeadbeef], // quiet NaN with payload
  [0x7ff00000, 0], // +Infinity
  [0xfff00000, 0], // -Infinity
  [0x80000000, 0], // -0
  [0, 0], // +0
  [0, 1], // smallest subnormal
  [0x000fffff, 0xffffffff], // largest subnormal
  [0x00100000, 0], // smallest normal
  [0x7fefffff, 0xffffffff], // Number.MAX_VALUE
  [0xffefffff, 0xffffffff], // -Number.MAX_VALUE
);
const pattern = fc.oneof(bitPattern, special);

const decimalColumn = fc
  .tuple(fc.integer({ min: 0, max: 15 }), fc.array(fc.integer({ min: -1e9, max: 1e9 }), { maxLength: 200 }))
  .map(([k, ms]) => ms.map((m) => m / 10 ** k));

/** Two-decimal readings of a random walk (Math.round(x*100)/100; may produce -0 near zero, which decimal must refuse). */
const sensorWalk = fc
  .tuple(fc.integer({ min: -100_000, max: 100_000 }), fc.array(fc.integer({ min: -20_000, max: 20_000 }), { maxLength: 400 }))
  .map(([start, steps]) => {
    let x = start / 100;
    return steps.map((s) => Math.round((x += s / 10_000) * 100) / 100);
  });

const anyDoubles = fc.array(fc.double(), { maxLength: 200 });

const unitStep = fc.double({ min: -1, max: 1, noNaN: true });

/** Full-precision random walks at any scale (steps relative to the scale; may overflow to ±Infinity). */
const floatWalk = fc
  .tuple(
    fc.oneof(fc.double({ min: -1e6, max: 1e6, noNaN: true }), fc.double({ noNaN: true })),
    fc.constantFrom(1e-300, 1e-9, 1e-3, 1, 1e3, 1e12, 1e300),
    fc.array(unitStep, { maxLength: 400 }),
    fc.boolean(),
  )
  .map(([start, scale, steps, clamp]) => {
    let x = start;
    return steps.map((s) => {
      x += s * scale;
      if (clamp) x = Math.min(100, Math.max(0, x));
      return x;
    });
  });

/** Walks around zero: tiny, subnormal and signed-zero values mixed with small normal ones. */
const zeroCrossingWalk = fc
  .tuple(
    fc.constantFrom(5e-324, 1e-320, 1e-310, 2 ** -1022, 1e-300, 1e-3),
    fc.array(fc.oneof(fc.integer({ min: -50, max: 50 }), fc.constant(0), fc.constantFrom(-0, 0)), { maxLength: 300 }),
  )
  .map(([unit, steps]) => {
    let x = 0;
    return steps.map((s, i) => {
      x = Object.is(s, -0) ? -0 : x + s * unit;
      return i % 37 === 5 ? -x : x;
    });
  });

/** A walk with arbitrary bit patterns (NaN payloads, ±Infinity, huge jumps) spliced in. */
const walkWithSpecials = fc
  .tuple(floatWalk, fc.array(fc.tuple(fc.nat(), pattern), { maxLength: 20 }))
  .map(([xs, splices]) => {
    const f = Float64Array.from(xs.length === 0 ? [1.5, 2.5] : xs);
    for (const [at, p] of splices) f.set(fromBits([p]), at % f.length);
    return f;
  });

/** Smooth columns: linear ramps (order 2), float32-rounded walks (shifted deltas), held levels (repeats). */
const smoothColumn = fc
  .tuple(
    fc.double({ min: -1e9, max: 1e9, noNaN: true }),
    fc.double({ min: -10, max: 10, noNaN: true }),
    fc.integer({ min: 0, max: 400 }),
    fc.constantFrom('ramp', 'f32', 'held'),
  )
  .map(([start, step, n, kind]) => {
    let x = start;
    return Array.from({ length: n }, (_, i) => {
      if (kind === 'ramp') return start + i * step;
      if (kind === 'f32') return Math.fround((x += step * Math.sin(i)));
      return i % 17 === 0 ? (x += step) : x;
    });
  });

const constantColumn = fc.tuple(pattern, fc.integer({ min: 0, max: 300 })).map(([p, n]) => fromBits(new Array(n).fill(p)));

const safeInt = fc.oneof(
  fc.integer(),
  fc.maxSafeInteger(),
  fc.integer({ min: -1000, max: 1000 }),
  fc.integer({ min: MAX - 1000, max: MAX }),
  fc.integer({ min: -MAX, max: -MAX + 1000 }),
  fc.constantFrom(0, MAX, -MAX, 2 ** 52, -(2 ** 52), 2 ** 52 - 1, 2 ** 53 - 2, -(2 ** 53 - 2), 2 ** 31, -(2 ** 31), 2 ** 32),
);

const intWalk = fc
  .tuple(fc.maxSafeInteger(), fc.array(fc.integer({ min: -300, max: 300 }), { maxLength: 400 }))
  .map(([start, steps]) => {
    let x = start;
    const out: number[] = [];
    for (const s of steps) {
      if (Number.isSafeInteger(x + s)) x += s;
      out.push(x);
    }
    return out;
  });

const intRuns = fc
  .array(fc.tuple(fc.integer({ min: -5, max: 5 }), fc.integer({ min: 1, max: 300 })), { maxLength: 20 })
  .map((runs) => runs.flatMap(([v, n]) => new Array<number>(n).fill(v)));

/**
 * Integer random walks with roughly Gaussian steps (the sum of three uniform
 * draws) at scales from cents to 2^45, plus a few sparse outliers (jumps up
 * to ±2^51); a step that would leave the safe range is taken backwards.
 */
const gaussianIntWalk = fc
  .tuple(
    fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
    fc.constantFrom(0.3, 1, 3, 100, 10_000, 1e8, 2 ** 45),
    fc.array(fc.tuple(fc.integer({ min: -500, max: 500 }), fc.integer({ min: -500, max: 500 }), fc.integer({ min: -500, max: 500 })), {
      maxLength: 600,
    }),
    fc.array(fc.tuple(fc.nat(), fc.oneof(fc.integer({ min: -1e6, max: 1e6 }), fc.integer({ min: -(2 ** 51), max: 2 ** 51 }))), { maxLength: 6 }),
  )
  .map(([start, scale, steps, outliers]) => {
    const jumps = new Map(outliers.map(([at, j]) => [at % (steps.length + 1), j]));
    let x = start;
    const out = [x];
    steps.forEach(([a, b, c], i) => {
      const s = Math.round(((a + b + c) / 500) * scale) + (jumps.get(i) ?? 0);
      x = Number.isSafeInteger(x + s) ? x + s : x - s;
      out.push(x);
    });
    return out;
  });

/** Walks at the edges of the range: from ±(2^53-1), ±2^52 or 0, steps of a few units or up to ±(2^52-1). */
const extremeIntWalk = fc
  .tuple(
    fc.constantFrom(MAX, -MAX, 2 ** 52, -(2 ** 52), 2 ** 52 - 1, 0),
    fc.array(fc.oneof(fc.integer({ min: -3, max: 3 }), fc.constantFrom(2 ** 52 - 1, -(2 ** 52 - 1), 2 ** 51, -(2 ** 51), 2 ** 32, -(2 ** 31))), {
      maxLength: 300,
    }),
  )
  .map(([start, steps]) => {
    let x = start;
    return [x, ...steps.map((s) => (x = Number.isSafeInteger(x + s) ? x + s : x - s))];
  });

const allEqualInts = fc.tuple(safeInt, fc.integer({ min: 1, max: 300 })).map(([v, n]) => new Array<number>(n).fill(v));

/** Smooth integer columns: counters at a steady rate with noise, ramps, rounded sines. */
const smoothInts = fc
  .tuple(fc.integer({ min: -1e12, max: 1e12 }), fc.integer({ min: -1e6, max: 1e6 }), fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: 400 }))
  .map(([start, rate, noise, n]) => {
    const rng = new SeededRandom(start + rate);
    let x = start;
    return Array.from({ length: n }, (_, i) => (x += rate + rng.int(-noise, noise) + Math.round(noise * Math.sin(i / 9))));
  });

const timestamps = fc
  .tuple(
    fc.oneof(fc.maxSafeInteger(), fc.integer({ min: 1_500_000_000_000, max: 1_800_000_000_000 }), fc.constantFrom(-MAX, MAX - 10_000_000)),
    fc.array(
      fc.oneof(
        fc.constant(10_000),
        fc.integer({ min: 9_990, max: 10_010 }),
        fc.integer({ min: 1, max: 100 }),
        fc.integer({ min: 1, max: 2 ** 40 }),
        fc.maxSafeInteger().map((x) => Math.abs(x) || 1),
      ),
      { maxLength: 400 },
    ),
  )
  .map(([start, deltas]) => {
    const out = [start];
    let t = start;
    for (const d of deltas) {
      if (t + d > MAX) break;
      out.push((t += d));
    }
    return out;
  });

const str = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.string({ unit: 'grapheme', maxLength: 10 }),
  fc.constantFrom('', 'a', 'host-01', '\uFEFFbom', 'é', '日本', '🙂'),
);
const strColumn = fc.oneof(
  fc.array(str, { maxLength: 200 }),
  fc
    .tuple(fc.array(str, { minLength: 1, maxLength: 5 }), fc.array(fc.nat(), { maxLength: 300 }))
    .map(([pool, picks]) => picks.map((p) => pool[p % pool.length]!)),
);

// ---- primitives ----

test('zigzag and zigzag varints are exact up to ±2^53', () => {
  for (const n of [0, -1, 1, 2 ** 30, -(2 ** 30), 2 ** 31, -(2 ** 31), 2 ** 52, -(2 ** 52), MAX, -MAX, 2 ** 53, -(2 ** 53)]) {
    if (Math.abs(n) <= 2 ** 52) assert.equal(unzigzag(zigzag(n)), n);
    const w = new ByteWriter();
    w.zigzag(n);
    w.varint(Math.abs(n));
    const r = new ByteReader(w.finish());
    assert.equal(r.zigzag(), n);
    assert.equal(r.varint(), Math.abs(n));
    r.expectEnd('test');
  }
  fc.assert(
    fc.property(fc.array(fc.maxSafeInteger(), { maxLength: 50 }), (xs) => {
      const w = new ByteWriter(4);
      for (const x of xs) w.zigzag(x);
      const r = new ByteReader(w.finish());
      for (const x of xs) assert.equal(r.zigzag(), x);
      r.expectEnd('test');
    }),
    RUNS,
  );
});

test('bit writer and reader round-trip fields of 0..64 bits and reject reading past the end', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 64 }), u32, u32), { maxLength: 60 }), (fields) => {
      const w = new BitWriter(1);
      for (const [n, hi, lo] of fields) w.writeBits64(hi, lo, n);
      const buf = w.finish();
      const r = new BitReader(buf);
      for (const [n, hi, lo] of fields) {
        const eh = n > 32 ? (n === 64 ? hi : hi % 2 ** (n - 32)) : 0;
        const el = n >= 32 ? lo : lo % 2 ** n;
        const gh = n > 32 ? r.readBits(n - 32) : 0;
        const gl = r.readBits(Math.min(n, 32));
        assert.deepEqual([gh, gl], [eh, el]);
      }
      r.expectEnd('test');
      assertCorrupt(() => r.readBits(8 + r.remaining), 'read past end');
    }),
    RUNS,
  );
});

test('word writer matches the bit writer; zigzag sizes match the zigzag varints', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 64 }), u32, u32), { maxLength: 60 }), (fields) => {
      const bits = fields.reduce((a, [n]) => a + n, 0);
      const bw = new BitWriter(1);
      const ww = new WordWriter(bits, 'test');
      for (const [n, hi, lo] of fields) {
        bw.writeBits64(hi, lo, n);
        ww.write64(hi, lo, n);
      }
      assert.deepEqual(ww.finish(), bw.finish());
    }),
    RUNS,
  );
  assert.throws(() => new WordWriter(9, 'test').finish(), /wrote 0 bits, planned 9/);
  for (const n of [0, -1, 1, 63, -64, 64, -65, 8191, 8192, -8193, 2 ** 31, -(2 ** 31), 2 ** 48 - 1, 2 ** 48, MAX, -MAX, 2 ** 53, -(2 ** 53)]) {
    const w = new ByteWriter();
    w.zigzag(n);
    assert.equal(zigzagSize(n), w.length, String(n));
  }
});

test('rice blocks round-trip arbitrary 64-bit codes (the shared entropy stage of float delta and integer rice)', () => {
  // Codes of mixed bit lengths: mostly near a typical width, with zeros and 64-bit outliers.
  const code = fc.oneof(
    { weight: 6, arbitrary: fc.tuple(fc.constant(0), fc.integer({ min: 0, max: 4095 })) },
    { weight: 2, arbitrary: fc.tuple(fc.constant(0), fc.constant(0)) },
    { weight: 1, arbitrary: bitPattern },
    { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 0, max: 0x1fffff }), u32) },
  );
  const rice = new RiceBlocks(16);
  fc.assert(
    fc.property(fc.array(code, { maxLength: 700 }), fc.boolean(), (codes, shared) => {
      const m = codes.length;
      rice.reserve(m);
      codes.forEach(([h, l], i) => {
        rice.zh[i] = h;
        rice.zl[i] = l;
      });
      const bits = rice.plan(m, shared);
      const ww = new WordWriter(bits, 'test');
      rice.write(ww, m);
      const buf = ww.finish();
      const br = new BitReader(buf);
      rice.read(br, m, 'test', shared);
      br.expectEnd('test');
      assert.deepEqual(
        Array.from({ length: m }, (_, i) => [rice.zh[i], rice.zl[i]]),
        codes,
      );
      // Never worse than escaping every code (mode 1, Q = 0: 7 + w bits each) after the block
      // headers (and, shared, the header bit of every block after the first).
      const blocks = Math.ceil(m / 128);
      const headers = 11 * blocks + (shared && blocks > 0 ? blocks - 1 : 0);
      const escapeAll = codes.reduce((a, [h, l]) => a + 7 + (h !== 0 ? 64 - Math.clz32(h) : 32 - Math.clz32(l)), headers);
      assert.ok(bits <= escapeAll, `${bits} > ${escapeAll}`);
      assert.equal(buf.length, Math.ceil(bits / 8));
      rice.release();
    }),
    RUNS,
  );
});

test('decimal columns carry their scale in the id byte (16 + k); the older form (2, then a scale byte) still reads', () => {
  const xs = twoDecimalWalk(new SeededRandom(8), 300);
  const enc = encodeFloats(xs);
  assert.equal(enc[0], 16 + 2);
  assert.match(floatsCodecDetail(enc), /^decimal\/(bitpack|rice)$/);
  const old = Buffer.concat([Buffer.from([2, 2]), enc.subarray(1)]);
  assert.equal(floatsCodecDetail(old), floatsCodecDetail(enc));
  assert.deepEqual(decodeFloats(old, xs.length), Float64Array.from(xs));
  assert.deepEqual(decodeFloats(enc, xs.length), Float64Array.from(xs));
  // Whole numbers: scale 0.
  assert.equal(encodeFloats([1, 5, 3, 8, 2])[0], 16);
  // Deltas of first or second order show in the detail (bit 6 of the header byte; bit 7 is the shared headers).
  const walk = fullPrecisionWalk(new SeededRandom(4), 300);
  assert.equal(floatsCodecDetail(encodeFloatsDelta(walk)), 'delta');
  // A ramp inside one binade: nearly constant key deltas, so deltas of deltas.
  const r = encodeFloatsDelta(Array.from({ length: 300 }, (_, i) => 1 + i / 1024 + 1e-13 * (i % 3)));
  assert.equal(floatsCodecDetail(r), 'delta/2');
  assert.ok(r[1]! & 128);
});

test('rice blocks with shared headers: a stationary column pays ~1 bit a block after the first header; the old format still reads', () => {
  const normal = normals(new SeededRandom(5));
  const m = 1024;
  const zs = Array.from({ length: m }, () => {
    const d = Math.round(normal() * 100);
    return d < 0 ? -2 * d - 1 : 2 * d + 0;
  });
  const sizes = [true, false].map((shared) => {
    const rice = new RiceBlocks(16);
    rice.reserve(m);
    zs.forEach((z, i) => {
      rice.zh[i] = 0;
      rice.zl[i] = z;
    });
    const bits = rice.plan(m, shared);
    const ww = new WordWriter(bits, 'test');
    rice.write(ww, m);
    const br = new BitReader(ww.finish());
    rice.read(br, m, 'test', shared);
    br.expectEnd('test');
    assert.deepEqual(Array.from(rice.zl.subarray(0, m)), zs);
    return bits;
  });
  // Eight blocks: seven 11-bit headers become 1-bit "as before" marks where the previous block's
  // parameters cost at most 10 bits more than the block's best (measured: 50 bits saved).
  assert.ok(sizes[0]! <= sizes[1]! - 7 * 5, `shared ${sizes[0]} bits, full headers ${sizes[1]}`);
  // A single block is the same in both formats: an old column decodes from the new bytes with the flag cleared.
  const walk = fullPrecisionWalk(new SeededRandom(3), 100);
  const f = encodeFloatsDelta(walk);
  const old = Buffer.from(f);
  old[1] = old[1]! & 127;
  assert.notEqual(old[1], f[1]);
  assert.deepEqual(decodeFloats(old, 100), Float64Array.from(walk));
  const ints = walk.map((x) => Math.round(x * 1000));
  const r = encodeIntegersRice(ints)!;
  assert.equal(integersCodecName(r), 'rice');
  const oldR = Buffer.from(r);
  oldR[0] = 7;
  assert.equal(integersCodecName(oldR), 'rice-v1');
  assert.deepEqual(decodeIntegers(oldR, ints.length), ints);
});

// ---- round trips ----

test('floats round-trip bit-exactly: random bit patterns, NaN payloads, ±Inf, -0, subnormals, extremes', () => {
  fc.assert(
    fc.property(fc.array(pattern, { maxLength: 200 }), (pairs) => {
      assertFloatsRoundTrip(fromBits(pairs));
    }),
    RUNS,
  );
  fc.assert(
    fc.property(anyDoubles, (xs) => {
      assertFloatsRoundTrip(Float64Array.from(xs));
    }),
    RUNS,
  );
});

test('floats round-trip bit-exactly: decimal-looking columns, sensor walks, constants, mixtures', () => {
  fc.assert(
    fc.property(fc.oneof(decimalColumn, sensorWalk), (xs) => {
      assertFloatsRoundTrip(Float64Array.from(xs));
    }),
    RUNS,
  );
  fc.assert(
    fc.property(constantColumn, (f) => {
      const enc = assertFloatsRoundTrip(f);
      if (f.length > 0) assert.equal(floatsCodecName(enc), 'const');
    }),
    RUNS,
  );
  // A sensor walk with one special value spliced in: decimal must step aside (or the result must still be exact).
  fc.assert(
    fc.property(sensorWalk, pattern, fc.nat(), (xs, p, at) => {
      const f = Float64Array.from(xs.length === 0 ? [1.5] : xs);
      f.set(fromBits([p]), at % f.length);
      assertFloatsRoundTrip(f);
    }),
    RUNS,
  );
  const empty = encodeFloats([]);
  assert.equal(empty.length, 0);
  assert.equal(decodeFloats(empty, 0).length, 0);
  assert.equal(floatsCodecName(empty), 'empty');
});

test('delta codec round-trips bit-exactly: walks at full precision, zero crossings, huge jumps, NaN/Inf mixes', () => {
  for (const arb of [floatWalk, zeroCrossingWalk, smoothColumn, fc.array(fc.oneof(pattern, pattern.map(([h]) => [h, 0] as const)), { maxLength: 300 }).map((ps) => Array.from(fromBits(ps)))]) {
    fc.assert(
      fc.property(arb, (xs) => {
        assertFloatsRoundTrip(Float64Array.from(xs));
      }),
      RUNS,
    );
  }
  fc.assert(
    fc.property(walkWithSpecials, (f) => {
      assertFloatsRoundTrip(f);
    }),
    RUNS,
  );
  // Hand-picked edges: signed zeros and subnormals next to each other, the extremes of the key
  // space (-NaN with all payload bits / +NaN), a value per binade, and every block size boundary.
  const edges: Array<Array<readonly [number, number]>> = [
    [[0, 0], [0x80000000, 0], [0, 1], [0x80000000, 1], [0, 0], [0x80000000, 0]],
    [[0xffffffff, 0xffffffff], [0x7fffffff, 0xffffffff], [0xffffffff, 0xffffffff], [0, 0], [0x7ff00000, 0]],
    Array.from({ length: 2047 }, (_, e) => [e << 20, 0x12345] as const),
  ];
  for (const e of edges) assertFloatsRoundTrip(fromBits(e));
  const rnd = new SeededRandom(11);
  for (const n of [1, 2, 127, 128, 129, 130, 256, 257, 1000]) {
    assertFloatsRoundTrip(Float64Array.from(fullPrecisionWalk(rnd, n)));
    assertFloatsRoundTrip(Float64Array.from({ length: n }, (_, i) => 0.25 * i));
  }
});

test('floats: the encoder never skips a smaller delta encoding (columns where decimal, gorilla and delta are close)', () => {
  // The encoder stops sizing the delta codec once a lower bound of its size reaches the best
  // candidate so far: on these columns the three codecs are near each other, so a bound that
  // overshot would pick a larger encoding than encodeFloatsDelta's and fail the size check.
  const rnd = new SeededRandom(23);
  let deltaWins = 0;
  for (const digits of [0, 1, 2, 3, 4, 6, 8, 10, 12]) {
    for (const step of [1e-3, 0.01, 0.5, 1, 100]) {
      for (const n of [2, 64, 129, 720]) {
        const p = 10 ** digits;
        let x = 1000 * rnd.float();
        const dec = Float64Array.from({ length: n }, () => {
          x += step * (2 * rnd.float() - 1);
          return Math.round(x * p) / p;
        });
        if (floatsCodecName(assertFloatsRoundTrip(dec)) === 'delta') deltaWins++;
        // Dyadic steps: exact in binary, so the delta codec's shifted deltas are short too.
        const dy = Float64Array.from({ length: n }, (_, i) => 64 + step * Math.round(i * rnd.float()) * 2 ** -digits);
        if (floatsCodecName(assertFloatsRoundTrip(dy)) === 'delta') deltaWins++;
        assertFloatsRoundTrip(Float64Array.from(dec, Math.fround));
      }
    }
  }
  assert.ok(deltaWins > 20, `delta chosen for ${deltaWins} columns: the cases must include its wins`);
});

test('integers round-trip exactly, including values around ±2^53', () => {
  fc.assert(
    fc.property(fc.oneof(fc.array(safeInt, { maxLength: 200 }), intWalk, intRuns), (xs) => {
      const enc = encodeIntegers(xs);
      assert.deepEqual(decodeIntegers(enc, xs.length), xs, integersCodecName(enc));
    }),
    RUNS,
  );
  for (const xs of [[], [0], [MAX], [-MAX], [MAX, -MAX, MAX], [-MAX, MAX - 1, 0], [0, 2 ** 52, 0, -(2 ** 52)], [7, 7, 7, 8]]) {
    assert.deepEqual(decodeIntegers(encodeIntegers(xs), xs.length), xs);
  }
});

test('integer rice and rice-dod round-trip exactly: Gaussian walks, sparse outliers, all-equal, near ±2^53, mixed', () => {
  const dist = (xs: number[]): [boolean, boolean] => {
    let deltas = xs.length >= 2;
    let dods = xs.length >= 2;
    for (let i = 1; i < xs.length; i++) {
      const d = xs[i]! - xs[i - 1]!;
      if (Math.abs(d) >= 2 ** 52) deltas = dods = false;
      if (i >= 2 && Math.abs(d - (xs[i - 1]! - xs[i - 2]!)) >= 2 ** 52) dods = false;
    }
    return [deltas, dods];
  };
  const column = fc.oneof(gaussianIntWalk, extremeIntWalk, allEqualInts, smoothInts, intWalk, intRuns, fc.array(safeInt, { maxLength: 100 }));
  fc.assert(
    fc.property(column, (xs) => {
      const [deltasFit, dodsFit] = dist(xs);
      const rice = encodeIntegersRice(xs);
      const dod = encodeIntegersRice(xs, true);
      assert.equal(rice !== undefined, deltasFit, 'rice applies exactly when every |delta| < 2^52');
      assert.equal(dod !== undefined, dodsFit, 'rice-dod applies exactly when every |delta| and |delta of deltas| < 2^52');
      if (rice !== undefined) {
        assert.equal(integersCodecName(rice), 'rice');
        assert.deepEqual(decodeIntegers(rice, xs.length), xs, 'rice');
      }
      if (dod !== undefined) {
        assert.equal(integersCodecName(dod), 'rice-dod');
        assert.deepEqual(decodeIntegers(dod, xs.length), xs, 'rice-dod');
      }
      // The encoder keeps the smallest candidate: never larger than rice.
      const enc = encodeIntegers(xs);
      assert.deepEqual(decodeIntegers(enc, xs.length), xs, integersCodecName(enc));
      if (rice !== undefined) assert.ok(enc.length <= rice.length, `${integersCodecName(enc)} ${enc.length} > rice ${rice.length}`);
    }),
    { seed: 42, numRuns: 500 },
  );
  // Fixed cases: two values, ±(2^52-1) steps at the edges, long columns (several blocks, outliers in every block).
  const rnd = new SeededRandom(21);
  const normal = normals(rnd);
  const long = Array.from({ length: 5000 }, (_, i) => Math.round(1e6 * Math.sin(i / 300) + 50 * normal()) + (i % 997 === 0 ? 2 ** 40 : 0));
  for (const xs of [[1, 2], [MAX, MAX - 2 ** 52 + 1], [-MAX, -MAX + 2 ** 52 - 1, -MAX], [0, 2 ** 52 - 1, 0, -(2 ** 52 - 1)], long]) {
    for (const dod of [false, true]) {
      const enc = encodeIntegersRice(xs, dod);
      if (enc !== undefined) assert.deepEqual(decodeIntegers(enc, xs.length), xs, `${dod ? 'rice-dod' : 'rice'} ${xs.length}`);
    }
    assert.deepEqual(decodeIntegers(encodeIntegers(xs), xs.length), xs);
  }
  assert.equal(encodeIntegersRice([0, 2 ** 52]), undefined);
  assert.equal(encodeIntegersRice([0, 2 ** 51, 0], true), undefined, '|delta of deltas| = 2^52');
  assert.equal(encodeIntegersRice([5]), undefined);
});

test('timestamps round-trip exactly (ascending, negative, huge gaps)', () => {
  fc.assert(
    fc.property(timestamps, (ts) => {
      assert.deepEqual(decodeTimestamps(encodeTimestamps(ts), ts.length), ts);
    }),
    RUNS,
  );
  for (const ts of [[], [0], [-5], [-MAX, MAX], [-MAX, 0, MAX], [-10, -9, -7, 1_000_000_000_000, 1_000_000_000_001], [MAX - 2, MAX - 1, MAX]]) {
    assert.deepEqual(decodeTimestamps(encodeTimestamps(ts), ts.length), ts);
  }
});

test('booleans and presence round-trip', () => {
  const bools = fc.oneof(
    fc.array(fc.boolean(), { maxLength: 300 }),
    fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 1, max: 500 })), { maxLength: 10 }).map((r) => r.flatMap(([v, n]) => new Array<boolean>(n).fill(v))),
  );
  fc.assert(
    fc.property(bools, (bs) => {
      assert.deepEqual(decodeBooleans(encodeBooleans(bs), bs.length), bs);
      assert.deepEqual(decodePresence(encodePresence(bs), bs.length), bs);
    }),
    RUNS,
  );
});

test('strings round-trip exactly (unicode, empty strings, BOMs, repeated values)', () => {
  fc.assert(
    fc.property(strColumn, (ss) => {
      const enc = encodeStrings(ss);
      assert.deepEqual(decodeStrings(enc, ss.length), ss);
    }),
    RUNS,
  );
});

test('encodeColumn / decodeColumn / codecOf by field type', () => {
  const rnd = new SeededRandom(7);
  const n = 300;
  const cols: Array<[FieldType, FieldValue[], string]> = [
    ['float', twoDecimalWalk(rnd, n), 'decimal'],
    ['float', Array.from({ length: n }, () => (rnd.float() - 0.5) * 1e6), 'gorilla'],
    ['float', fullPrecisionWalk(rnd, n), 'delta'],
    ['float', new Array<number>(n).fill(-0), 'const'],
    ['integer', Array.from({ length: n }, (_, i) => 1000 + i * 5 + (i > 150 ? (i - 150) * 2 : 0)), 'simple8b'],
    // Zigzag deltas uniform over 10 bits, then 2, then 10: rice needs a new header per block, bitpack is no longer per code.
    ['integer', zigzagBlocks(rnd, n, [10, 2]), 'bitpack'],
    ['integer', Array.from({ length: n }, (_, i) => 1000 + i * 5), 'rice-dod'],
    ['integer', steadyCounter(rnd, n, 1e9, 1000, 50), 'rice-dod'],
    ['integer', benchSensorColumns(7, 0, n)[0]!.map((x) => Math.round(x * 100)), 'rice'],
    ['integer', Array.from({ length: n }, () => rnd.int(-1e6, 1e6)), 'bitpack-for'],
    ['integer', Array.from({ length: n }, () => rnd.int(0, 3)), 'bitpack-for'],
    ['integer', Array.from({ length: n }, (_, i) => (i % 2 === 0 ? MAX : -MAX)), 'varint'],
    ['integer', new Array<number>(n).fill(0), 'const'],
    ['boolean', Array.from({ length: n }, (_, i) => i % 50 < 10), 'rle'],
    ['string', Array.from({ length: n }, (_, i) => ['us-east', 'eu-west', 'ap-south'][i % 3]!), 'dict'],
    ['string', Array.from({ length: n }, (_, i) => `request-${i}-${rnd.int(0, 1e9)}`), 'plain'],
  ];
  for (const [type, values, codec] of cols) {
    const enc = encodeColumn(type, values);
    assert.equal(codecOf(type, enc), codec, `${type} ${codec}`);
    const dec = decodeColumn(type, enc, values.length);
    assert.equal(dec.length, values.length);
    for (let i = 0; i < values.length; i++) assert.ok(Object.is(dec[i], values[i]), `${type} ${codec} value ${i}`);
  }
  assert.equal(codecOf('integer', encodeColumn('integer', [])), 'empty');
  assert.deepEqual(decodeColumn('boolean', encodeColumn('boolean', []), 0), []);
});

test('encoders reject values they cannot represent exactly (INVALID_ARGUMENT)', () => {
  const bad: Array<() => unknown> = [
    () => encodeTimestamps([1, 1]),
    () => encodeTimestamps([2, 1]),
    () => encodeTimestamps([1.5]),
    () => encodeTimestamps([2 ** 53]),
    () => encodeIntegers([1, 2 ** 53]),
    () => encodeIntegers([0.5]),
    () => encodeIntegers([NaN]),
    () => encodeStrings(['ok', 'lone \uD800 surrogate']),
    () => encodeColumn('float', [1, 'x']),
    () => encodeColumn('integer', [true]),
    () => encodeColumn('boolean', [true, 1]),
    () => encodeColumn('string', ['a', 1]),
  ];
  for (const fn of bad) assert.throws(fn, (e: unknown) => isStrataError(e, 'INVALID_ARGUMENT'), String(fn));
});

// ---- sizes ----

test('size: 720 timestamps at exactly 10 s are one run (< 16 bytes); with a few gaps, a few runs', () => {
  const ts = Array.from({ length: 720 }, (_, i) => 1_700_000_000_000 + i * 10_000);
  const enc = encodeTimestamps(ts);
  assert.equal(timestampsCodecName(enc), 'runs');
  assert.ok(enc.length < 16, `${enc.length} bytes`);
  assert.deepEqual(decodeTimestamps(enc, 720), ts);
  // Three points missing: five runs, still far below the 1 bit a point of delta-of-delta.
  const gappy = ts.filter((_, i) => i !== 100 && i !== 101 && i !== 500);
  const g = encodeTimestamps(gappy);
  assert.equal(timestampsCodecName(g), 'runs');
  assert.ok(g.length < 30, `${g.length} bytes`);
  assert.deepEqual(decodeTimestamps(g, gappy.length), gappy);
  // Jittered times are many short runs: delta-of-delta stays smaller.
  const rng = new SeededRandom(9);
  const jittered = ts.map((t) => t + rng.int(0, 40));
  const j = encodeTimestamps(jittered);
  assert.equal(timestampsCodecName(j), 'dod');
  assert.deepEqual(decodeTimestamps(j, 720), jittered);
});

test('timestamps: the encoder writes runs only when no larger than the least delta-of-delta takes', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: -1e12, max: 1e12 }),
      fc.array(fc.tuple(fc.constantFrom(1, 10_000, 60_000, 2 ** 40), fc.integer({ min: 1, max: 300 })), { minLength: 1, maxLength: 12 }),
      (t0, runs) => {
        const ts = [t0];
        for (const [d, len] of runs) for (let i = 0; i < len; i++) ts.push(ts[ts.length - 1]! + d);
        const enc = encodeTimestamps(ts);
        assert.deepEqual(decodeTimestamps(enc, ts.length), ts);
        if (ts.length >= 3) {
          // Delta-of-delta takes at least its header and a bit per point after the second.
          const dodFloor = encodeTimestamps(ts.slice(0, 2)).length + Math.ceil((ts.length - 2) / 8);
          const merged: Array<[number, number]> = [];
          for (const [d, len] of runs) {
            const last = merged[merged.length - 1];
            if (last !== undefined && last[0] === d) last[1] += len;
            else merged.push([d, len]);
          }
          const runsSize = 1 + zigzagSize(t0) + merged.reduce((n, [d, len]) => n + varintSize(d) + varintSize(len), 0);
          if (runsSize <= dodFloor) {
            assert.equal(timestampsCodecName(enc), 'runs');
            assert.equal(enc.length, runsSize);
          } else assert.equal(timestampsCodecName(enc), 'dod');
        }
      },
    ),
    RUNS,
  );
});

test('size: 720 two-decimal random-walk floats pick decimal at under half the gorilla size', () => {
  const xs = twoDecimalWalk(new SeededRandom(42), 720);
  const enc = encodeFloats(xs);
  const gorilla = encodeFloatsGorilla(xs);
  assert.equal(codecOf('float', enc), 'decimal');
  assert.ok(enc.length * 2 < gorilla.length, `decimal ${enc.length} bytes vs gorilla ${gorilla.length}`);
  assert.ok(enc.length * 8 < 720 * 10, `${((enc.length * 8) / 720).toFixed(2)} bits/value`);
  assertFloatsRoundTrip(Float64Array.from(xs));
});

test('size: 720 full-precision random-walk floats pick delta, at least 4 bits/value under gorilla', () => {
  const bits = (b: Uint8Array) => (b.length * 8) / 720;
  for (const gaussian of [false, true]) {
    const xs = fullPrecisionWalk(new SeededRandom(42), 720, gaussian);
    const enc = encodeFloats(xs);
    const gorilla = encodeFloatsGorilla(xs);
    const label = `${gaussian ? 'N(0,1)' : 'uniform'} steps: ${floatsCodecDetail(enc)} ${bits(enc).toFixed(2)} vs gorilla ${bits(gorilla).toFixed(2)} bits/value`;
    assert.equal(floatsCodecName(enc), 'delta', label);
    assert.ok(bits(gorilla) - bits(enc) >= (gaussian ? 3.5 : 4), label);
    assert.ok(bits(enc) < (gaussian ? 52 : 49), label);
    assertFloatsRoundTrip(Float64Array.from(xs));
  }
  // Two decimals: decimal still wins by far over both bit-pattern codecs.
  const sensor = twoDecimalWalk(new SeededRandom(42), 720);
  const enc = encodeFloats(sensor);
  assert.equal(floatsCodecName(enc), 'decimal');
  assert.ok(enc.length * 4 < encodeFloatsDelta(sensor).length, `decimal ${bits(enc)} vs delta ${bits(encodeFloatsDelta(sensor))} bits/value`);
  // Exactly linear columns cost a few bytes with delta-of-delta; float32 data sheds the zero low bits.
  const ramp = Array.from({ length: 720 }, (_, i) => 1_000_000.5 + i * 0.25);
  assert.ok(encodeFloatsDelta(ramp).length < 40, `ramp ${encodeFloatsDelta(ramp).length} bytes`);
  const f32 = fullPrecisionWalk(new SeededRandom(5), 720).map(Math.fround);
  assert.ok(bits(encodeFloatsDelta(f32)) < 24, `float32 walk ${bits(encodeFloatsDelta(f32))} bits/value`);
});

test('size: the bench sensor walks (two decimals, N(0, 1) steps) are at least 8% smaller with integer rice', () => {
  // The ten 720-value fields of bench host 0 (seed 2016), encodeFloats before integer rice
  // (measured: every column decimal/bitpack): 8791 bytes in all, 883 for the first column.
  const before = [883, 899, 867, 867, 868, 899, 877, 893, 877, 861];
  const cols = benchSensorColumns(2016, 0, 720);
  let total = 0;
  cols.forEach((xs, f) => {
    const enc = encodeFloats(xs);
    assert.equal(floatsCodecDetail(enc), 'decimal/rice', `field ${f}`);
    assert.deepEqual(Array.from(decodeFloats(enc, 720)), xs);
    // Every column gains, however lucky fixed-width packing was with its largest steps.
    assert.ok(enc.length <= before[f]! * 0.95, `field ${f}: ${enc.length} bytes vs ${before[f]} before`);
    total += enc.length;
  });
  // Measured: 803 bytes (-9.1%, 8.92 bits/value) for the first column, 8003 in all (-9.0%, 8.89 bits/value).
  const first = encodeFloats(cols[0]!).length;
  assert.ok(first <= 883 * 0.92, `first column ${first} bytes, ${((first * 8) / 720).toFixed(2)} bits/value`);
  assert.ok(total <= 8791 * 0.92, `${total} bytes, ${((total * 8) / 7200).toFixed(2)} bits/value`);
  // Rice is within ~0.3 bits/value of the entropy of the rounded N(0, 100) steps (~8.7 bits).
  assert.ok((total * 8) / 7200 < 9, `${((total * 8) / 7200).toFixed(2)} bits/value`);
});

test('size: steady counters use rice-dod, far under fixed-width deltas; zero nanos and dictionary indexes stay small', () => {
  const rnd = new SeededRandom(12);
  const bits = (b: Uint8Array, n = 720) => (b.length * 8) / n;
  // Requests at ~1000 per interval ± 50: bitpack of the deltas took 12.1 bits/value; measured 8.4.
  const requests = steadyCounter(rnd, 720, 123_456_789, 1000, 50);
  const req = encodeIntegers(requests);
  assert.equal(integersCodecName(req), 'rice-dod');
  assert.ok(bits(req) < 9, `${bits(req).toFixed(2)} bits/value`);
  assert.deepEqual(decodeIntegers(req, 720), requests);
  // Bytes at ~1e6 per interval ± 1e4: 21.1 bits/value before; measured 16.1.
  const traffic = steadyCounter(rnd, 720, 2 ** 45, 1e6, 1e4);
  const tr = encodeIntegers(traffic);
  assert.equal(integersCodecName(tr), 'rice-dod');
  assert.ok(bits(tr) < 17, `${bits(tr).toFixed(2)} bits/value`);
  // Zero nanos: still const, a couple of bytes.
  assert.ok(encodeIntegers(new Array<number>(720).fill(0)).length <= 2);
  // Dictionary indexes: uniform picks of 5 stay bit-packed offsets (~3 bits); sticky states gain a little.
  const uniform = Array.from({ length: 720 }, () => rnd.int(0, 4));
  const u = encodeIntegers(uniform);
  assert.equal(integersCodecName(u), 'bitpack-for');
  assert.ok(bits(u) < 3.2, `${bits(u).toFixed(2)} bits/value`);
  let state = 0;
  const sticky = Array.from({ length: 720 }, () => (rnd.int(0, 49) === 0 ? (state = rnd.int(0, 4)) : state));
  assert.ok(bits(encodeIntegers(sticky)) < 1.2, `${bits(encodeIntegers(sticky)).toFixed(2)} bits/value`);
});

test('size: 720 zero integers and a constant float column cost a few bytes', () => {
  const zeros = encodeIntegers(new Array<number>(720).fill(0));
  assert.ok(zeros.length < 16, `${zeros.length} bytes`);
  const consts = encodeFloats(new Array<number>(720).fill(21.75));
  assert.ok(consts.length < 16, `${consts.length} bytes`);
  assert.ok(encodePresence(new Array<boolean>(720).fill(true)).length <= 2);
  // Runs inside a non-constant integer column use simple8b run words.
  const runs = encodeIntegers([...new Array<number>(700).fill(3), 4, 5, ...new Array<number>(700).fill(5)]);
  assert.ok(runs.length < 40, `${runs.length} bytes`);
  // Gorilla on a slowly changing gauge stays well under a byte per value.
  const steps = Array.from({ length: 720 }, (_, i) => Math.floor(i / 60) * 1.37);
  assert.ok(encodeFloats(steps).length < 200, `${encodeFloats(steps).length} bytes`);
});

// ---- corruption ----

test('corruption: every truncation of a valid encoding throws CORRUPTION', () => {
  const rnd = new SeededRandom(3);
  const floatCols = [
    twoDecimalWalk(rnd, 100),
    Array.from({ length: 100 }, () => rnd.float() * 1e9 - 5e8),
    [1.25, 1.25, 1.25],
    [NaN, 1, Infinity],
    fullPrecisionWalk(rnd, 300),
    [...fullPrecisionWalk(rnd, 150), NaN, 0, -0, 1e-310, Infinity, ...fullPrecisionWalk(rnd, 150)],
    Array.from({ length: 200 }, (_, i) => i * 0.5),
    Array.from({ length: 300 }, (_, i) => (i % 100 < 50 ? 7 : Math.fround(i / 3))),
  ];
  for (const xs of floatCols) {
    for (const enc of [encodeFloats(xs), encodeFloatsDelta(xs)]) {
      assertPrefixesCorrupt(enc, (b) => decodeFloats(b, xs.length), `floats ${floatsCodecDetail(enc)}`);
    }
  }
  const intCols = [
    [0, 0, 0],
    Array.from({ length: 200 }, (_, i) => i * 7),
    Array.from({ length: 200 }, () => rnd.int(-1e9, 1e9)),
    Array.from({ length: 100 }, () => rnd.int(0, 3)),
    [MAX, -MAX, 0],
  ];
  for (const xs of intCols) {
    const enc = encodeIntegers(xs);
    assertPrefixesCorrupt(enc, (b) => decodeIntegers(b, xs.length), `integers ${integersCodecName(enc)}`);
  }
  for (const ts of [[5], [5, 10], Array.from({ length: 100 }, (_, i) => i * 1000 + rnd.int(0, 30)), [-MAX, MAX], [0, 10, 20, 30, 45, 60, 75]]) {
    assertPrefixesCorrupt(encodeTimestamps(ts), (b) => decodeTimestamps(b, ts.length), 'timestamps');
  }
  for (const ss of [['a', 'b', 'a', 'a'], ['x', 'yy', 'zzz', 'é🙂']]) {
    const enc = encodeStrings(ss);
    assertPrefixesCorrupt(enc, (b) => decodeStrings(b, ss.length), `strings ${codecOf('string', enc)}`);
  }
  assertCorrupt(() => decodeBooleans(new Uint8Array(0), 3), 'booleans: empty buffer');
  assertCorrupt(() => decodeBooleans(Buffer.from([1, 0x85]), 300), 'booleans: truncated varint');
});

test('corruption: unknown codec ids, inconsistent counts and bad fields throw CORRUPTION', () => {
  const floats = encodeFloats([1.5, 2.25, 3]);
  const ints = encodeIntegers([1, 5, 9, 100]);
  const ts = encodeTimestamps([10, 20, 30, 45]);
  const strs = encodeStrings(['a', 'b', 'a']);
  for (const id of [0, 11, 0x55, 255]) {
    const patch = (b: Buffer) => {
      const c = Buffer.from(b);
      c[0] = id;
      return c;
    };
    assertCorrupt(() => decodeFloats(patch(floats), 3), `floats id ${id}`);
    assertCorrupt(() => decodeIntegers(patch(ints), 4), `integers id ${id}`);
    assertCorrupt(() => decodeTimestamps(patch(ts), 4), `timestamps id ${id}`);
    assertCorrupt(() => decodeStrings(patch(strs), 3), `strings id ${id}`);
    if (id > 1) assertCorrupt(() => decodeBooleans(patch(encodeBooleans([true, false])), 2), `booleans flag ${id}`);
  }
  // Counts that do not match the data.
  assertCorrupt(() => decodeFloats(encodeFloatsGorilla([1, 2, 3]), 40), 'gorilla count too large');
  assertCorrupt(() => decodeTimestamps(ts, 5), 'timestamps count too large');
  assertCorrupt(() => decodeTimestamps(ts, 3), 'timestamps count too small');
  assertCorrupt(() => decodeIntegers(ints, 3), 'integers count too small');
  assertCorrupt(() => decodeBooleans(encodeBooleans([true, false, false]), 1), 'booleans runs exceed count');
  assertCorrupt(() => decodeFloats(floats, -1), 'negative count');
  assertCorrupt(() => decodeFloats(floats, 2 ** 40), 'absurd count');
  assertCorrupt(() => decodeFloats(Buffer.alloc(0), 1), 'empty buffer with a count');
  assertCorrupt(() => decodeFloats(Buffer.from([1]), 0), 'bytes for an empty column');
  // Fields out of range.
  assertCorrupt(() => decodeFloats(Buffer.from([2, 16, 1, 0]), 1), 'decimal scale 16');
  assertCorrupt(() => decodeIntegers(Buffer.from([2, 0, 0xf0, 0, 0, 0, 0, 0, 0, 0]), 2), 'simple8b selector 15');
  assertCorrupt(() => decodeIntegers(Buffer.from([2, 0, 0, 0, 0, 5, 0, 0, 0, 0]), 3), 'simple8b run longer than the count');
  assertCorrupt(() => decodeIntegers(Buffer.from([2, 0, 0, 0, 0, 0, 0, 0, 0, 0]), 2), 'simple8b run of zero');
  assertCorrupt(() => decodeStrings(Buffer.from([2, 2, 0xc3, 0x28]), 1), 'invalid UTF-8');
  assertCorrupt(() => decodeStrings(Buffer.from([1, 1, 1, 0x61, 1, 2]), 1), 'dictionary index out of range');
  assertCorrupt(() => decodeTimestamps(Buffer.from([1, 10, 0]), 2), 'zero delta');
  assertCorrupt(() => decodeTimestamps(Buffer.from([2, 4, 2]), 2), 'varint timestamps not ascending');
  assertCorrupt(() => decodeTimestamps(Buffer.from([3, 0, 10, 3]), 3), 'timestamp run longer than the count');
  assertCorrupt(() => decodeTimestamps(Buffer.from([3, 0, 10, 1]), 3), 'timestamp runs shorter than the count');
  assertCorrupt(() => decodeTimestamps(Buffer.from([3, 0, 0, 2]), 3), 'timestamp run of delta 0');
  assertCorrupt(() => decodeTimestamps(Buffer.from([3, 0, 10, 0, 10, 2]), 3), 'timestamp run of length 0');
  assertCorrupt(() => decodeTimestamps(Buffer.from([3, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 10, 1]), 2), 'timestamp run past 2^53');
  assertCorrupt(() => decodeFloats(Buffer.concat([encodeFloats([1, 1]), Buffer.from([0])]), 2), 'trailing byte');
  assertCorrupt(() => decodeIntegers(Buffer.from([1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]), 1), 'varint beyond 2^53');
  // A gorilla stream whose first entry reuses a window that was never defined.
  const w = new BitWriter();
  w.writeBits(1, 8);
  w.writeBits64(0, 0, 64);
  w.writeBits(0b10, 2);
  assertCorrupt(() => decodeFloats(w.finish(), 2), 'gorilla window reuse before definition');
  // Delta: count mismatches, a bad header byte, an escape wider than 64 bits, a quotient that
  // overflows 64 bits, padding that is not all ones.
  const walk300 = fullPrecisionWalk(new SeededRandom(9), 300);
  const del = encodeFloatsDelta(walk300);
  assertCorrupt(() => decodeFloats(del, 301), 'delta count too large');
  assertCorrupt(() => decodeFloats(del, 299), 'delta count too small');
  assertCorrupt(() => decodeFloats(Buffer.concat([del, Buffer.from([0xff])]), 300), 'delta trailing byte');
  // Every header byte has a meaning now (shift, order, shared headers); with the shared-headers bit
  // flipped, block headers are read as codes or the reverse, and this stream's ends do not meet.
  for (const hdr of [del[1]! ^ 128]) {
    const c = Buffer.from(del);
    c[1] = hdr;
    assertCorrupt(() => decodeFloats(c, 300), `delta header byte ${hdr}`);
  }
  const deltaStream = (fields: Array<[number, number]>, padding?: number): Buffer => {
    const bw = new BitWriter();
    bw.writeBits(4, 8);
    bw.writeBits(0, 8);
    bw.writeBits64(0x40490000, 0, 64);
    for (const [v, n] of fields) bw.writeBits(v, n);
    const b = Buffer.from(bw.finish());
    if (padding !== undefined) b[b.length - 1] = padding;
    return b;
  };
  const block = (k: number, q: number, mode: number): [number, number] => [(k << 5) | (q << 1) | mode, 11];
  // Valid: a block of zero-bit codes (k = Q = 0, mode 0) repeats the first value.
  assert.deepEqual(Array.from(decodeFloats(deltaStream([block(0, 0, 0)]), 3)), [50, 50, 50]);
  assertCorrupt(() => decodeFloats(deltaStream([block(0, 0, 0)], 0xe0), 3), 'delta padding bits not all ones');
  assertCorrupt(() => decodeFloats(deltaStream([block(0, 0, 1), [65, 7], [0, 32], [0, 32], [0, 1]]), 2), 'delta escape width 65');
  assertCorrupt(() => decodeFloats(deltaStream([block(63, 3, 0), [0b110, 3], [0, 31], [0, 32]]), 2), 'delta quotient overflows 64 bits');
  assert.equal(decodeFloats(deltaStream([block(63, 3, 0), [0b10, 2], [0, 31], [0, 32]]), 2).length, 2);
  assertCorrupt(() => decodeFloats(Buffer.from([4]), 2), 'delta header missing');
  assertCorrupt(() => decodeFloats(Buffer.from([4, 0, 1, 2, 3, 4, 5, 6, 7, 8]), 2), 'delta block header missing');
});

test('corruption: integer rice and rice-dod streams that are truncated, out of range or inconsistent throw CORRUPTION', () => {
  const rnd = new SeededRandom(8);
  const cols = [
    walk(rnd, 300, 200),
    benchSensorColumns(3, 0, 200)[0]!.map((x) => Math.round(x * 100)),
    steadyCounter(rnd, 260, 1e12, 1e6, 1e4),
    [MAX, MAX - 2 ** 51, MAX - 2 ** 52 + 1, MAX - 2 ** 52 + 4, MAX - 2 ** 51],
    [-MAX, -MAX + 2 ** 51, -MAX + 2 ** 52 - 1, -MAX + 2 ** 52 - 4, -MAX + 2 ** 51],
    [0, 1],
    [0, 1, 2],
  ];
  for (const xs of cols) {
    for (const dod of [false, true]) {
      const enc = encodeIntegersRice(xs, dod)!;
      const label = `${dod ? 'rice-dod' : 'rice'} of ${xs.length}`;
      assert.deepEqual(decodeIntegers(enc, xs.length), xs, label);
      assertPrefixesCorrupt(enc, (b) => decodeIntegers(b, xs.length), label);
      assertCorrupt(() => decodeIntegers(Buffer.concat([enc, Buffer.from([0xff])]), xs.length), `${label}: trailing byte`);
      if (xs.length > 3) {
        assertCorrupt(() => decodeIntegers(enc, xs.length + 1), `${label}: count too large`);
        assertCorrupt(() => decodeIntegers(enc, xs.length + 200), `${label}: count far too large`);
      }
    }
  }
  // Hand-made streams: id, zigzag varint v0 (and d1 for rice-dod), then block headers and codes.
  const stream = (id: number, head: number[], fields: Array<[number, number]> = [], padding?: number): Buffer => {
    const w = new ByteWriter();
    w.byte(id);
    for (const h of head) w.zigzag(h);
    const bw = new BitWriter();
    for (const [v, n] of fields) bw.writeBits(v, n);
    const b = Buffer.concat([w.finish(), bw.finish()]);
    if (padding !== undefined) b[b.length - 1] = padding;
    return b;
  };
  const block = (k: number, q: number, mode: number): [number, number] => [(k << 5) | (q << 1) | mode, 11];
  // Valid: a block of zero-bit codes (k = Q = 0, mode 0) repeats v0, or repeats d1 for rice-dod.
  assert.deepEqual(decodeIntegers(stream(7, [5], [block(0, 0, 0)]), 3), [5, 5, 5]);
  assert.deepEqual(decodeIntegers(stream(8, [5, 2], [block(0, 0, 0)]), 4), [5, 7, 9, 11]);
  assert.deepEqual(decodeIntegers(stream(8, [5, -2]), 2), [5, 3]);
  // Bit packing in k = 2 bits: zigzag codes 1, 2, 3 are deltas -1, +1, -2.
  assert.deepEqual(decodeIntegers(stream(7, [0], [block(2, 0, 0), [1, 2], [2, 2], [3, 2]]), 4), [0, -1, 0, -2]);
  // An escape of z = 2^53 - 1 (delta -2^52) is the largest code allowed; 2^53 is corrupt.
  const esc = (w: number, hi: number, lo: number): Array<[number, number]> => [block(0, 1, 1), [1, 1], [w, 7], [hi, w - 32], [lo, 32]];
  assert.deepEqual(decodeIntegers(stream(7, [2 ** 52], esc(53, 0x1fffff, 0xffffffff)), 2), [2 ** 52, 0]);
  assertCorrupt(() => decodeIntegers(stream(7, [-MAX], esc(54, 0x200000, 0)), 2), 'rice code 2^53 (delta 2^52 would land in range)');
  assertCorrupt(() => decodeIntegers(stream(7, [0], esc(64, 0xffffffff, 0xffffffff)), 2), 'rice code 2^64 - 1');
  assertCorrupt(() => decodeIntegers(stream(7, [0], [block(0, 1, 1), [1, 1], [65, 7], [0, 32], [0, 32], [0, 1]]), 2), 'rice escape width 65');
  assertCorrupt(() => decodeIntegers(stream(7, [0], [block(63, 3, 0), [0b110, 3], [0, 31], [0, 32]]), 2), 'rice quotient overflows 64 bits');
  // Values and deltas leaving the safe range.
  assertCorrupt(() => decodeIntegers(stream(7, [MAX], [block(2, 0, 0), [2, 2]]), 2), 'rice value MAX + 1');
  assertCorrupt(() => decodeIntegers(stream(7, [-MAX], [block(2, 0, 0), [1, 2]]), 2), 'rice value -MAX - 1');
  assertCorrupt(() => decodeIntegers(stream(7, [2 ** 53]), 1), 'rice v0 = 2^53');
  assertCorrupt(() => decodeIntegers(stream(8, [1, MAX]), 2), 'rice-dod v1 = MAX + 1');
  assertCorrupt(() => decodeIntegers(stream(8, [0, 2 ** 53]), 2), 'rice-dod d1 = 2^53');
  assertCorrupt(() => decodeIntegers(stream(8, [0, MAX], [block(2, 0, 0), [2, 2]]), 3), 'rice-dod delta MAX + 1');
  // -MAX, -2, then a delta of MAX + 1 (dod +3) would land on MAX - 1: rejected, deltas stay within ±(2^53-1).
  assertCorrupt(() => decodeIntegers(stream(8, [-MAX, MAX - 2], [block(3, 0, 0), [6, 3]]), 3), 'rice-dod delta MAX + 1 between valid values');
  assert.deepEqual(decodeIntegers(stream(8, [-MAX, MAX - 2], [block(3, 0, 0), [4, 3]]), 3), [-MAX, -2, MAX - 2]);
  assertCorrupt(() => decodeIntegers(stream(8, [1, MAX - 1], [block(0, 0, 0)]), 3), 'rice-dod value 2 beyond MAX');
  // Structure: missing blocks or varints, padding that is not all ones.
  assertCorrupt(() => decodeIntegers(stream(7, [0]), 2), 'rice block header missing');
  assertCorrupt(() => decodeIntegers(stream(8, [0]), 2), 'rice-dod d1 missing');
  assertCorrupt(() => decodeIntegers(stream(8, [0, 1]), 3), 'rice-dod block header missing');
  assertCorrupt(() => decodeIntegers(stream(7, [5], [block(0, 0, 0)], 0xe0), 3), 'rice padding bits not all ones');
  assertCorrupt(() => decodeIntegers(stream(7, [5], [block(0, 0, 0)]), 130), 'rice second block header missing');
});

test('corruption: random bytes never crash a decoder with anything but CORRUPTION', () => {
  const decoders: Array<(b: Uint8Array, n: number) => unknown> = [
    decodeFloats,
    decodeIntegers,
    decodeTimestamps,
    decodeBooleans,
    decodePresence,
    decodeStrings,
  ];
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 0, max: 2000 }), fc.integer({ min: 0, max: 8 }), (bytes, count, id) => {
      const b = Buffer.from(bytes);
      if (b.length > 0 && id > 0) b[0] = id;
      for (const d of decoders) corruptOrOk(() => d(b, count));
    }),
    { seed: 42, numRuns: 2000 },
  );
  // Flipping any one byte of valid encodings is also either detected or decoded without other errors.
  const encs: Array<[Buffer, (b: Uint8Array) => unknown]> = [
    [encodeFloats(twoDecimalWalk(new SeededRandom(1), 50)), (b) => decodeFloats(b, 50)],
    [encodeFloatsGorilla(twoDecimalWalk(new SeededRandom(2), 50)), (b) => decodeFloats(b, 50)],
    [encodeFloatsDelta(fullPrecisionWalk(new SeededRandom(2), 300)), (b) => decodeFloats(b, 300)],
    [encodeFloatsDelta([...fullPrecisionWalk(new SeededRandom(2), 50), NaN, 0, 0, 0, 1]), (b) => decodeFloats(b, 55)],
    [encodeIntegers(Array.from({ length: 50 }, (_, i) => i * i)), (b) => decodeIntegers(b, 50)],
    [encodeIntegersRice(walk(new SeededRandom(4), 300, 200))!, (b) => decodeIntegers(b, 300)],
    [encodeIntegersRice(steadyCounter(new SeededRandom(4), 300, 0, 1000, 30), true)!, (b) => decodeIntegers(b, 300)],
    [encodeTimestamps(Array.from({ length: 50 }, (_, i) => i * 1000 + (i % 3))), (b) => decodeTimestamps(b, 50)],
    [encodeTimestamps(Array.from({ length: 300 }, (_, i) => i * 1000 + (i > 100 ? 500 : 0))), (b) => decodeTimestamps(b, 300)],
    [encodeStrings(Array.from({ length: 50 }, (_, i) => `s${i % 4}`)), (b) => decodeStrings(b, 50)],
  ];
  fc.assert(
    fc.property(fc.nat(), fc.integer({ min: 1, max: 255 }), fc.nat({ max: encs.length - 1 }), (pos, xor, which) => {
      const [enc, dec] = encs[which]!;
      const b = Buffer.from(enc);
      const i = pos % b.length;
      b[i] = b[i]! ^ xor;
      corruptOrOk(() => dec(b));
    }),
    { seed: 42, numRuns: 2000 },
  );
});
