import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isStrataError } from '../../src/base/errors.js';
import { MemFs } from '../../src/base/mem-fs.js';
import type { RandomAccessFile } from '../../src/base/fs.js';
import { crc32c, maskCrc } from '../../src/base/crc32c.js';
import {
  compareInternalKeys,
  makeInternalKey,
  MAX_SEQUENCE,
  seqOf,
  userKeyOf,
  ValueType,
  VALUE_TYPE_FOR_SEEK,
} from '../../src/engine/format.js';
import type { InternalIterator } from '../../src/engine/iterator.js';
import { EngineCounters } from '../../src/engine/stats.js';
import { BlockCache } from '../../src/engine/block-cache.js';
import {
  Block,
  BYTEWISE_ORDER,
  decodeFooter,
  decodeHandle,
  FOOTER_SIZE,
  shortestSeparator,
  shortSuccessor,
  TableBuilder,
  TableReader,
} from '../../src/engine/table/index.js';
import type { BlockHandle, TableBuilderOptions, TableProperties } from '../../src/engine/table/index.js';
import { TableScanner } from '../../src/engine/table/table-scanner.js';

interface Entry {
  key: Buffer;
  value: Buffer;
}

const LOREM = 'the quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs. ';

function userKey(u: number): Buffer {
  return Buffer.from(`user:${String(u).padStart(8, '0')}`);
}

/**
 * 2 versions for every even user key 0, 2, ..., 2 * (users - 1) (odd user
 * keys are absent); every 7th version is a deletion. Values are compressible.
 */
function makeEntries(users: number): Entry[] {
  const out: Entry[] = [];
  for (let i = 0; i < users; i++) {
    const u = userKey(2 * i);
    for (const seq of [1000 + i, 10 + i]) {
      const type = out.length % 7 === 3 ? ValueType.DELETE : ValueType.PUT;
      const value = type === ValueType.DELETE ? Buffer.alloc(0) : Buffer.from(`${i}/${seq}:${LOREM.slice(0, (i * 13) % 80)}${LOREM}`);
      out.push({ key: makeInternalKey(u, seq, type), value });
    }
  }
  return out;
}

const ENTRIES = makeEntries(12_000); // 24,000 entries

function opts(compression: 'snappy' | 'none', extra: Partial<TableBuilderOptions> = {}): TableBuilderOptions {
  return { blockSize: 4096, restartInterval: 16, bloomBitsPerKey: 10, compression, ...extra };
}

function writeTable(fs: MemFs, path: string, entries: Entry[], o: TableBuilderOptions): TableProperties {
  const w = fs.createWritable(path);
  const tb = new TableBuilder(w, o);
  let lastEstimate = 0;
  for (const e of entries) {
    tb.add(e.key, e.value);
    const est = tb.estimatedFileSize();
    // Uncompressed, the estimate only grows (compression shrinks a block when it is written).
    if (o.compression === 'none') assert.ok(est >= lastEstimate);
    lastEstimate = est;
  }
  assert.equal(tb.entries, entries.length);
  const props = tb.finish();
  assert.ok(props.fileSize >= lastEstimate || o.compression === 'snappy');
  w.close();
  return props;
}

function assertAt(it: InternalIterator, e: Entry | undefined, msg: string): void {
  if (e === undefined) {
    assert.equal(it.valid(), false, msg);
    return;
  }
  assert.ok(it.valid(), `${msg}: not valid`);
  assert.ok(it.key().equals(e.key), `${msg}: key`);
  assert.ok(it.value().equals(e.value), `${msg}: value`);
}

