/**
 * Block memory reuse (src/engine/table/block-pool.ts): blocks point reads
 * cache give their memory back when evicted, and the next block read reuses
 * it; a block anything kept a view of (an iterator, getSyncView,
 * TableReader.get) is pinned and its memory never reused, so those views
 * keep their bytes however much the cache churns.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemFs } from '../../src/base/mem-fs.js';
import { BlockCache } from '../../src/engine/block-cache.js';
import { open } from '../../src/engine/db.js';
import { makeInternalKey, MAX_SEQUENCE, ValueType, VALUE_TYPE_FOR_SEEK } from '../../src/engine/format.js';
import { Block, FIND_VALUE, TableBuilder, TableReader } from '../../src/engine/table/index.js';
import {
  blockMemoryCharge,
  blockPoolFreeBytes,
  blockPoolStats,
  releaseBlock,
  returnBlockMemory,
  takeBlockMemory,
} from '../../src/engine/table/block-pool.js';

test('block pool: memory comes back by size class and is handed out again', () => {
  const a = takeBlockMemory(4100);
  assert.equal(a.length, 4100);
  assert.equal(a.byteOffset, 0);
  assert.equal(a.buffer.byteLength, blockMemoryCharge(4100));
  assert.equal(blockMemoryCharge(4100), 4352);
  assert.equal(blockMemoryCharge(4352), 4352);
  a.fill(7);
  const free0 = blockPoolFreeBytes();
  returnBlockMemory(a);
  assert.equal(blockPoolFreeBytes(), free0 + 4352);
  // Another size in the same class gets the same memory back (LIFO); a different class does not.
  const other = takeBlockMemory(1000);
  assert.notEqual(other.buffer, a.buffer);
  const b = takeBlockMemory(4200);
  assert.equal(b.buffer, a.buffer);
  assert.equal(b.length, 4200);
  assert.equal(blockPoolFreeBytes(), free0);
  // Memory the pool did not hand out is refused, even of a pool size.
  returnBlockMemory(Buffer.allocUnsafeSlow(8192).subarray(256, 512));
  returnBlockMemory(Buffer.allocUnsafeSlow(128 * 1024));
  returnBlockMemory(Buffer.allocUnsafeSlow(4352));
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

test('block pool: a block whose memory went back to the pool cannot be pinned', () => {
  const fs = new MemFs();
  writeTable(fs, 500, 'snappy');
  const cache = new BlockCache<Block>(2 * 1024, undefined, releaseBlock);
  const r = TableReader.open(fs.openRandomAccess('/t.sst'), { fileNumber: 1, cache });
  assert.equal(r.find(lookup(0)), FIND_VALUE);
  const first = r.foundBlock!;
  assert.equal(first.reusable, true);
  // Reads far away evict it: its memory is given back, and a late pin is an error, not a stale view.
  for (let i = 250; i < 500; i += 10) assert.equal(r.find(lookup(i)), FIND_VALUE);
  assert.equal(first.released, true);
  assert.equal(first.reusable, false);
  assert.throws(() => first.pin(), /block pool/);
  r.close();
});
