/**
 * Memory that table building and compaction inputs reuse or skip
 * (table-builder.ts BuilderMemory, TableReader's scanOnly): reused buffers
 * never leak a previous table's bytes into the next, and a scan-only reader
 * keeps no filter or index keys and refuses lookups.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemFs } from '../../src/base/mem-fs.js';
import { makeInternalKey, MAX_SEQUENCE, ValueType, VALUE_TYPE_FOR_SEEK } from '../../src/engine/format.js';
import { FIND_MISS, FIND_NONE, FIND_VALUE, TableBuilder, TableReader } from '../../src/engine/table/index.js';
import { TableScanner } from '../../src/engine/table/table-scanner.js';

const OPTS = { blockSize: 1024, restartInterval: 16, bloomBitsPerKey: 10, compression: 'snappy' } as const;
const key = (tag: string, i: number): Buffer => makeInternalKey(Buffer.from(`${tag}:${String(i).padStart(8, '0')}`), 1, ValueType.PUT);
const value = (tag: string, i: number): Buffer => Buffer.from(`${tag} value ${i} `.repeat(2 + (i % 5)));

/** Writes a table of `n` entries tagged `tag` at `path`; returns its bytes. `pre`: a builder (and its file) made earlier. */
function build(fs: MemFs, path: string, tag: string, n: number, pre?: { w: ReturnType<MemFs['createWritable']>; tb: TableBuilder }): Buffer {
  const w = pre?.w ?? fs.createWritable(path);
  const tb = pre?.tb ?? new TableBuilder(w, OPTS);
  for (let i = 0; i < n; i++) tb.add(key(tag, i), value(tag, i));
  tb.finish();
  w.close();
  return fs.readFile(path);
}

test('table builder memory: a table built in reused memory is byte for byte the one built in fresh memory', () => {
  const fs = new MemFs();
  // Dirty the spare memory with big tables (large filter, index and output buffers, other bytes).
  build(fs, '/big1.sst', 'zz', 20000);
  build(fs, '/big2.sst', 'yy', 20000);
  // Two open builders take the (at most two) spares, so a third starts in fresh memory.
  const wx = fs.createWritable('/x.sst');
  const wy = fs.createWritable('/y.sst');
  const bx = new TableBuilder(wx, OPTS);
  const by = new TableBuilder(wy, OPTS);
  const wz = fs.createWritable('/fresh.sst');
  const fresh = build(fs, '/fresh.sst', 'a', 2000, { w: wz, tb: new TableBuilder(wz, OPTS) });
  for (const [b, w, tag] of [[bx, wx, 'xx'], [by, wy, 'ww']] as const) {
    for (let i = 0; i < 15000; i++) b.add(key(tag, i), value(tag, i));
    b.finish();
    w.close();
  }
  // Now the spares hold those builders' memory, full of other tables' bytes.
  const reused = build(fs, '/reused.sst', 'a', 2000);
  assert.ok(fresh.length > 10_000);
  assert.ok(reused.equals(fresh), 'a table built in reused memory differs from the same table built in fresh memory');
  // And it reads back: every key found, keys of the other tables absent (their filter bits did not leak in).
  const r = TableReader.open(fs.openRandomAccess('/reused.sst'), { fileNumber: 9 });
  for (let i = 0; i < 2000; i++) {
    assert.equal(r.find(makeInternalKey(key('a', i).subarray(0, -8), MAX_SEQUENCE, VALUE_TYPE_FOR_SEEK)), FIND_VALUE);
    assert.deepEqual(r.foundValue, value('a', i));
  }
  let passed = 0;
  for (let i = 0; i < 2000; i++) if (r.mayContain(key('xx', i).subarray(0, -8))) passed++;
  assert.ok(passed < 100, `${passed} of 2000 absent keys passed the filter`);
  r.close();
});

test('TableReader scanOnly: scans every entry, keeps no filter, refuses lookups and seeks', () => {
  const fs = new MemFs();
  build(fs, '/t.sst', 'k', 3000);
  const r = TableReader.open(fs.openRandomAccess('/t.sst'), { fileNumber: 1, scanOnly: true });
  const scan = new TableScanner(1, () => r);
  let n = 0;
  for (scan.seekToFirst(); scan.valid(); scan.next(), n++) {
    assert.deepEqual(scan.key(), key('k', n));
    assert.deepEqual(scan.value(), value('k', n));
  }
  assert.equal(n, 3000);
  scan.close();
  const r2 = TableReader.open(fs.openRandomAccess('/t.sst'), { fileNumber: 2, scanOnly: true });
  // No filter: every key "may" be there; lookups and seeks are programming errors here.
  assert.equal(r2.mayContain(Buffer.from('absent')), true);
  const lookup = makeInternalKey(Buffer.from('k:00000005'), MAX_SEQUENCE, VALUE_TYPE_FOR_SEEK);
  assert.throws(() => r2.find(lookup), /scanOnly/);
  const it = r2.iterator();
  assert.throws(() => it.seek(lookup), /scanOnly/);
  it.close();
  r2.close();
  // The same table opened normally answers.
  const r3 = TableReader.open(fs.openRandomAccess('/t.sst'), { fileNumber: 3 });
  assert.equal(r3.find(lookup), FIND_VALUE);
  assert.notEqual(r3.find(makeInternalKey(Buffer.from('absent'), MAX_SEQUENCE, VALUE_TYPE_FOR_SEEK)), FIND_VALUE);
  void FIND_MISS;
  void FIND_NONE;
  r3.close();
});