/** Index of the first entry >= target, or entries.length. */
function lowerBound(entries: Entry[], target: Buffer): number {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareInternalKeys(entries[mid]!.key, target) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function checkTable(reader: TableReader, entries: Entry[], label: string): void {
  // Point lookups of every key.
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    const r = reader.get(e.key);
    assert.ok(r, `${label}: get ${i}`);
    assert.ok(r.key.equals(e.key) && r.value.equals(e.value), `${label}: get ${i} data`);
  }
  // Newest visible version / older snapshot / absent keys.
  for (let i = 0; i < entries.length; i += 2) {
    const u = userKeyOf(entries[i]!.key);
    const newest = reader.get(makeInternalKey(u, MAX_SEQUENCE, VALUE_TYPE_FOR_SEEK));
    assert.ok(newest?.key.equals(entries[i]!.key), `${label}: newest ${i}`);
    const older = reader.get(makeInternalKey(u, seqOf(entries[i]!.key) - 1, VALUE_TYPE_FOR_SEEK));
    assert.ok(older?.key.equals(entries[i + 1]!.key), `${label}: snapshot ${i}`);
  }
  // Forward and backward iteration.
  const it = reader.iterator();
  let n = 0;
  for (it.seekToFirst(); it.valid(); it.next()) assertAt(it, entries[n++], `${label}: forward ${n}`);
  assert.equal(n, entries.length);
  n = entries.length - 1;
  for (it.seekToLast(); it.valid(); it.prev()) assertAt(it, entries[n--], `${label}: backward ${n}`);
  assert.equal(n, -1);
  // Seeks to present and absent keys.
  for (let i = 0; i < entries.length; i += 37) {
    const e = entries[i]!;
    it.seek(e.key);
    assertAt(it, e, `${label}: seek ${i}`);
    it.seekForPrev(e.key);
    assertAt(it, e, `${label}: seekForPrev ${i}`);
    // Absent: the odd user key after this one.
    const absentNum = Number(userKeyOf(e.key).toString().slice(5)) + 1;
    const absent = makeInternalKey(userKey(absentNum), 5000, VALUE_TYPE_FOR_SEEK);
    const lb = lowerBound(entries, absent);
    it.seek(absent);
    assertAt(it, entries[lb], `${label}: seek absent ${i}`);
    it.seekForPrev(absent);
    assertAt(it, entries[lb - 1], `${label}: seekForPrev absent ${i}`);
    // Step both ways across block boundaries.
    if (lb > 0 && lb < entries.length) {
      it.prev();
      assertAt(it, entries[lb - 2], `${label}: prev after seekForPrev ${i}`);
      it.next();
      it.next();
      assertAt(it, entries[lb], `${label}: next next ${i}`);
    }
    const absentGet = reader.get(absent);
    assert.ok(absentGet === undefined || absentGet.key.equals(entries[lb]!.key), `${label}: get absent ${i}`);
  }
  const before = makeInternalKey(Buffer.from('a'), 1, ValueType.PUT);
  const after = makeInternalKey(Buffer.from('zzz'), 1, ValueType.PUT);
  it.seek(before);
  assertAt(it, entries[0], `${label}: seek before`);
  it.seekForPrev(before);
  assertAt(it, undefined, `${label}: seekForPrev before`);
  it.seek(after);
  assertAt(it, undefined, `${label}: seek after`);
  it.seekForPrev(after);
  assertAt(it, entries[entries.length - 1], `${label}: seekForPrev after`);
  it.close();
  it.close(); // idempotent
}

function checkProps(p: TableProperties, entries: Entry[], fileSize: number): void {
  assert.equal(p.entries, entries.length);
  assert.equal(p.deletions, entries.filter((e) => e.key[e.key.length - 8] === ValueType.DELETE).length);
  assert.ok(p.deletions > 0);
  assert.equal(p.rawKeyBytes, entries.reduce((s, e) => s + e.key.length, 0));
  assert.equal(p.rawValueBytes, entries.reduce((s, e) => s + e.value.length, 0));
  assert.ok(p.smallest.equals(entries[0]!.key));
  assert.ok(p.largest.equals(entries[entries.length - 1]!.key));
  assert.equal(p.fileSize, fileSize);
  // Blocks are cut at >= 4096 bytes of contents: roughly raw bytes / 4096 of them.
  const approx = (p.rawKeyBytes + p.rawValueBytes) / 4096;
  assert.ok(p.dataBlocks > approx * 0.5 && p.dataBlocks < approx * 1.5, `dataBlocks ${p.dataBlocks} vs ~${approx}`);
}

for (const compression of ['none', 'snappy'] as const) {
  test(`table (${compression}): every key via get, iteration both ways, seeks, properties`, () => {
    const fs = new MemFs();
    const written = writeTable(fs, '/t.sst', ENTRIES, opts(compression));
    const size = fs.fileSize('/t.sst');
    checkProps(written, ENTRIES, size);

    const counters = new EngineCounters();
    const cache = new BlockCache<Block>(1 << 20, counters);
    const reader = TableReader.open(fs.openRandomAccess('/t.sst'), { fileNumber: 7, cache, counters });
    assert.equal(reader.fileNumber, 7);
    checkProps(reader.properties, ENTRIES, size);
    assert.equal(reader.properties.dataBlocks, written.dataBlocks);
    checkTable(reader, ENTRIES, `${compression}+cache`);
    assert.ok(counters.blockCacheHits > 0);
    assert.ok(cache.usage > 0 && cache.usage <= cache.capacity);
    reader.close();

    // Without a cache, and with a cache too small to hold a block.
    const r2 = TableReader.open(fs.openRandomAccess('/t.sst'), { fileNumber: 7 });
    checkTable(r2, ENTRIES, `${compression}-nocache`);
    r2.close();
    const r3 = TableReader.open(fs.openRandomAccess('/t.sst'), { fileNumber: 7, cache: new BlockCache<Block>(100) });
    checkTable(r3, ENTRIES.slice(0), `${compression}-tinycache`);
    r3.close();
  });
}

