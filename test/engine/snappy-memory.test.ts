/**
 * Regression: snappy's default output buffers are "external" and their native
 * memory is freed only by finalizers that run on later event-loop turns. A
 * loop that never yields (a compaction in a worker, a tight read loop) grew
 * by ~3 KB per block. The tables use copied output; this builds and reads a
 * table of many blocks without ever yielding and bounds the RSS growth.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemFs } from '../../src/base/index.js';
import { makeInternalKey, ValueType } from '../../src/engine/format.js';
import { TableBuilder, TableReader } from '../../src/engine/table/index.js';

test('building and reading snappy blocks does not accumulate native memory without event-loop turns', () => {
  const fs = new MemFs();
  const value = Buffer.alloc(100);
  for (let i = 0; i < 100; i++) value[i] = 97 + (i % 7);
  const before = process.memoryUsage().rss;
  // ~40k compressed blocks written and read back, synchronously.
  for (let round = 0; round < 8; round++) {
    const file = fs.createWritable(`/t${round}.sst`);
    const b = new TableBuilder(file, { blockSize: 4096, restartInterval: 16, bloomBitsPerKey: 0, compression: 'snappy' });
    for (let i = 0; i < 80_000; i++) b.add(makeInternalKey(Buffer.from(`key${String(i).padStart(10, '0')}`), i + 1, ValueType.PUT), value);
    b.finish();
    const r = TableReader.open(fs.openRandomAccess(`/t${round}.sst`), { fileNumber: round });
    const it = r.iterator({ fillCache: false });
    let n = 0;
    for (it.seekToFirst(); it.valid(); it.next()) n++;
    it.close();
    r.close();
    assert.equal(n, 80_000);
    fs.remove(`/t${round}.sst`);
  }
  const grownMb = (process.memoryUsage().rss - before) / (1 << 20);
  // With external output buffers this grew by several hundred MB.
  if (process.env.STRATA_DEBUG) console.log("rss grown MB", grownMb);
  assert.ok(grownMb < 120, `RSS grew by ${grownMb.toFixed(0)} MB`);
});
