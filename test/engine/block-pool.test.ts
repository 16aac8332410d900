/**
 * Block memory reuse (src/engine/table/block-pool.ts): a block leaves the
 * cache and, once no table iterator is positioned in it, gives its memory
 * back; the next block read reuses it. Views a table iterator hands out stay
 * valid until it moves, however much the cache churns meanwhile; a block
 * anything keeps a view of for longer (getSyncView, TableReader.get) is
 * pinned and its memory never reused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemFs } from '../../src/base/mem-fs.js';
import { SeededRandom } from '../../src/base/random.js';
import { BlockCache } from '../../src/engine/block-cache.js';
import { open } from '../../src/engine/db.js';
import { makeInternalKey, MAX_SEQUENCE, ValueType, VALUE_TYPE_FOR_SEEK } from '../../src/engine/format.js';
import { INTERNAL_KEY_ORDER } from '../../src/engine/table/block.js';
import { Block, FIND_VALUE, TableBuilder, TableReader } from '../../src/engine/table/index.js';
import {
  blockMemoryCharge,
  blockPoolFreeBytes,
  blockPoolStats,
  dropBlock,
  holdBlock,
  releaseBlock,
  takeBlock,
} from '../../src/engine/table/block-pool.js';

test('block pool: blocks come back by size class and are handed out again, object and memory together', () => {
  const contents = (n: number): Buffer => {
    // A valid block: n - 8 bytes of entries area, one restart point (0), the count.
    const b = Buffer.alloc(n);
    b.writeUInt32LE(0, n - 8);
    b.writeUInt32LE(1, n - 4);
    return b;
  };
  const a = takeBlock(4100);
  assert.equal(a.data.length, blockMemoryCharge(4100));
  assert.equal(blockMemoryCharge(4100), 4352);
  assert.equal(blockMemoryCharge(4352), 4352);
  contents(4100).copy(a.data);
  a.reset(4100, 'f', 0, INTERNAL_KEY_ORDER, true);
  assert.equal(a.size, 4100);
  assert.equal(a.dataEnd, 4092);
  assert.equal(a.reusable, true);
  const free0 = blockPoolFreeBytes();
  releaseBlock(a); // not cached, no iterator in it: back to the pool
  assert.equal(a.released, true);
  assert.equal(blockPoolFreeBytes(), free0 + 4352);
  // Another size in the same class gets the same block back (LIFO); a different class does not.
  const other = takeBlock(1000);
  assert.notEqual(other, a);
  const b = takeBlock(4200);
  assert.equal(b, a);
  assert.equal(b.released, false);
  contents(4200).copy(b.data);
  b.reset(4200, 'g', 4096, INTERNAL_KEY_ORDER, true);
  assert.equal(b.size, 4200);
  assert.equal(b.dataEnd, 4192);
  assert.equal(blockPoolFreeBytes(), free0);
  // Blocks the pool did not make are refused, even reusable ones of a pool size; so are pinned ones.
  const outsider = new Block(contents(4352), 'h', 0);
  outsider.reusable = true;
  releaseBlock(outsider);
  const big = takeBlock(128 * 1024);
  contents(128 * 1024).copy(big.data);
  big.reset(128 * 1024, 'i', 0, INTERNAL_KEY_ORDER, true);
  releaseBlock(big);
  b.pin();
  releaseBlock(b);
  assert.equal(b.released, false);
  assert.equal(blockPoolFreeBytes(), free0);
});

test('block cache: onRemove sees every evicted, replaced or erased block, but not a re-inserted one or a cleared cache', () => {
  const removed: string[] = [];
  const c = new BlockCache<string>(30, undefined, (b) => removed.push(b));
  const id = c.newId();
  c.insert(id, 0, 'a', 10);
  c.insert(id, 1, 'b', 10);
  c.insert(id, 2, 'c', 10);
  c.insert(id, 3, 'd', 10); // evicts a
  assert.deepEqual(removed, ['a']);
  c.insert(id, 1, 'b2', 10); // replaces b
  assert.deepEqual(removed, ['a', 'b']);
  c.insert(id, 1, 'b2', 10); // the same block again: not removed
  assert.deepEqual(removed, ['a', 'b']);
  c.erase(id, 2);
  assert.deepEqual(removed, ['a', 'b', 'c']);
  c.clear();
  assert.deepEqual(removed, ['a', 'b', 'c']);
  assert.equal(c.size, 0);
});

const userKey = (i: number): Buffer => Buffer.from(`user:${String(i).padStart(8, '0')}`);
const valueOf = (i: number): Buffer => Buffer.from(`value ${i} `.repeat(3 + (i % 9)));
const lookup = (i: number): Buffer => makeInternalKey(userKey(i), MAX_SEQUENCE, VALUE_TYPE_FOR_SEEK);

function writeTable(fs: MemFs, n: number, compression: 'none' | 'snappy'): void {
  const w = fs.createWritable('/t.sst');
  const tb = new TableBuilder(w, { blockSize: 1024, restartInterval: 16, bloomBitsPerKey: 10, compression });
  for (let i = 0; i < n; i++) tb.add(makeInternalKey(userKey(i), 1, ValueType.PUT), valueOf(i));
  tb.finish();
  w.close();
}

for (const compression of ['none', 'snappy'] as const) {
  test(`block pool (${compression}): point reads reuse evicted blocks' memory; views an iterator or get() handed out keep their bytes`, () => {
    const N = 3000;
    const fs = new MemFs();
    writeTable(fs, N, compression);
    // Room for about three blocks: nearly every read evicts one.
    const cache = new BlockCache<Block>(4 * 1024, undefined, releaseBlock);
    const r = TableReader.open(fs.openRandomAccess('/t.sst'), { fileNumber: 1, cache });
    assert.ok(r.properties.dataBlocks > 100);

    // A point read caches its block as reusable.
    assert.equal(r.find(lookup(10)), FIND_VALUE);
    assert.deepEqual(r.foundValue, valueOf(10));
    assert.equal(r.foundBlock!.reusable, true);

    // An iterator meets that block in the cache and pins it; get() pins the block of the value it returns.
    const it = r.iterator();
    it.seek(lookup(10));
    assert.ok(it.valid());
    const itKey = it.key();
    const itValue = it.value();
    const got = r.get(lookup(2000))!;
    assert.deepEqual(got.value, valueOf(2000));

    // Churn: point reads all over the table, each checked.
    const reused0 = blockPoolStats.reused;
    for (let round = 0; round < 3; round++) {
      for (let i = round; i < N; i += 7) {
        assert.equal(r.find(lookup(i)), FIND_VALUE, `find ${i}`);
        assert.ok(r.foundValue.equals(valueOf(i)), `value ${i} in round ${round}`);
      }
    }
    assert.ok(blockPoolStats.reused - reused0 > 500, `only ${blockPoolStats.reused - reused0} blocks reused memory`);

    assert.deepEqual(itKey.subarray(0, itKey.length - 8), userKey(10), 'an iterator key view changed');
    assert.deepEqual(itValue, valueOf(10), 'an iterator value view changed');
    assert.deepEqual(got.value, valueOf(2000), 'a TableReader.get value view changed');
    // The iterator still walks on correctly from its (pinned) block.
    for (let i = 11; i < 60; i++) {
      it.next();
      assert.deepEqual(it.value(), valueOf(i));
    }
    it.close();
    r.close();
  });
}

test('block pool: a getSyncView value keeps its bytes while other reads churn the cache; every read stays right', async () => {
  const fs = new MemFs();
  const db = await open('/db', { fs, blockSize: 1024, blockCacheSize: 8 * 1024, writeBufferSize: 64 * 1024 });
  try {
    const N = 4000;
    const k = (i: number) => `key${String(i).padStart(6, '0')}`;
    const v = (i: number) => `value-${i}-`.repeat(4 + (i % 5));
    for (let i = 0; i < N; i += 500) {
      const b = db.batch();
      for (let j = i; j < i + 500; j++) b.put(k(j), v(j));
      await db.write(b);
    }
    await db.compactRange();
    const view = db.getSyncView(k(1234))!;
    assert.equal(view.toString(), v(1234));
    const reused0 = blockPoolStats.reused;
    for (let round = 0; round < 2; round++) {
      for (let i = round; i < N; i += 3) assert.equal(db.getSync(k(i))?.toString(), v(i), `getSync ${i}`);
    }
    assert.ok(blockPoolStats.reused - reused0 > 200, `only ${blockPoolStats.reused - reused0} blocks reused memory`);
    assert.equal(view.toString(), v(1234), 'a getSyncView value changed under later reads');
  } finally {
    await db.close();
  }
});

/** A 500-entry table behind a cache of about two blocks, and the block a point read of its first key cached. */
function tinyCacheTable(): { r: TableReader; first: Block } {
  const fs = new MemFs();
  writeTable(fs, 500, 'snappy');
  const cache = new BlockCache<Block>(2 * 1024, undefined, releaseBlock);
  const r = TableReader.open(fs.openRandomAccess('/t.sst'), { fileNumber: 1, cache });
  assert.equal(r.find(lookup(0)), FIND_VALUE);
  return { r, first: r.foundBlock! };
}