test('table: restart interval 1 and tiny blocks (one entry per block)', () => {
  const fs = new MemFs();
  const entries = ENTRIES.slice(0, 3000);
  const p = writeTable(fs, '/tiny.sst', entries, opts('snappy', { blockSize: 1, restartInterval: 1 }));
  assert.equal(p.dataBlocks, entries.length);
  const r = TableReader.open(fs.openRandomAccess('/tiny.sst'), { fileNumber: 1, cache: new BlockCache<Block>(1 << 20) });
  checkTable(r, entries, 'tiny');
  r.close();
});

test('table: snappy shrinks compressible data; incompressible blocks are stored raw', () => {
  const fs = new MemFs();
  const none = writeTable(fs, '/none.sst', ENTRIES, opts('none'));
  const snappy = writeTable(fs, '/snappy.sst', ENTRIES, opts('snappy'));
  assert.ok(snappy.fileSize < none.fileSize * 0.5, `snappy ${snappy.fileSize} vs none ${none.fileSize}`);
  assert.equal(snappy.dataBlocks, none.dataBlocks);
  // The first data block starts at 0; its trailer's type byte says snappy.
  const firstBlockType = (path: string): number => {
    const data = fs.readFile(path);
    const r = TableReader.open(fs.openRandomAccess(path), { fileNumber: 1 });
    const h = firstDataHandle(fs, path);
    r.close();
    return data[h.offset + h.size]!;
  };
  assert.equal(firstBlockType('/snappy.sst'), 1);
  assert.equal(firstBlockType('/none.sst'), 0);

  // Random values do not compress: stored raw even with snappy.
  let seed = 99;
  const rnd = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed >>> 24;
  };
  const random: Entry[] = [];
  for (let i = 0; i < 500; i++) {
    const v = Buffer.alloc(200);
    for (let j = 0; j < v.length; j++) v[j] = rnd();
    random.push({ key: makeInternalKey(userKey(i), 1, ValueType.PUT), value: v });
  }
  writeTable(fs, '/random.sst', random, opts('snappy'));
  assert.equal(firstBlockType('/random.sst'), 0);
  readEverything(fs, '/random.sst', random);
});

test('table: bloom negatives and false positives are counted on get', () => {
  const fs = new MemFs();
  writeTable(fs, '/b.sst', ENTRIES, opts('snappy'));
  const counters = new EngineCounters();
  const r = TableReader.open(fs.openRandomAccess('/b.sst'), { fileNumber: 1, counters });
  let found = 0;
  const n = 5000;
  for (let i = 0; i < n; i++) {
    const res = r.get(makeInternalKey(userKey(2 * i + 1), MAX_SEQUENCE, VALUE_TYPE_FOR_SEEK));
    if (res !== undefined && res.key.compare(userKey(2 * i + 1), 0, undefined, 0, res.key.length - 8) === 0) found++;
  }
  assert.equal(found, 0);
  assert.equal(counters.bloomChecks, n);
  assert.ok(counters.bloomNegatives > n * 0.97, `negatives ${counters.bloomNegatives}`);
  assert.equal(counters.bloomFalsePositives, n - counters.bloomNegatives);
  // Present keys: checked, never negative.
  for (let i = 0; i < 1000; i++) assert.ok(r.get(ENTRIES[i]!.key));
  assert.equal(counters.bloomChecks, n + 1000);
  assert.equal(counters.bloomNegatives + counters.bloomFalsePositives, n);
  r.close();
});

test('table: cache use; fillCache:false reads without inserting but uses cached blocks', () => {
  const fs = new MemFs();
  const p = writeTable(fs, '/c.sst', ENTRIES, opts('snappy'));
  const counters = new EngineCounters();
  const cache = new BlockCache<Block>(64 << 20, counters);
  const r = TableReader.open(fs.openRandomAccess('/c.sst'), { fileNumber: 1, cache });
  const scan = (fill: boolean): number => {
    const it = r.iterator({ fillCache: fill });
    let n = 0;
    for (it.seekToFirst(); it.valid(); it.next()) n++;
    it.close();
    return n;
  };
  assert.equal(scan(false), ENTRIES.length);
  assert.equal(cache.size, 0);
  assert.equal(counters.blockCacheMisses, p.dataBlocks);
  assert.equal(scan(true), ENTRIES.length);
  assert.equal(cache.size, p.dataBlocks);
  const hits = counters.blockCacheHits;
  assert.equal(scan(false), ENTRIES.length);
  assert.equal(counters.blockCacheHits, hits + p.dataBlocks);
  assert.equal(cache.size, p.dataBlocks);

  // Another table under the same file number and cache never sees these blocks.
  const other = ENTRIES.map((e) => ({ key: e.key, value: Buffer.from('other') }));
  writeTable(fs, '/c2.sst', other, opts('snappy'));
  const r2 = TableReader.open(fs.openRandomAccess('/c2.sst'), { fileNumber: 1, cache });
  for (let i = 0; i < other.length; i += 101) assert.equal(r2.get(other[i]!.key)?.value.toString(), 'other');
  for (let i = 0; i < ENTRIES.length; i += 101) assert.ok(r.get(ENTRIES[i]!.key)?.value.equals(ENTRIES[i]!.value));
  r.close();
  r2.close();
});

