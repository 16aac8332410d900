/**
 * Damaged files give CORRUPTION (naming the file and offset), never a wrong
 * answer. Databases live on a MemFs; bytes are flipped or cut directly in
 * its MemFile buffers, on a fresh copy for each case.
 *
 * Failures print SEED=<n>; STRATA_SEED=<n> replays the random flips.
 * STRATA_LONG_TESTS runs many more random flips.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32c, maskCrc } from '../../src/base/crc32c.js';
import { ERROR_CODES, isStrataError, StrataError } from '../../src/base/errors.js';
import { MemFile, MemFs } from '../../src/base/mem-fs.js';
import { SeededRandom } from '../../src/base/random.js';
import { DB } from '../../src/engine/db.js';
import type { OpenOptions } from '../../src/engine/options.js';
import { Block, BYTEWISE_ORDER } from '../../src/engine/table/block.js';
import { decodeFooter, decodeHandle, FOOTER_SIZE, META_FILTER_KEY, META_PROPERTIES_KEY } from '../../src/engine/table/format.js';
import type { BlockHandle } from '../../src/engine/table/format.js';
import { TableReader } from '../../src/engine/table/table-reader.js';
import { BLOCK_SIZE, HEADER_SIZE, RecordType } from '../../src/engine/wal/format.js';

const LONG = !!process.env.STRATA_LONG_TESTS && process.env.STRATA_LONG_TESTS !== '0';
const SEED = process.env.STRATA_SEED === undefined ? 4242 : Number(process.env.STRATA_SEED);
const DIR = '/db';

// ------------------------------------------------------------------ helpers


function memFile(fs: MemFs, path: string): MemFile {
  const f = fs.files.get(path);
  assert.ok(f, `no file ${path}`);
  return f;
}

function flip(fs: MemFs, path: string, pos: number, mask = 0x20): void {
  const f = memFile(fs, path);
  assert.ok(pos >= 0 && pos < f.length, `flip at ${pos} outside ${path} (${f.length} bytes)`);
  f.data[pos]! ^= mask;
}

function truncate(fs: MemFs, path: string, length: number): void {
  const f = memFile(fs, path);
  assert.ok(length <= f.length);
  f.length = length;
}

function filesEnding(fs: MemFs, suffix: string): string[] {
  return fs
    .list(DIR)
    .filter((n) => n.endsWith(suffix))
    .map((n) => `${DIR}/${n}`);
}

function isCorruption(err: unknown): err is StrataError {
  return isStrataError(err, ERROR_CODES.CORRUPTION);
}

function describe(err: unknown): string {
  return err instanceof Error ? `${err.name} ${(err as { code?: string }).code ?? ''}: ${err.message}` : String(err);
}

async function openOrCorruption(fs: MemFs, opts: OpenOptions, ctx: string): Promise<DB | StrataError> {
  try {
    return await DB.open(DIR, { ...opts, fs });
  } catch (err) {
    assert.ok(isCorruption(err), `${ctx}: open failed with something other than CORRUPTION: ${describe(err)}`);
    return err;
  }
}

function value(i: number, len: number): string {
  let s = `v${i}:`;
  let x = (i * 2654435761) >>> 0 || 1;
  while (s.length < len) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    s += String.fromCharCode(97 + ((x >>> 0) % 26));
  }
  return s;
}

/** One WAL fragment, found by walking the block framing. */
interface Fragment {
  start: number;
  end: number;
  type: number;
  /** Index of the record it belongs to. */
  record: number;
}

function walFragments(data: Buffer): Fragment[] {
  const out: Fragment[] = [];
  let p = 0;
  let record = 0;
  while (p + HEADER_SIZE <= data.length) {
    const left = BLOCK_SIZE - (p % BLOCK_SIZE);
    if (left < HEADER_SIZE) {
      p += left;
      continue;
    }
    const type = data[p + 6]!;
    if (type === RecordType.ZERO) break;
    const end = p + HEADER_SIZE + data.readUInt16LE(p + 4);
    out.push({ start: p, end, type, record });
    if (type === RecordType.FULL || type === RecordType.LAST) record++;
    p = end;
  }
  return out;
}

