import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemFs } from '../../src/base/mem-fs.js';
import { makeInternalKey, ValueType } from '../../src/engine/format.js';
import { EngineCounters } from '../../src/engine/stats.js';
import { BloomFilter, BloomFilterBuilder, bloomHash, bloomProbes, modU32 } from '../../src/engine/table/bloom.js';
import { SeededRandom } from '../../src/base/random.js';
import { TableBuilder } from '../../src/engine/table/table-builder.js';
import { TableReader } from '../../src/engine/table/table-reader.js';

test('bloom: hash is MurmurHash3 x86_32 (pinned: it is part of the file format)', () => {
  assert.equal(bloomHash(Buffer.alloc(0), 0, 0, 0), 0);
  assert.equal(bloomHash(Buffer.alloc(0), 0, 0, 1), 0x514e28b7);
  assert.equal(bloomHash(Buffer.from('hello'), 0, 5, 0), 0x248bfa47);
  assert.equal(bloomHash(Buffer.from('The quick brown fox jumps over the lazy dog'), undefined, undefined, 0), 0x2e4ff723);
  // Sub-ranges hash like the bytes alone.
  const buf = Buffer.from('xxhelloyy');
  assert.equal(bloomHash(buf, 2, 7), bloomHash(Buffer.from('hello')));
  assert.notEqual(bloomHash(Buffer.from('hellp')), bloomHash(Buffer.from('hello')));
});

test('bloom: filter layout is pinned (independent re-implementation of the documented format)', () => {
  const fmix = (x: number): number => {
    x ^= x >>> 16;
    x = Math.imul(x, 0x85ebca6b);
    x ^= x >>> 13;
    x = Math.imul(x, 0xc2b2ae35);
    x ^= x >>> 16;
    return x >>> 0;
  };
  const keys = ['apple', 'banana', 'cherry', 'k'].map((k) => Buffer.from(k));
  for (const bitsPerKey of [10, 30]) {
    const b = new BloomFilterBuilder(bitsPerKey);
    for (const k of keys) b.addKey(k);
    const got = b.finish();
    const m = 8 * Math.ceil(Math.max(64, keys.length * bitsPerKey) / 8);
    const k = Math.min(30, Math.max(1, Math.round(bitsPerKey * Math.LN2)));
    const want = Buffer.alloc(m / 8 + 1);
    for (const key of keys) {
      const h = bloomHash(key, 0, key.length, 0xbc9f1d34);
      const delta = fmix((h ^ 0x9e3779b9) >>> 0);
      for (let i = 0; i < k; i++) {
        const bit = ((h + Math.imul(i, delta)) >>> 0) % m;
        want[bit >> 3]! |= 1 << (bit & 7);
      }
    }
    want[m / 8] = k;
    assert.deepEqual(got, want, `bitsPerKey ${bitsPerKey}`);
  }
});

test('bloom: probe count', () => {
  assert.equal(bloomProbes(10), 7);
  assert.equal(bloomProbes(1), 1);
  assert.equal(bloomProbes(0.1), 1);
  assert.equal(bloomProbes(64), 30);
});

function key(i: number): Buffer {
  return Buffer.from(`key-${i}-${(i * 2654435761) >>> 0}`);
}

test('bloom: no false negatives, false-positive rate near theory at 10 bits/key', () => {
  const b = new BloomFilterBuilder(10);
  const n = 10_000;
  for (let i = 0; i < n; i++) b.addKey(key(i));
  assert.equal(b.keys, n);
  const data = b.finish();
  assert.equal(BloomFilter.check(data), undefined);
  assert.equal(data.length, n * 10 / 8 + 1);
  assert.equal(data[data.length - 1], 7);
  const f = new BloomFilter(data);
  for (let i = 0; i < n; i++) assert.ok(f.mayContain(key(i)), `false negative for ${i}`);
  let fp = 0;
  const probes = 100_000;
  for (let i = n; i < n + probes; i++) if (f.mayContain(key(i))) fp++;
  const rate = fp / probes;
  // Theory for m/n = 10, k = 7: ~0.82% (LevelDB-style rotation probing gives ~1.3%).
  assert.ok(rate < 0.011, `false positive rate ${rate}`);
  assert.ok(rate > 0.002, `suspiciously low false positive rate ${rate}`);
});