test('table: get results stay valid after later reads', () => {
  const fs = new MemFs();
  writeTable(fs, '/k.sst', ENTRIES, opts('snappy'));
  const r = TableReader.open(fs.openRandomAccess('/k.sst'), { fileNumber: 1, cache: new BlockCache<Block>(10_000) });
  const kept: Array<{ key: Buffer; value: Buffer }> = [];
  for (let i = 0; i < ENTRIES.length; i += 50) kept.push(r.get(ENTRIES[i]!.key)!);
  const it = r.iterator();
  for (it.seekToLast(); it.valid(); it.prev()) it.key();
  it.close();
  for (let j = 0; j < kept.length; j++) {
    const e = ENTRIES[j * 50]!;
    assert.ok(kept[j]!.key.equals(e.key) && kept[j]!.value.equals(e.value), `kept ${j}`);
  }
  r.close();
});

test('table: approximateOffsetOf is monotonic and spans the data', () => {
  const fs = new MemFs();
  const p = writeTable(fs, '/a.sst', ENTRIES, opts('none'));
  const r = TableReader.open(fs.openRandomAccess('/a.sst'), { fileNumber: 1 });
  let last = -1;
  for (let i = 0; i < ENTRIES.length; i += 500) {
    const off = r.approximateOffsetOf(ENTRIES[i]!.key);
    assert.ok(off >= last);
    last = off;
  }
  assert.equal(r.approximateOffsetOf(ENTRIES[0]!.key), 0);
  const end = r.approximateOffsetOf(makeInternalKey(Buffer.from('zzz'), 1, ValueType.PUT));
  const mid = r.approximateOffsetOf(ENTRIES[ENTRIES.length >> 1]!.key);
  assert.ok(end > p.fileSize * 0.8 && end < p.fileSize, `end ${end} of ${p.fileSize}`);
  assert.ok(Math.abs(mid - end / 2) < end * 0.1, `mid ${mid} of ${end}`);
  r.close();
});

test('table: empty table', () => {
  const fs = new MemFs();
  const p = writeTable(fs, '/e.sst', [], opts('snappy'));
  assert.equal(p.entries, 0);
  assert.equal(p.dataBlocks, 0);
  assert.equal(p.smallest.length, 0);
  const r = TableReader.open(fs.openRandomAccess('/e.sst'), { fileNumber: 1 });
  assert.equal(r.properties.entries, 0);
  const k = makeInternalKey(Buffer.from('k'), 1, ValueType.PUT);
  assert.equal(r.get(k), undefined);
  const it = r.iterator();
  it.seekToFirst();
  assert.equal(it.valid(), false);
  it.seekToLast();
  assert.equal(it.valid(), false);
  it.seekForPrev(k);
  assert.equal(it.valid(), false);
  it.close();
  r.close();
});

test('table: builder rejects out-of-order keys and bad options', () => {
  const fs = new MemFs();
  const tb = new TableBuilder(fs.createWritable('/o.sst'), opts('none'));
  tb.add(makeInternalKey(Buffer.from('b'), 5, ValueType.PUT), Buffer.alloc(0));
  assert.throws(() => tb.add(makeInternalKey(Buffer.from('a'), 5, ValueType.PUT), Buffer.alloc(0)));
  assert.throws(() => tb.add(makeInternalKey(Buffer.from('b'), 5, ValueType.PUT), Buffer.alloc(0)));
  assert.throws(() => tb.add(makeInternalKey(Buffer.from('b'), 6, ValueType.PUT), Buffer.alloc(0)));
  tb.add(makeInternalKey(Buffer.from('b'), 4, ValueType.PUT), Buffer.alloc(0));
  assert.throws(() => new TableBuilder(fs.createWritable('/p.sst'), opts('none', { restartInterval: 0 })), { code: 'INVALID_ARGUMENT' });
  assert.throws(() => new TableBuilder(fs.createWritable('/p.sst'), opts('none', { bloomBitsPerKey: -1 })), { code: 'INVALID_ARGUMENT' });
});