// ------------------------------------------------------------------ WAL

/**
 * `n` sync puts of distinct keys into one WAL (4 MiB write buffer: nothing is
 * flushed), then close: the data is only in the WAL, replayed at open.
 */
async function walOnlyDb(n: number, valueLen: (i: number) => number): Promise<{ fs: MemFs; log: string; data: Buffer; frags: Fragment[]; keys: string[]; values: string[] }> {
  const fs = new MemFs();
  const db = await DB.open(DIR, { fs });
  const keys: string[] = [];
  const values: string[] = [];
  for (let i = 0; i < n; i++) {
    keys.push(`w${String(i).padStart(5, '0')}`);
    values.push(value(i, valueLen(i)));
    await db.put(keys[i]!, values[i]!, { sync: true });
  }
  await db.close();
  const logs = filesEnding(fs, '.log');
  assert.equal(logs.length, 1, `expected one WAL, found ${logs.join(', ')}`);
  const log = logs[0]!;
  const data = fs.readFile(log);
  const frags = walFragments(data);
  assert.equal(frags[frags.length - 1]!.record, n - 1, 'one WAL record per sync put');
  return { fs, log, data, frags, keys, values };
}

test('WAL: a flipped byte in a record followed by later blocks is CORRUPTION naming the .log and the damaged fragment', async () => {
  const { fs, log, data, frags } = await walOnlyDb(320, (i) => (i % 50 === 7 ? 40000 : 200 + (i % 7) * 60));
  assert.ok(data.length > 4 * BLOCK_SIZE, `WAL only ${data.length} bytes`);
  const lastBlock = data.length - (data.length % BLOCK_SIZE);
  const r = new SeededRandom(SEED);
  const candidates = frags.filter((f) => f.end <= lastBlock - BLOCK_SIZE);
  // The first and last candidates, a few fragments of each of FIRST, MIDDLE and LAST, then random ones.
  const picks = new Set<Fragment>([candidates[0]!, candidates[candidates.length - 1]!]);
  for (const type of [RecordType.FIRST, RecordType.MIDDLE, RecordType.LAST]) {
    for (const f of candidates.filter((c) => c.type === type).slice(0, LONG ? 100 : 2)) picks.add(f);
  }
  while (picks.size < (LONG ? 120 : 14)) picks.add(candidates[r.int(0, candidates.length - 1)]!);
  let cases = 0;
  for (const frag of picks) {
    const len = frag.end - frag.start;
    for (const where of [0, 3, 4, 5, 6, HEADER_SIZE, HEADER_SIZE + Math.floor((len - HEADER_SIZE) / 2), len - 1]) {
      if (where >= len) continue;
      for (const mask of [0x01, 0x80]) {
        const ctx = `SEED=${SEED} WAL flip at ${frag.start}+${where} mask ${mask} (record ${frag.record}, type ${frag.type})`;
        const img = fs.clone();
        flip(img, log, frag.start + where, mask);
        await assert.rejects(
          DB.open(DIR, { fs: img }),
          (err: unknown) => {
            assert.ok(isCorruption(err), `${ctx}: ${describe(err)}`);
            assert.equal(err.file, log, `${ctx}: err.file`);
            assert.equal(err.offset, frag.start, `${ctx}: err.offset`);
            return true;
          },
          ctx,
        );
        cases++;
      }
    }
  }
  console.log(`# corruption WAL mid-log flips: ${cases} cases`);
});