test('bloom: small and short-key filters, sub-range adds', () => {
  const b = new BloomFilterBuilder(10);
  const wide = Buffer.from('__a__');
  b.addKey(wide, 2, 3);
  b.addKey(Buffer.alloc(0));
  const f = new BloomFilter(b.finish());
  assert.ok(f.mayContain(Buffer.from('a')));
  assert.ok(f.mayContain(Buffer.alloc(0)));
  assert.equal(f.size, 64 / 8 + 1);
  let fp = 0;
  for (let i = 0; i < 1000; i++) if (f.mayContain(key(i))) fp++;
  assert.ok(fp < 50, `fp ${fp}`);
});

test('bloom: malformed filter contents are detected', () => {
  assert.notEqual(BloomFilter.check(Buffer.from([1])), undefined);
  assert.notEqual(BloomFilter.check(Buffer.from([0, 0, 0, 0])), undefined);
  assert.notEqual(BloomFilter.check(Buffer.from([0, 0, 0, 31])), undefined);
  assert.equal(BloomFilter.check(Buffer.from([0, 0, 0, 30])), undefined);
});

function buildTable(fs: MemFs, path: string, bits: number, keys: number): void {
  const w = fs.createWritable(path);
  const tb = new TableBuilder(w, { blockSize: 4096, restartInterval: 16, bloomBitsPerKey: bits, compression: 'none' });
  for (let i = 0; i < keys; i++) {
    tb.add(makeInternalKey(Buffer.from(`k${String(i).padStart(6, '0')}`), 10, ValueType.PUT), Buffer.from('v'));
  }
  tb.finish();
  w.close();
}

test('bloom: 0 bits per key writes no filter; lookups are not counted', () => {
  const fs = new MemFs();
  buildTable(fs, '/no-filter.sst', 0, 2000);
  buildTable(fs, '/filter.sst', 10, 2000);
  assert.ok(fs.fileSize('/no-filter.sst') + 2000 * 10 / 8 <= fs.fileSize('/filter.sst'));

  const counters = new EngineCounters();
  const none = TableReader.open(fs.openRandomAccess('/no-filter.sst'), { fileNumber: 1, counters });
  for (let i = 0; i < 1000; i++) assert.equal(none.mayContain(Buffer.from(`absent${i}`)), true);
  // Without a filter, get() goes to the blocks: the first entry >= 'absent' is k000000.
  assert.equal(none.get(makeInternalKey(Buffer.from('absent'), 100, ValueType.PUT))?.key.subarray(0, 7).toString(), 'k000000');
  assert.equal(counters.bloomChecks, 0);
  assert.equal(counters.bloomNegatives, 0);

  const some = TableReader.open(fs.openRandomAccess('/filter.sst'), { fileNumber: 2, counters });
  let negatives = 0;
  for (let i = 0; i < 1000; i++) if (!some.mayContain(Buffer.from(`absent${i}`))) negatives++;
  assert.ok(negatives > 950, `negatives ${negatives}`);
  assert.equal(counters.bloomChecks, 1000);
  assert.equal(counters.bloomNegatives, negatives);
  for (let i = 0; i < 2000; i++) assert.ok(some.mayContain(Buffer.from(`k${String(i).padStart(6, '0')}`)));
  none.close();
  some.close();
});

test('modU32 equals % for uint32 hashes and every filter size', () => {
  const r = new SeededRandom(17);
  const sizes = [1, 3, 512, 513, 4095, 65_537, 2_397_120, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 2, 2 ** 32 - 1];
  for (let i = 0; i < 200_000; i++) {
    const h = r.int(0, 2 ** 32 - 1);
    for (const m of sizes) assert.equal(modU32(h, m), h % m, `${h} % ${m}`);
  }
  for (const h of [0, 1, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 2, 2 ** 32 - 1]) for (const m of sizes) assert.equal(modU32(h, m), h % m);
});