test('table: builder copies keys and values (caller may reuse buffers)', () => {
  const fs = new MemFs();
  const w = fs.createWritable('/r.sst');
  const tb = new TableBuilder(w, opts('snappy', { blockSize: 256 }));
  const kbuf = Buffer.alloc(32);
  const vbuf = Buffer.alloc(40);
  for (let i = 0; i < 1000; i++) {
    const k = makeInternalKey(userKey(i), 1, ValueType.PUT);
    k.copy(kbuf);
    vbuf.fill(i & 0xff);
    tb.add(kbuf.subarray(0, k.length), vbuf);
    kbuf.fill(0xee);
    vbuf.fill(0xee);
  }
  const p = tb.finish();
  assert.equal(p.smallest.toString('latin1', 0, 13), 'user:00000000');
  const r = TableReader.open(fs.openRandomAccess('/r.sst'), { fileNumber: 1 });
  for (let i = 0; i < 1000; i++) {
    const got = r.get(makeInternalKey(userKey(i), 1, ValueType.PUT));
    assert.ok(got?.value.equals(Buffer.alloc(40, i & 0xff)), `value ${i}`);
  }
  r.close();
});

test('table: separators sit between blocks and are short', () => {
  const ik = (s: string, seq = 5): Buffer => makeInternalKey(Buffer.from(s, 'latin1'), seq, ValueType.PUT);
  const cases: Array<[string, string]> = [
    ['abcdefg', 'abzzz'],
    ['abc', 'abd'],
    ['abc', 'abcd'],
    ['a\xff\xff', 'b'],
    ['user:0001xyz', 'user:0002'],
    ['same', 'same'],
    ['', 'a'],
  ];
  for (const [a, b] of cases) {
    const ka = ik(a, 9);
    const kb = ik(b, a === b ? 3 : 9);
    const s = shortestSeparator(ka, kb);
    assert.ok(compareInternalKeys(ka, s) <= 0 && compareInternalKeys(s, kb) < 0, `${a} | ${b}`);
    assert.ok(s.length <= ka.length);
  }
  assert.equal(userKeyOf(shortestSeparator(ik('abcdefg'), ik('abzzz'))).toString(), 'abd');
  assert.equal(userKeyOf(shortSuccessor(ik('abcdefg'))).toString(), 'b');
  for (const a of ['abc', '\xff\xff', '', '\xffa']) {
    const s = shortSuccessor(ik(a));
    assert.ok(compareInternalKeys(ik(a), s) <= 0, a);
  }
});

test('table: iterators keep the file open until they are closed', () => {
  const fs = new MemFs();
  writeTable(fs, '/f.sst', ENTRIES.slice(0, 2000), opts('none'));
  let closed = 0;
  const inner = fs.openRandomAccess('/f.sst');
  const file: RandomAccessFile = {
    path: inner.path,
    size: inner.size,
    read: (pos, len, into) => {
      assert.equal(closed, 0, 'read after close');
      return inner.read(pos, len, into);
    },
    close: () => {
      closed++;
    },
  };
  const r = TableReader.open(file, { fileNumber: 1 });
  const it = r.iterator();
  it.seekToFirst();
  r.close();
  assert.equal(closed, 0);
  assert.throws(() => r.get(ENTRIES[0]!.key), { code: 'CLOSED' });
  let n = 0;
  for (; it.valid(); it.next()) n++;
  assert.equal(n, 2000);
  it.close();
  assert.equal(closed, 1);
  r.close();
  assert.equal(closed, 1);
  assert.throws(() => it.seekToFirst(), { code: 'CLOSED' });
});

// ---------------------------------------------------------------------------
// Corruption

interface Layout {
  footerOffset: number;
  index: BlockHandle;
  metaIndex: BlockHandle;
  filter: BlockHandle;
  properties: BlockHandle;
  dataBlocks: BlockHandle[];
}

function readBlockContents(data: Buffer, h: BlockHandle): Buffer {
  assert.equal(data[h.offset + h.size], 0, 'test layout helper expects uncompressed blocks');
  return data.subarray(h.offset, h.offset + h.size);
}