test('WAL: a flipped byte in an earlier record of the same (last) block is CORRUPTION, not a silently dropped tail', async () => {
  // A small WAL: every record is in block 0. Records after the damaged one
  // were acknowledged (sync): dropping them as a "torn tail" would lose them.
  const { fs, log, frags, keys } = await walOnlyDb(40, () => 150);
  assert.ok(frags[frags.length - 1]!.end < BLOCK_SIZE);
  let cases = 0;
  for (const rec of [0, 5, 20, 38]) {
    const frag = frags.find((f) => f.record === rec)!;
    for (const where of [0, 6, HEADER_SIZE + 2, HEADER_SIZE + 60, frag.end - frag.start - 1]) {
      const ctx = `SEED=${SEED} small WAL flip in record ${rec} at +${where}`;
      const img = fs.clone();
      flip(img, log, frag.start + where, 0x04);
      const got = await openOrCorruption(img, {}, ctx);
      if (got instanceof DB) {
        const missing = keys.filter((k) => got.getSync(k) === undefined);
        await got.close();
        assert.fail(`${ctx}: open succeeded and silently lost ${missing.length} acknowledged writes (${missing.slice(0, 3).join(', ')}...)`);
      }
      assert.equal(got.file, log, ctx);
      assert.equal(got.offset, frag.start, ctx);
      cases++;
    }
  }
  console.log(`# corruption WAL same-block flips: ${cases} cases`);
});

test('WAL: a torn last record is dropped (tornBytesDropped), earlier records survive', async () => {
  for (const bigLast of [false, true]) {
    const n = 60;
    const { fs, log, data, frags, keys, values } = await walOnlyDb(n, (i) => (bigLast && i === n - 1 ? 70000 : 300));
    const lastStart = frags.find((f) => f.record === n - 1)!.start;
    const cuts = [lastStart + 1, lastStart + HEADER_SIZE - 1, lastStart + HEADER_SIZE + 5, data.length - 1];
    if (bigLast) cuts.push(lastStart + BLOCK_SIZE, lastStart + BLOCK_SIZE + 3);
    for (const cut of cuts) {
      const ctx = `WAL cut at ${cut} of ${data.length} (last record at ${lastStart}, bigLast=${bigLast})`;
      const img = fs.clone();
      truncate(img, log, cut);
      const db = await DB.open(DIR, { fs: img });
      try {
        assert.equal(db.stats().wal.tornBytesDropped, cut - lastStart, `${ctx}: tornBytesDropped`);
        for (let i = 0; i < n - 1; i++) assert.equal(await db.get(keys[i]!, { encoding: 'utf8' }), values[i], `${ctx}: ${keys[i]}`);
        assert.equal(await db.get(keys[n - 1]!), undefined, `${ctx}: the torn record must be dropped`);
        await db.put('after', 'x', { sync: true });
      } finally {
        await db.close();
      }
      // The recovered state is durable: a second open sees it, with nothing torn any more.
      const again = await DB.open(DIR, { fs: img });
      assert.equal(again.stats().wal.tornBytesDropped, 0, ctx);
      assert.equal(await again.get(keys[n - 2]!, { encoding: 'utf8' }), values[n - 2], ctx);
      assert.equal(await again.get('after', { encoding: 'utf8' }), 'x', ctx);
      await again.close();
    }
  }
});

// ------------------------------------------------------------------ SSTables

interface DataBlock {
  offset: number;
  size: number;
  keys: string[];
}

interface TableLayout {
  path: string;
  size: number;
  dataBlocks: DataBlock[];
  index: BlockHandle;
  metaIndex: BlockHandle;
  filter: BlockHandle | undefined;
  properties: BlockHandle;
}