test('block pool: a block whose memory went back to the pool cannot be pinned', () => {
  const { r, first } = tinyCacheTable();
  assert.equal(first.reusable, true);
  // Reads far away evict it: it goes back to the pool, and a late pin (before the pool hands the
  // object out again) is an error, not a stale view.
  for (let i = 250; i < 500 && !first.released; i += 10) assert.equal(r.find(lookup(i)), FIND_VALUE);
  assert.equal(first.released, true);
  assert.equal(first.reusable, false);
  assert.throws(() => first.pin(), /block pool/);
  // The next block read reuses it.
  assert.equal(r.find(lookup(100)), FIND_VALUE);
  assert.equal(r.foundBlock, first);
  assert.equal(first.released, false);
  r.close();
});

test('block pool: a released block cannot be held by an iterator; a block an iterator holds outlives its eviction', () => {
  const { r, first } = tinyCacheTable();
  holdBlock(first);
  holdBlock(first);
  for (let i = 250; i < 500; i += 10) assert.equal(r.find(lookup(i)), FIND_VALUE);
  // Evicted, but held twice: its memory stays until the last holder lets go.
  assert.equal(first.cached, false);
  assert.equal(first.released, false);
  dropBlock(first);
  assert.equal(first.released, false);
  dropBlock(first);
  assert.equal(first.released, true);
  assert.throws(() => holdBlock(first), /block pool/);
  assert.throws(() => dropBlock(first), /reference count/);
  r.close();
});