function layoutOf(fs: MemFs, path: string): Layout {
  const data = fs.readFile(path);
  const footerOffset = data.length - FOOTER_SIZE;
  const footer = decodeFooter(data.subarray(footerOffset), path, footerOffset, (d) => maskCrc(crc32c(d)));
  const meta = new Block(readBlockContents(data, footer.metaIndex), path, 0, BYTEWISE_ORDER).iterator();
  const handles = new Map<string, BlockHandle>();
  for (meta.seekToFirst(); meta.valid(); meta.next()) {
    const h = { offset: 0, size: 0 };
    assert.ok(decodeHandle(meta.value(), { pos: 0 }, meta.value().length, h));
    handles.set(meta.key().toString(), h);
  }
  const idx = new Block(readBlockContents(data, footer.index), path, 0).iterator();
  const dataBlocks: BlockHandle[] = [];
  for (idx.seekToFirst(); idx.valid(); idx.next()) {
    const h = { offset: 0, size: 0 };
    assert.ok(decodeHandle(idx.value(), { pos: 0 }, idx.value().length, h));
    dataBlocks.push(h);
  }
  return {
    footerOffset,
    index: footer.index,
    metaIndex: footer.metaIndex,
    filter: handles.get('strata.filter.bloom')!,
    properties: handles.get('strata.properties')!,
    dataBlocks,
  };
}

/** The first data block's handle (through the reader: the index block may be compressed). */
function firstDataHandle(fs: MemFs, path: string): BlockHandle {
  const r = TableReader.open(fs.openRandomAccess(path), { fileNumber: 0 });
  assert.ok(r.blockCount > 0);
  const h = r.blockHandle(0, { offset: 0, size: 0 });
  assert.equal(h.offset, 0);
  r.close();
  return h;
}

function copyWith(fs: MemFs, from: string, to: string, mutate: (b: Buffer) => Buffer): void {
  const w = fs.createWritable(to);
  w.append(mutate(Buffer.from(fs.readFile(from))));
  w.close();
}

function isCorruptionAt(err: unknown, path: string, offset?: number): boolean {
  assert.ok(isStrataError(err, 'CORRUPTION'), `expected CORRUPTION, got ${String(err)}`);
  assert.equal(err.file, path);
  assert.equal(typeof err.offset, 'number');
  if (offset !== undefined) assert.equal(err.offset, offset, err.message);
  return true;
}

function openAt(fs: MemFs, path: string, cache?: BlockCache<Block>): TableReader {
  return TableReader.open(fs.openRandomAccess(path), { fileNumber: 1, ...(cache ? { cache } : {}) });
}

/** Reads everything: returns normally only if every answer is right. Throws on corruption. */
function readEverything(fs: MemFs, path: string, entries: Entry[]): void {
  const r = openAt(fs, path);
  try {
    for (let i = 0; i < entries.length; i += 3) {
      const e = entries[i]!;
      const got = r.get(e.key);
      assert.ok(got !== undefined && got.key.equals(e.key) && got.value.equals(e.value), `wrong answer for get ${i}`);
    }
    const it = r.iterator();
    let n = 0;
    for (it.seekToFirst(); it.valid(); it.next()) {
      assert.ok(it.key().equals(entries[n]!.key) && it.value().equals(entries[n]!.value), `wrong answer at ${n}`);
      n++;
    }
    assert.equal(n, entries.length, 'iteration lost entries');
    for (it.seekToLast(); it.valid(); it.prev()) {
      n--;
      assert.ok(it.key().equals(entries[n]!.key), `wrong answer backwards at ${n}`);
    }
    assert.equal(n, 0);
    it.close();
  } finally {
    r.close();
  }
}

const SMALL = ENTRIES.slice(0, 3000);

for (const compression of ['none', 'snappy'] as const) {
  test(`table corruption (${compression}): flipped byte in a data block`, () => {
    const fs = new MemFs();
    writeTable(fs, '/good.sst', SMALL, opts(compression));
    const h = firstDataHandle(fs, '/good.sst');
    for (const at of [0, 1, h.size >> 1, h.size - 1, h.size /* type byte */, h.size + 2 /* crc */]) {
      const p = `/bad-data-${at}.sst`;
      copyWith(fs, '/good.sst', p, (b) => {
        b[h.offset + at]! ^= 0x40;
        return b;
      });
      const r = openAt(fs, p, new BlockCache<Block>(1 << 20));
      assert.throws(() => r.get(SMALL[0]!.key), (err) => isCorruptionAt(err, p, h.offset));
      const it = r.iterator();
      assert.throws(() => it.seekToFirst(), (err) => isCorruptionAt(err, p, h.offset));
      assert.equal(it.valid(), false);
      // Other blocks still read fine; the bad block was never cached.
      const late = SMALL[SMALL.length - 1]!;
      assert.ok(r.get(late.key)?.value.equals(late.value));
      assert.throws(() => r.get(SMALL[0]!.key), (err) => isCorruptionAt(err, p, h.offset));
      it.close();
      r.close();
    }
  });
}

