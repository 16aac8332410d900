import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BlockCache } from '../../src/engine/block-cache.js';
import { EngineCounters } from '../../src/engine/stats.js';

const blk = (n: number, fill = 1): Buffer => Buffer.alloc(n, fill);

test('block cache: hits and misses are counted', () => {
  const counters = new EngineCounters();
  const c = new BlockCache(1000, counters);
  const id = c.newId();
  assert.equal(c.lookup(id, 0), undefined);
  const b = blk(100);
  c.insert(id, 0, b, 100);
  assert.equal(c.lookup(id, 0), b);
  assert.equal(c.lookup(id, 0), b);
  assert.equal(c.lookup(id, 100), undefined);
  assert.equal(counters.blockCacheHits, 2);
  assert.equal(counters.blockCacheMisses, 2);
});

test('block cache: ids separate tables', () => {
  const c = new BlockCache(1000);
  const a = c.newId();
  const b = c.newId();
  assert.notEqual(a, b);
  c.insert(a, 0, blk(10, 1), 10);
  c.insert(b, 0, blk(10, 2), 10);
  assert.equal(c.lookup(a, 0)?.[0], 1);
  assert.equal(c.lookup(b, 0)?.[0], 2);
  assert.equal(c.lookup(c.newId(), 0), undefined);
});

test('block cache: evicts least recently used by bytes, respects capacity', () => {
  const c = new BlockCache(1000);
  const id = c.newId();
  for (let i = 0; i < 10; i++) c.insert(id, i * 100, blk(100), 100);
  assert.equal(c.usage, 1000);
  assert.equal(c.size, 10);
  // Touch 0 and 1 so 2 becomes the least recently used.
  assert.ok(c.lookup(id, 0));
  assert.ok(c.lookup(id, 100));
  c.insert(id, 5000, blk(250), 250); // needs 250 bytes: evicts 2, 3, 4
  assert.equal(c.usage, 950);
  assert.equal(c.size, 8);
  for (const off of [200, 300, 400]) assert.equal(c.lookup(id, off), undefined, `offset ${off} evicted`);
  for (const off of [0, 100, 500, 600, 700, 800, 900, 5000]) assert.ok(c.lookup(id, off), `offset ${off} kept`);
  // Now LRU order is 0, 100, 500, ..., 5000. A 100-byte insert evicts only 0 (950 + 100 - 100 = 950).
  c.insert(id, 6000, blk(100), 100);
  assert.equal(c.lookup(id, 0), undefined);
  assert.ok(c.lookup(id, 100));
  assert.ok(c.usage <= c.capacity);
  assert.equal(c.usage, 950);
});

test('block cache: replacing an entry updates its charge; oversize blocks are not kept', () => {
  const c = new BlockCache(1000);
  const id = c.newId();
  c.insert(id, 0, blk(100, 1), 100);
  c.insert(id, 0, blk(300, 2), 300);
  assert.equal(c.usage, 300);
  assert.equal(c.size, 1);
  assert.equal(c.lookup(id, 0)?.[0], 2);
  c.insert(id, 10, blk(2000), 2000);
  assert.equal(c.lookup(id, 10), undefined);
  assert.equal(c.usage, 300);
  // An oversize replacement drops the old entry instead of keeping stale data.
  c.insert(id, 0, blk(2000), 2000);
  assert.equal(c.lookup(id, 0), undefined);
  assert.equal(c.usage, 0);
  assert.equal(c.size, 0);
});

test('block cache: erase and clear', () => {
  const c = new BlockCache(1000);
  const id = c.newId();
  c.insert(id, 0, blk(100), 100);
  c.insert(id, 100, blk(200), 200);
  c.erase(id, 0);
  c.erase(id, 12345); // absent: no-op
  c.erase(c.newId(), 0);
  assert.equal(c.lookup(id, 0), undefined);
  assert.ok(c.lookup(id, 100));
  assert.equal(c.usage, 200);
  assert.equal(c.size, 1);
  // Erased entries are out of the LRU list: filling the cache evicts only live ones.
  for (let i = 1; i <= 8; i++) c.insert(id, 1000 * i, blk(100), 100);
  assert.equal(c.usage, 1000);
  c.insert(id, 99_000, blk(100), 100);
  assert.equal(c.lookup(id, 100), undefined); // the oldest live entry went first
  assert.equal(c.usage, 900);
  c.clear();
  assert.equal(c.usage, 0);
  assert.equal(c.size, 0);
  assert.equal(c.lookup(id, 1000), undefined);
});

test('block cache: capacity 0 caches nothing', () => {
  const c = new BlockCache(0);
  const id = c.newId();
  c.insert(id, 0, blk(1), 1);
  assert.equal(c.lookup(id, 0), undefined);
  assert.equal(c.size, 0);
});

for (const [ids_, offsets, cap] of [
  [3, 40, 5000],
  // Many more distinct keys than fit, offsets past 2^32: the index grows and shifts probe chains back.
  [40, 3000, 200_000],
] as const) {
test(`block cache: randomized against a reference LRU (${ids_} tables, ${offsets} offsets, capacity ${cap})`, () => {
  const c = new BlockCache(cap);
  const ids = Array.from({ length: ids_ }, () => c.newId());
  // Reference: Map insertion order = LRU order.
  const ref = new Map<string, { block: Buffer; charge: number }>();
  let refUsage = 0;
  let seed = 12345;
  const rnd = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  for (let step = 0; step < 20_000; step++) {
    const id = ids[rnd(ids.length)]!;
    const off = rnd(offsets) * (offsets > 1000 ? 4_000_037 : 4096);
    const k = `${id}:${off}`;
    const op = rnd(10);
    if (op < 5) {
      const got = c.lookup(id, off);
      const want = ref.get(k);
      assert.equal(got, want?.block, `step ${step} lookup ${k}`);
      if (want) {
        ref.delete(k);
        ref.set(k, want);
      }
    } else if (op < 9) {
      const charge = 1 + rnd(700);
      const block = Buffer.alloc(1);
      c.insert(id, off, block, charge);
      const old = ref.get(k);
      if (old) {
        ref.delete(k);
        refUsage -= old.charge;
      }
      ref.set(k, { block, charge });
      refUsage += charge;
      for (const [rk, rv] of ref) {
        if (refUsage <= cap) break;
        ref.delete(rk);
        refUsage -= rv.charge;
      }
    } else {
      c.erase(id, off);
      const old = ref.get(k);
      if (old) {
        ref.delete(k);
        refUsage -= old.charge;
      }
    }
    assert.equal(c.usage, refUsage, `step ${step} usage`);
    assert.equal(c.size, ref.size, `step ${step} size`);
    assert.ok(c.usage <= cap);
  }
});
}