function tableLayout(fs: MemFs, path: string): TableLayout {
  const data = fs.readFile(path);
  const footerOffset = data.length - FOOTER_SIZE;
  const footer = decodeFooter(data.subarray(footerOffset), path, footerOffset, (d) => maskCrc(crc32c(d)));
  const reader = TableReader.open(fs.openRandomAccess(path), { fileNumber: 1 });
  const dataBlocks: DataBlock[] = [];
  try {
    for (let i = 0; i < reader.blockCount; i++) {
      const h = reader.blockHandle(i, { offset: 0, size: 0 });
      const bi = reader.loadDataBlock(h, false, 'point').iterator();
      const keys: string[] = [];
      for (bi.seekToFirst(); bi.valid(); bi.next()) keys.push(bi.key().subarray(0, bi.key().length - 8).toString('utf8'));
      dataBlocks.push({ offset: h.offset, size: h.size, keys });
    }
  } finally {
    reader.close();
  }
  // Meta-index (stored raw): name → handle.
  const meta = new Block(Buffer.from(data.subarray(footer.metaIndex.offset, footer.metaIndex.offset + footer.metaIndex.size)), path, footer.metaIndex.offset, BYTEWISE_ORDER);
  const handles = new Map<string, BlockHandle>();
  const mi = meta.iterator();
  for (mi.seekToFirst(); mi.valid(); mi.next()) {
    const h: BlockHandle = { offset: 0, size: 0 };
    const v = mi.value();
    assert.ok(decodeHandle(v, { pos: 0 }, v.length, h));
    handles.set(mi.key().toString('latin1'), h);
  }
  return {
    path,
    size: data.length,
    dataBlocks,
    index: footer.index,
    metaIndex: footer.metaIndex,
    filter: handles.get(META_FILTER_KEY),
    properties: handles.get(META_PROPERTIES_KEY)!,
  };
}

interface TableDb {
  fs: MemFs;
  opts: OpenOptions;
  model: Map<string, string>;
  tables: TableLayout[];
}

/** A database whose data is all in SSTables (after compactRange), several tables of several blocks. */
async function tableDb(compression: 'none' | 'snappy'): Promise<TableDb> {
  const fs = new MemFs();
  const opts: OpenOptions = { blockSize: 1024, targetFileSize: 24 * 1024, writeBufferSize: 64 * 1024, compression };
  const db = await DB.open(DIR, { ...opts, fs });
  const model = new Map<string, string>();
  for (let i = 0; i < 1400; i++) {
    const k = `t${String((i * 7919) % 1400).padStart(5, '0')}`;
    const v = value(i, 60 + (i % 90));
    await db.put(k, v);
    model.set(k, v);
  }
  for (let i = 0; i < 1400; i += 13) {
    const k = `t${String(i).padStart(5, '0')}`;
    await db.delete(k);
    model.delete(k);
  }
  await db.compactRange();
  await db.close();
  const tables = filesEnding(fs, '.sst').map((p) => tableLayout(fs, p));
  assert.ok(tables.length >= 2, `expected several tables, got ${tables.length}`);
  assert.ok(tables.every((t) => t.dataBlocks.length >= 4), 'expected several data blocks per table');
  // Everything is in tables: the WAL replayed at open is empty.
  for (const l of filesEnding(fs, '.log')) assert.equal(fs.fileSize(l), 0, `${l} not empty`);
  return { fs, opts, model, tables };
}

function tableOf(tdb: TableDb, key: string): TableLayout | undefined {
  return tdb.tables.find((t) => t.dataBlocks.some((b) => b.keys.includes(key)));
}

/**
 * Opens `img` and reads every key of the model and the whole key space by
 * iteration. Each read returns the right answer or throws CORRUPTION whose
 * file is `damaged` (when given). Returns how many reads threw.
 */