test('table corruption: index, meta-index, properties, filter, footer', () => {
  const fs = new MemFs();
  writeTable(fs, '/good.sst', SMALL, opts('none'));
  const L = layoutOf(fs, '/good.sst');
  assert.ok(L.dataBlocks.length > 10 && L.filter && L.properties);
  const flip = (name: string, at: number, expectOffset: number): void => {
    const p = `/bad-${name}.sst`;
    copyWith(fs, '/good.sst', p, (b) => {
      b[at]! ^= 0x01;
      return b;
    });
    assert.throws(() => openAt(fs, p), (err) => isCorruptionAt(err, p, expectOffset), name);
  };
  flip('index', L.index.offset + 5, L.index.offset);
  flip('index-crc', L.index.offset + L.index.size + 1, L.index.offset);
  flip('meta-index', L.metaIndex.offset + 3, L.metaIndex.offset);
  flip('properties', L.properties.offset + 10, L.properties.offset);
  flip('filter', L.filter.offset + 17, L.filter.offset);
  flip('filter-k', L.filter.offset + L.filter.size - 1, L.filter.offset);
  flip('footer-handles', L.footerOffset + 1, L.footerOffset);
  flip('footer-crc', L.footerOffset + 37, L.footerOffset);
  flip('footer-version', L.footerOffset + 32, L.footerOffset);
  flip('footer-magic', L.footerOffset + 41, L.footerOffset + 40);
});

test('table corruption: truncated files', () => {
  const fs = new MemFs();
  writeTable(fs, '/good.sst', SMALL, opts('snappy'));
  const size = fs.fileSize('/good.sst');
  for (const keep of [0, 1, FOOTER_SIZE - 1, FOOTER_SIZE, size >> 1, size - FOOTER_SIZE, size - 1]) {
    const p = `/trunc-${keep}.sst`;
    copyWith(fs, '/good.sst', p, (b) => b.subarray(0, keep));
    assert.throws(() => openAt(fs, p), (err) => isCorruptionAt(err, p), `keep ${keep}`);
  }
  // Appending garbage moves the footer: also detected.
  copyWith(fs, '/good.sst', '/longer.sst', (b) => Buffer.concat([b, Buffer.alloc(3)]));
  assert.throws(() => openAt(fs, '/longer.sst'), (err) => isCorruptionAt(err, '/longer.sst'));
});

test('table corruption: flipped bytes anywhere are detected, never a wrong answer', () => {
  const fs = new MemFs();
  const entries = ENTRIES.slice(0, 200);
  for (const compression of ['none', 'snappy'] as const) {
    const good = `/sweep-${compression}.sst`;
    writeTable(fs, good, entries, opts(compression, { blockSize: 512 }));
    const size = fs.fileSize(good);
    // ~150 positions spread over the file, plus every footer byte.
    const positions = new Set<number>();
    const step = Math.max(1, Math.floor(size / 150));
    for (let at = step >> 1; at < size - FOOTER_SIZE; at += step) positions.add(at);
    for (let at = size - FOOTER_SIZE; at < size; at++) positions.add(at);
    let detected = 0;
    for (const at of positions) {
      const p = `/sweep-${compression}-${at}.sst`;
      copyWith(fs, good, p, (b) => {
        b[at]! ^= 1 << at % 8;
        return b;
      });
      try {
        readEverything(fs, p, entries);
      } catch (err) {
        isCorruptionAt(err, p);
        detected++;
      }
      fs.remove(p);
    }
    // Every byte of the file is covered by a checksum.
    assert.equal(detected, positions.size, `${compression}: ${detected} of ${positions.size} detected`);
  }
});

// =================================================================== sequential scans (compaction input)

test('TableScanner: every entry of a run of tables in order, as byte ranges, for readahead windows smaller and larger than a block', () => {
  const fs = new MemFs();
  const parts = [ENTRIES.slice(0, 5000), ENTRIES.slice(5000, 5001), ENTRIES.slice(5001, 14000), ENTRIES.slice(14000)];
  parts.forEach((p, i) => writeTable(fs, `/scan-${i}.sst`, p, opts(i % 2 === 0 ? 'snappy' : 'none')));
  for (const windowBytes of [100, 4096, 10_000, 1 << 20]) {
    let opened = 0;
    const scan = new TableScanner(parts.length, (i) => {
      opened++;
      return openAt(fs, `/scan-${i}.sst`);
    }, windowBytes);
    let n = 0;
    for (scan.seekToFirst(); scan.valid(); scan.next()) {
      const e = ENTRIES[n]!;
      assert.ok(scan.keySrc.subarray(scan.keyStart, scan.keyEnd).equals(e.key), `key ${n} (window ${windowBytes})`);
      assert.ok(scan.valSrc.subarray(scan.valStart, scan.valEnd).equals(e.value), `value ${n} (window ${windowBytes})`);
      n++;
    }
    assert.equal(n, ENTRIES.length, `window ${windowBytes}`);
    assert.equal(opened, parts.length);
    scan.close();
  }
});