for (const fillCache of [true, false]) {
  test(`block pool: a table iterator scanning (fillCache ${fillCache}) gives each block's memory back as it moves on`, () => {
    const N = 3000;
    const fs = new MemFs();
    writeTable(fs, N, 'snappy');
    const cache = new BlockCache<Block>(4 * 1024, undefined, releaseBlock);
    const r = TableReader.open(fs.openRandomAccess('/t.sst'), { fileNumber: 1, cache });
    const blocks = r.properties.dataBlocks;
    assert.ok(blocks > 100);
    // Warm the pool with a few blocks' worth, then count what a full scan allocates.
    const it0 = r.iterator({ fillCache });
    for (it0.seekToFirst(); it0.valid(); it0.next());
    it0.close();
    const alloc0 = blockPoolStats.allocated;
    const reused0 = blockPoolStats.reused;
    const it = r.iterator({ fillCache });
    let i = 0;
    for (it.seekToFirst(); it.valid(); it.next(), i++) {
      assert.deepEqual(it.key().subarray(0, it.key().length - 8), userKey(i));
      assert.deepEqual(it.value(), valueOf(i));
    }
    assert.equal(i, N);
    it.close();
    assert.ok(blockPoolStats.allocated - alloc0 <= 8, `a scan of ${blocks} blocks allocated ${blockPoolStats.allocated - alloc0}`);
    assert.ok(blockPoolStats.reused - reused0 >= blocks - 8, `only ${blockPoolStats.reused - reused0} of ${blocks} blocks reused memory`);
    r.close();
  });
}