async function readAllChecked(img: MemFs, tdb: TableDb, ctx: string, damaged: string | undefined, allKeys: string[], reverse = true): Promise<{ corrupt: number; corruptKeys: Set<string>; errors: StrataError[] }> {
  const got = await openOrCorruption(img, tdb.opts, ctx);
  const errors: StrataError[] = [];
  const corruptKeys = new Set<string>();
  if (!(got instanceof DB)) {
    errors.push(got);
    return { corrupt: 1, corruptKeys, errors };
  }
  const db = got;
  try {
    for (const k of allKeys) {
      let v: string | undefined;
      try {
        v = db.getSync(k)?.toString('utf8');
      } catch (err) {
        assert.ok(isCorruption(err), `${ctx}: get(${k}) failed with ${describe(err)}`);
        if (damaged !== undefined) assert.equal(err.file, damaged, `${ctx}: get(${k}) CORRUPTION names another file`);
        assert.ok(err.offset !== undefined && err.offset >= 0, `${ctx}: no offset`);
        errors.push(err);
        corruptKeys.add(k);
        continue;
      }
      if (v !== tdb.model.get(k)) assert.fail(`${ctx}: get(${k}) returned a wrong answer`);
    }
    // Full scan: a prefix of the right entries, then (maybe) CORRUPTION.
    const expected = [...tdb.model.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    let i = 0;
    try {
      for (const [k, v] of db.iterator<string, string>({ keyEncoding: 'utf8', valueEncoding: 'utf8' })) {
        const e = expected[i];
        if (e === undefined || e[0] !== k || e[1] !== v) assert.fail(`${ctx}: iterator entry ${i} is wrong: ${k}`);
        i++;
      }
      assert.equal(i, expected.length, `${ctx}: iterator ended early without an error`);
    } catch (err) {
      if (err instanceof assert.AssertionError) throw err;
      assert.ok(isCorruption(err), `${ctx}: iteration failed with ${describe(err)}`);
      if (damaged !== undefined) assert.equal(err.file, damaged, `${ctx}: iterator CORRUPTION names another file`);
      errors.push(err);
    }
    // Reverse too (different block order, seekToLast/prev paths).
    let j = expected.length - 1;
    try {
      if (reverse) {
        for (const [k, v] of db.iterator<string, string>({ keyEncoding: 'utf8', valueEncoding: 'utf8', reverse: true })) {
          const e = expected[j];
          if (e === undefined || e[0] !== k || e[1] !== v) assert.fail(`${ctx}: reverse iterator entry ${j} is wrong: ${k}`);
          j--;
        }
        assert.equal(j, -1, `${ctx}: reverse iterator ended early without an error`);
      }
    } catch (err) {
      if (err instanceof assert.AssertionError) throw err;
      assert.ok(isCorruption(err), `${ctx}: reverse iteration failed with ${describe(err)}`);
      errors.push(err);
    }
  } finally {
    await db.close();
  }
  return { corrupt: errors.length, corruptKeys, errors };
}

const ALL_TABLE_KEYS = Array.from({ length: 1400 }, (_, i) => `t${String(i).padStart(5, '0')}`);

test('SSTable: a flipped byte in a data block makes exactly that block\'s keys CORRUPTION (get and iterators)', async () => {
  const tdb = await tableDb('none');
  let cases = 0;
  for (const t of LONG ? tdb.tables : tdb.tables.slice(0, 2)) {
    for (const bi of [0, 2, t.dataBlocks.length - 1]) {
      const b = t.dataBlocks[bi]!;
      for (const where of LONG ? [0, Math.floor(b.size / 2), b.size - 1, b.size + 2] : [Math.floor(b.size / 2), b.size + 2 /* trailer: checksum */]) {
        const ctx = `SEED=${SEED} ${t.path} block ${bi} @${b.offset}+${where}`;
        const img = tdb.fs.clone();
        flip(img, t.path, b.offset + where, 0x08);
        const { corruptKeys, errors } = await readAllChecked(img, tdb, ctx, t.path, ALL_TABLE_KEYS);
        // Keys of the damaged block (that are live) fail; every other key reads fine.
        const live = b.keys.filter((k) => tdb.model.has(k));
        assert.ok(live.length > 0, ctx);
        for (const k of live) assert.ok(corruptKeys.has(k), `${ctx}: ${k} in the damaged block read without error`);
        for (const k of corruptKeys) assert.ok(b.keys.includes(k), `${ctx}: ${k} outside the damaged block failed`);
        for (const e of errors) assert.equal(e.offset, b.offset, `${ctx}: CORRUPTION offset`);
        assert.ok(errors.length >= live.length + 2, `${ctx}: forward and reverse scans must both hit the damage`);
        cases++;
      }
    }
  }
  console.log(`# corruption SSTable data-block flips: ${cases} cases`);
});

test('SSTable: damaged footer, index, filter, properties or meta-index is CORRUPTION at first read', async () => {
  const tdb = await tableDb('snappy');
  const t = tdb.tables[1]!;
  const inT = ALL_TABLE_KEYS.filter((k) => tableOf(tdb, k) === t);
  const regions: Array<[string, number]> = [
    ['footer handles', t.size - FOOTER_SIZE + 1],
    ['footer padding', t.size - FOOTER_SIZE + 30],
    ['footer version', t.size - FOOTER_SIZE + 32],
    ['footer checksum', t.size - FOOTER_SIZE + 37],
    ['footer magic', t.size - 1],
    ['index', t.index.offset + Math.floor(t.index.size / 2)],
    ['index trailer', t.index.offset + t.index.size],
    ['meta-index', t.metaIndex.offset + 1],
    ['properties', t.properties.offset + Math.floor(t.properties.size / 2)],
  ];
  assert.ok(t.filter, 'tables have a bloom filter by default');
  regions.push(['filter', t.filter.offset + 3], ['filter probes byte', t.filter.offset + t.filter.size - 1]);
  for (const [what, pos] of regions) {
    const ctx = `SEED=${SEED} ${t.path} ${what} @${pos}`;
    const img = tdb.fs.clone();
    flip(img, t.path, pos, 0x10);
    const { errors, corruptKeys } = await readAllChecked(img, tdb, ctx, t.path, ALL_TABLE_KEYS);
    assert.ok(errors.length > 0, `${ctx}: damage not detected`);
    // The table cannot be opened: every key it holds fails, keys in other tables do not.
    for (const k of inT.filter((k) => tdb.model.has(k))) assert.ok(corruptKeys.has(k), `${ctx}: ${k} read from a damaged table`);
  }
});

test('SSTable: a truncated table is CORRUPTION', async () => {
  const tdb = await tableDb('none');
  const t = tdb.tables[0]!;
  for (const len of [t.size - 1, t.size - FOOTER_SIZE, Math.floor(t.size / 2), 20, 0]) {
    const ctx = `${t.path} truncated to ${len} of ${t.size}`;
    const img = tdb.fs.clone();
    truncate(img, t.path, len);
    const { errors } = await readAllChecked(img, tdb, ctx, t.path, ALL_TABLE_KEYS);
    assert.ok(errors.length > 0, `${ctx}: not detected`);
  }
});

for (const compression of ['none', 'snappy'] as const) {
  test(`SSTable: random single-byte flips anywhere: each read is right or CORRUPTION, and a full scan always notices (${compression})`, async () => {
    const tdb = await tableDb(compression);
    const r = new SeededRandom(SEED + (compression === 'snappy' ? 1 : 0));
    const total = tdb.tables.reduce((s, t) => s + t.size, 0);
    const trials = LONG ? 1500 : 60;
    for (let trial = 0; trial < trials; trial++) {
      let pos = r.int(0, total - 1);
      let t = tdb.tables[0]!;
      for (const c of tdb.tables) {
        if (pos < c.size) {
          t = c;
          break;
        }
        pos -= c.size;
      }
      const mask = 1 << r.int(0, 7);
      const ctx = `SEED=${SEED} trial ${trial}: ${t.path} byte ${pos} of ${t.size} ^ ${mask}`;
      const img = tdb.fs.clone();
      flip(img, t.path, pos, mask);
      const { errors } = await readAllChecked(img, tdb, ctx, t.path, ALL_TABLE_KEYS, LONG);
      // Every byte of a table is covered by a checksum that a full scan (or the open) verifies.
      assert.ok(errors.length > 0, `${ctx}: damage went unnoticed by a full scan`);
    }
  });
}

// ------------------------------------------------------------------ MANIFEST and CURRENT

interface ManifestDb {
  fs: MemFs;
  opts: OpenOptions;
  model: Map<string, string>;
  manifest: string;
  /** Each record's [start, end) in the MANIFEST. */
  records: Array<[number, number]>;
}

/** A database whose MANIFEST has many records: flushes and compactions, no reopen. */
async function manifestDb(): Promise<ManifestDb> {
  const fs = new MemFs();
  const opts: OpenOptions = { writeBufferSize: 64 * 1024, level0CompactionTrigger: 2, targetFileSize: 32 * 1024 };
  const db = await DB.open(DIR, { ...opts, fs });
  const model = new Map<string, string>();
  for (let i = 0; i < 900; i++) {
    const k = `m${String((i * 31) % 500).padStart(4, '0')}`;
    const v = value(i, 200 + (i % 300));
    await db.put(k, v, { sync: i % 10 === 0 });
    model.set(k, v);
    if (i % 300 === 299) await db.flush();
  }
  await db.close();
  const manifests = filesEnding(fs, '').filter((p) => /MANIFEST-\d+$/.test(p));
  assert.equal(manifests.length, 1);
  const manifest = manifests[0]!;
  const data = fs.readFile(manifest);
  const records: Array<[number, number]> = [];
  let start = -1;
  for (const f of walFragments(data)) {
    if (f.type === RecordType.FULL || f.type === RecordType.FIRST) start = f.start;
    if (f.type === RecordType.FULL || f.type === RecordType.LAST) records.push([start, f.end]);
  }
  assert.ok(records.length >= 6, `MANIFEST has only ${records.length} records`);
  assert.equal(records[records.length - 1]![1], data.length);
  return { fs, opts, model, manifest, records };
}

async function checkState(db: DB, model: Map<string, string>, ctx: string): Promise<void> {
  const state = new Map<string, string>();
  for (const [k, v] of db.iterator<string, string>({ keyEncoding: 'utf8', valueEncoding: 'utf8' })) state.set(k, v);
  const wrong = [...new Set([...model.keys(), ...state.keys()])].filter((k) => model.get(k) !== state.get(k));
  assert.deepEqual(wrong.slice(0, 5), [], `${ctx}: ${wrong.length} keys wrong after open`);
}

test('MANIFEST: a flipped byte in an earlier record is CORRUPTION', async () => {
  const mdb = await manifestDb();
  const clean = await DB.open(DIR, { ...mdb.opts, fs: mdb.fs.clone() });
  await checkState(clean, mdb.model, 'undamaged');
  await clean.close();
  let cases = 0;
  for (let rec = 0; rec < mdb.records.length - 1; rec++) {
    const [start, end] = mdb.records[rec]!;
    for (const where of [0, 6, HEADER_SIZE + 1, Math.floor((start + end) / 2) - start, end - start - 1]) {
      const ctx = `MANIFEST record ${rec} of ${mdb.records.length} [${start}, ${end}) flip at +${where}`;
      const img = mdb.fs.clone();
      flip(img, mdb.manifest, start + where, 0x02);
      const got = await openOrCorruption(img, mdb.opts, ctx);
      if (got instanceof DB) {
        try {
          await checkState(got, mdb.model, `${ctx}: open succeeded`);
        } finally {
          await got.close();
        }
        assert.fail(`${ctx}: open succeeded (with the right data, but the damage went unreported)`);
      }
      assert.equal(got.file, mdb.manifest, ctx);
      cases++;
    }
  }
  console.log(`# corruption MANIFEST flips in earlier records: ${cases} cases`);
});

test('MANIFEST: any single-byte flip gives CORRUPTION or the exact right state, never missing data', async () => {
  const mdb = await manifestDb();
  const size = memFile(mdb.fs, mdb.manifest).length;
  const r = new SeededRandom(SEED);
  const positions = LONG ? Array.from({ length: size }, (_, i) => i) : Array.from({ length: 150 }, () => r.int(0, size - 1));
  let detected = 0;
  for (const pos of positions) {
    const mask = LONG ? 0x01 << (pos % 8) : 1 << r.int(0, 7);
    const ctx = `SEED=${SEED} MANIFEST byte ${pos} of ${size} ^ ${mask}`;
    const img = mdb.fs.clone();
    flip(img, mdb.manifest, pos, mask);
    const got = await openOrCorruption(img, mdb.opts, ctx);
    if (!(got instanceof DB)) {
      detected++;
      continue;
    }
    try {
      // Reads may still hit CORRUPTION (e.g. a damaged file size in a table's metadata); never a wrong value.
      try {
        await checkState(got, mdb.model, ctx);
      } catch (err) {
        if (err instanceof assert.AssertionError) throw err;
        assert.ok(isCorruption(err), `${ctx}: ${describe(err)}`);
        detected++;
      }
    } finally {
      await got.close();
    }
  }
  console.log(`# corruption MANIFEST random flips: ${positions.length} positions, ${detected} reported CORRUPTION`);
});

test('CURRENT naming a missing MANIFEST, or garbage, is CORRUPTION; a table named in the MANIFEST missing is CORRUPTION', async () => {
  const mdb = await manifestDb();
  const current = `${DIR}/CURRENT`;
  const setCurrent = (fs: MemFs, text: string) => {
    const w = fs.createWritable(current);
    w.append(Buffer.from(text, 'latin1'));
  };
  const cases: Array<[string, string]> = [
    ['missing MANIFEST', 'MANIFEST-999999\n'],
    ['garbage', '\x00\x17garbage\xff'],
    ['empty', ''],
    ['no newline', mdb.manifest.replace(/^.*\//, '')],
    ['a table, not a MANIFEST', '000001.sst\n'],
  ];
  for (const [what, text] of cases) {
    const img = mdb.fs.clone();
    setCurrent(img, text);
    await assert.rejects(
      DB.open(DIR, { ...mdb.opts, fs: img }),
      (err: unknown) => {
        assert.ok(isCorruption(err), `CURRENT ${what}: ${describe(err)}`);
        assert.ok(err.file !== undefined && err.offset !== undefined, `CURRENT ${what}: file/offset`);
        return true;
      },
      `CURRENT ${what}`,
    );
  }
  // CURRENT itself flipped (one byte of the name or the newline).
  const curLen = memFile(mdb.fs, current).length;
  for (let pos = 0; pos < curLen; pos++) {
    const img = mdb.fs.clone();
    flip(img, current, pos, 0x01);
    const got = await openOrCorruption(img, mdb.opts, `CURRENT byte ${pos}`);
    if (got instanceof DB) {
      await checkState(got, mdb.model, `CURRENT byte ${pos} flipped`);
      await got.close();
    }
  }
  // A table the MANIFEST names is gone.
  for (const table of filesEnding(mdb.fs, '.sst')) {
    const img = mdb.fs.clone();
    img.remove(table);
    await assert.rejects(
      DB.open(DIR, { ...mdb.opts, fs: img }),
      (err: unknown) => {
        assert.ok(isCorruption(err), `missing ${table}: ${describe(err)}`);
        assert.equal(err.file, table);
        return true;
      },
      `missing ${table}`,
    );
  }
  // The MANIFEST itself is gone.
  const img = mdb.fs.clone();
  img.remove(mdb.manifest);
  await assert.rejects(DB.open(DIR, { ...mdb.opts, fs: img }), (err: unknown) => isCorruption(err), 'missing MANIFEST');
});