test('TableScanner: a closed scan gives its readahead window to the next scan (no new buffer per compaction input)', () => {
  const fs = new MemFs();
  writeTable(fs, '/w.sst', ENTRIES.slice(0, 3000), opts('snappy'));
  const windowOf = (windowBytes: number): ArrayBufferLike => {
    const scan = new TableScanner(1, () => openAt(fs, '/w.sst'), windowBytes);
    scan.seekToFirst();
    assert.ok(scan.valid());
    const buf = (scan as unknown as { ra: { buf: Buffer } }).ra.buf.buffer;
    scan.close();
    return buf;
  };
  const first = windowOf(64 * 1024);
  assert.equal(windowOf(64 * 1024), first, 'the second scan reuses the first one\'s window');
  assert.notEqual(windowOf(32 * 1024), first, 'a window of another size is not handed out');
  // Two scans open at once never share a window.
  const a = new TableScanner(1, () => openAt(fs, '/w.sst'), 64 * 1024);
  const b = new TableScanner(1, () => openAt(fs, '/w.sst'), 64 * 1024);
  a.seekToFirst();
  b.seekToFirst();
  assert.notEqual((a as unknown as { ra: { buf: Buffer } }).ra.buf.buffer, (b as unknown as { ra: { buf: Buffer } }).ra.buf.buffer);
  let n = 0;
  for (; a.valid() && b.valid(); a.next(), b.next()) {
    assert.ok(a.keySrc.subarray(a.keyStart, a.keyEnd).equals(b.keySrc.subarray(b.keyStart, b.keyEnd)));
    n++;
  }
  assert.equal(n, 3000);
  a.close();
  b.close();
  a.close(); // a second close gives nothing back twice
  const c = new TableScanner(1, () => openAt(fs, '/w.sst'), 64 * 1024);
  const d = new TableScanner(1, () => openAt(fs, '/w.sst'), 64 * 1024);
  assert.notEqual((c as unknown as { ra: { buf: Buffer } }).ra.buf.buffer, (d as unknown as { ra: { buf: Buffer } }).ra.buf.buffer);
  c.close();
  d.close();
});

test('table: the builder reuses one output buffer across chunks; the file gets every byte once, in order', () => {
  const mem = new MemFs();
  const inner = mem.createWritable('/reuse.sst');
  const seen: Buffer[] = [];
  // A file that keeps a copy of each chunk as it was when appended.
  const file = {
    path: inner.path,
    get size() {
      return inner.size;
    },
    append(data: Uint8Array) {
      seen.push(Buffer.from(data));
      inner.append(data);
    },
    sync: () => inner.sync(),
    close: () => inner.close(),
  };
  const b = new TableBuilder(file, opts('snappy'));
  for (const e of ENTRIES) b.add(e.key, e.value);
  b.finish();
  file.close();
  assert.ok(seen.length > 3, `${seen.length} chunks`);
  assert.ok(Buffer.concat(seen).equals(mem.readFile('/reuse.sst')), 'the file holds exactly the chunks, in order');
  const r = openAt(mem, '/reuse.sst');
  const it = r.iterator({ fillCache: false });
  let n = 0;
  for (it.seekToFirst(); it.valid(); it.next()) {
    assert.ok(it.key().equals(ENTRIES[n]!.key));
    n++;
  }
  it.close();
  r.close();
  assert.equal(n, ENTRIES.length);
});

test('TableScanner: a corrupted data block is reported as CORRUPTION at its offset, not skipped', () => {
  const fs = new MemFs();
  writeTable(fs, '/good.sst', SMALL, opts('snappy'));
  const r = openAt(fs, '/good.sst');
  const h = r.blockHandle(3, { offset: 0, size: 0 });
  r.close();
  copyWith(fs, '/good.sst', '/bad.sst', (b) => {
    b[h.offset + 10]! ^= 0x40;
    return b;
  });
  const scan = new TableScanner(1, () => openAt(fs, '/bad.sst'));
  let n = 0;
  assert.throws(() => {
    for (scan.seekToFirst(); scan.valid(); scan.next()) n++;
  }, (err) => isCorruptionAt(err, '/bad.sst', h.offset));
  assert.ok(n > 0 && n < SMALL.length, `stopped at ${n}`);
  scan.close();
});