test('block pool: iterators sharing blocks, moving and seeking among point reads that churn the cache, always read right', () => {
  const N = 3000;
  const fs = new MemFs();
  writeTable(fs, N, 'snappy');
  // About three blocks: nearly every load evicts another.
  const cache = new BlockCache<Block>(4 * 1024, undefined, releaseBlock);
  const r = TableReader.open(fs.openRandomAccess('/t.sst'), { fileNumber: 1, cache });
  const random = new SeededRandom(99);
  const rnd = (n: number): number => random.int(0, n - 1);
  // Several iterators, each with the views it handed out at its current entry.
  const its = Array.from({ length: 4 }, () => ({ it: r.iterator(), at: -1, key: Buffer.alloc(0) as Buffer, value: Buffer.alloc(0) as Buffer }));
  const check = (s: (typeof its)[number], what: string): void => {
    if (s.at < 0) return;
    // The views taken when the iterator got here still read right, as do fresh ones.
    assert.deepEqual(s.key.subarray(0, s.key.length - 8), userKey(s.at), `${what}: key view`);
    assert.deepEqual(s.value, valueOf(s.at), `${what}: value view`);
    assert.deepEqual(s.it.value(), valueOf(s.at), `${what}: value`);
  };
  const reused0 = blockPoolStats.reused;
  for (let step = 0; step < 20000; step++) {
    const s = its[rnd(its.length)]!;
    const op = rnd(10);
    if (op < 3 || s.at < 0) {
      // Seek, often near another iterator (so they share its block).
      const other = its[rnd(its.length)]!;
      const target = other.at >= 0 && rnd(2) === 0 ? Math.min(N - 1, other.at + rnd(3)) : rnd(N);
      s.it.seek(lookup(target));
      s.at = target;
    } else if (op < 6) {
      s.it.next();
      s.at++;
      if (s.at === N) {
        assert.equal(s.it.valid(), false);
        s.at = -1;
        continue;
      }
    } else if (op < 8) {
      if (s.at === 0) continue;
      s.it.prev();
      s.at--;
    } else {
      // A point read somewhere else.
      const k = rnd(N);
      assert.equal(r.find(lookup(k)), FIND_VALUE);
      assert.ok(r.foundValue.equals(valueOf(k)), `find ${k}`);
      for (const t of its) check(t, `after find ${k}`);
      continue;
    }
    assert.ok(s.it.valid());
    s.key = s.it.key();
    s.value = s.it.value();
    for (const t of its) check(t, `step ${step}`);
  }
  assert.ok(blockPoolStats.reused - reused0 > 2000, `only ${blockPoolStats.reused - reused0} blocks reused memory`);
  for (const s of its) s.it.close();
  r.close();
});

test('block pool: DB iterators (both directions, seeks) interleaved with point reads over a tiny cache return exactly the model', async () => {
  const fs = new MemFs();
  const db = await open('/db', { fs, blockSize: 512, blockCacheSize: 4 * 1024, writeBufferSize: 64 * 1024 });
  try {
    const N = 3000;
    const k = (i: number) => `key${String(i).padStart(6, '0')}`;
    const v = (i: number, gen: number) => `v${gen}-${i}-`.repeat(3 + (i % 7));
    const model = new Map<number, string>();
    // Two generations, the second over every third key, plus deletes: versions in several levels.
    for (let gen = 0; gen < 2; gen++) {
      for (let i = gen; i < N; i += 1 + 2 * gen) {
        const b = db.batch();
        b.put(k(i), v(i, gen));
        model.set(i, v(i, gen));
        if (gen === 1 && i % 5 === 0) {
          b.delete(k(i + 1));
          model.delete(i + 1);
        }
        await db.write(b);
      }
      if (gen === 0) await db.compactRange();
    }
    const keys = [...model.keys()].sort((a, b) => a - b);
    const random = new SeededRandom(4242);
    const rnd = (n: number): number => random.int(0, n - 1);
    const its = [0, 1, 2].map((j) => ({ it: db.iterator({ reverse: j === 1 }), reverse: j === 1, pos: j === 1 ? keys.length - 1 : 0 }));
    const reused0 = blockPoolStats.reused;
    for (let step = 0; step < 6000; step++) {
      const s = its[rnd(its.length)]!;
      const op = rnd(8);
      if (op === 0) {
        const t = rnd(N);
        s.it.seek(k(t));
        // First key >= t forward, last key <= t in reverse.
        let p = keys.findIndex((x) => x >= t);
        if (s.reverse) p = p < 0 ? keys.length - 1 : keys[p] === t ? p : p - 1;
        s.pos = p < 0 ? keys.length : p;
      } else if (op < 5) {
        const e = s.it.nextSync();
        if (s.pos < 0 || s.pos >= keys.length) assert.equal(e, undefined);
        else {
          const want = keys[s.pos]!;
          assert.ok(e !== undefined, `iterator ended early at ${want}`);
          assert.equal(e[0].toString(), k(want));
          assert.equal(e[1].toString(), model.get(want));
          s.pos += s.reverse ? -1 : 1;
        }
      } else {
        const i = rnd(N);
        assert.equal(db.getSync(k(i))?.toString(), model.get(i), `getSync ${i}`);
      }
    }
    assert.ok(blockPoolStats.reused - reused0 > 1000, `only ${blockPoolStats.reused - reused0} blocks reused memory`);
    for (const s of its) s.it.close();
  } finally {
    await db.close();
  }
});
