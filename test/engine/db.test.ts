// API behaviour of the DB class: reads and writes, batches, options, LOCK,
// size limits, closed handles, iterators, snapshots, flush/compaction,
// recovery, statistics, group commit, periodic sync, write stalls and the
// compaction worker on the real file system.
import { mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { stat as statAsync } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ERROR_CODES, isStrataError } from '../../src/base/errors.js';
import type { ErrorCode } from '../../src/base/errors.js';
import { NodeFs } from '../../src/base/fs.js';
import { MemFs } from '../../src/base/mem-fs.js';
import { SeededRandom } from '../../src/base/random.js';
import { DB, open } from '../../src/engine/db.js';
import type { BatchOperation, EngineStats } from '../../src/engine/db.js';
import type { IteratorOptions } from '../../src/engine/db-iterator.js';
import type { OpenOptions } from '../../src/engine/options.js';
import type { Snapshot } from '../../src/engine/snapshot.js';
import { WriteBatch } from '../../src/engine/write-batch.js';
import { seqOf, typeOf, ValueType } from '../../src/engine/format.js';
import { TableReader } from '../../src/engine/table/table-reader.js';
import { DEFAULT_TABLE_BUILDER_OPTIONS } from '../../src/engine/table/table-builder.js';
import { WorkerCompactionRunner } from '../../src/engine/compaction-runner.js';
import { Memtable } from '../../src/engine/memtable.js';
import * as pkg from '../../src/index.js';

const KiB = 1024;
const LONG = process.env.STRATA_LONG_TESTS !== undefined && process.env.STRATA_LONG_TESTS !== '' && process.env.STRATA_LONG_TESTS !== '0';
const SMALL: OpenOptions = { writeBufferSize: 64 * KiB };

/** assert.rejects / assert.throws matcher for a StrataError code (and optionally a message pattern). */
function code(c: ErrorCode, message?: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(isStrataError(err, c), `expected ${c}, got ${err instanceof Error ? `${(err as { code?: string }).code ?? err.name}: ${err.message}` : String(err)}`);
    if (message) assert.match(err.message, message);
    return true;
  };
}

async function memDb(extra: OpenOptions = {}): Promise<{ db: DB; fs: MemFs }> {
  const fs = new MemFs();
  const db = await open('/db', { ...SMALL, fs, ...extra });
  return { db, fs };
}

const pad = (i: number, w = 6) => String(i).padStart(w, '0');
const key = (i: number) => `key${pad(i)}`;

function valueOf(i: number, version: number, len: number): string {
  const head = `v${version}-${i}-`;
  return head + 'x'.repeat(Math.max(0, len - head.length));
}

/** A permutation of [0, n) from a seeded generator (random write order makes flushed tables overlap). */
function shuffled(n: number, seed: number): number[] {
  const r = new SeededRandom(seed);
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = r.int(0, i);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** Runs `n` writes, at most `window` in flight at once. */
async function concurrently(n: number, window: number, fn: (i: number) => Promise<void>): Promise<void> {
  for (let i = 0; i < n; i += window) {
    const ps: Promise<void>[] = [];
    for (let j = i; j < Math.min(n, i + window); j++) ps.push(fn(j));
    await Promise.all(ps);
  }
}

const totalFiles = (s: EngineStats) => s.levels.reduce((n, l) => n + l.files, 0);
const totalBytes = (s: EngineStats) => s.levels.reduce((n, l) => n + l.bytes, 0);
const nonEmptyLevels = (s: EngineStats) => s.levels.filter((l) => l.files > 0).map((l) => l.level);
const sstNames = (fs: MemFs) => fs.list('/db').filter((n) => n.endsWith('.sst'));
const utf8 = (b: Buffer | undefined) => b?.toString('utf8');
const nextTick = () => new Promise<void>((r) => setImmediate(r));

/** Waits (bounded, by turns of the event loop) until no background compaction runs. */
async function idle(db: DB): Promise<void> {
  for (let i = 0; i < 100_000 && db.stats().compaction.running; i++) await nextTick();
  assert.equal(db.stats().compaction.running, false, 'background compaction did not finish');
}

/** All entries of the database as [utf8 key, utf8 value]. */
async function dump(db: DB, opts: IteratorOptions<Snapshot> = {}): Promise<Array<[string, string]>> {
  return db.scan<string, string>({ ...opts, keyEncoding: 'utf8', valueEncoding: 'utf8' });
}

function sortedEntries(m: ReadonlyMap<string, string>): Array<[string, string]> {
  return [...m].sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

// =================================================================== basic reads and writes

test('put/get/delete/has/getOrThrow/getMany with string, Buffer and Uint8Array keys, in memtable, tables and after reopen', async () => {
  const fs = new MemFs();
  let db = await open('/db', { ...SMALL, fs });
  const binKeys = [Buffer.from([0x00]), Buffer.from([0x00, 0x00]), Buffer.from([0xff]), Buffer.from([0xff, 0xff]), Buffer.from([0x61, 0x00]), Buffer.from([0x61, 0xff, 0x00])];
  await db.put('a', '1');
  await db.put(Buffer.from('b'), Buffer.from([0, 1, 2, 0xff]));
  await db.put(new Uint8Array([0x63]), new Uint8Array([9, 8]));
  // A Uint8Array view with a non-zero byteOffset must be read at its offset.
  const backing = new Uint8Array([0x7a, 0x64, 0x7a, 0x41, 0x42, 0x7a]);
  await db.put(backing.subarray(1, 2), backing.subarray(3, 5));
  await db.put('', 'empty key');
  await db.put('empty value', '');
  await db.put('héllo wörld', 'ünïcödé 日本 😀');
  for (let i = 0; i < binKeys.length; i++) await db.put(binKeys[i]!, `bin${i}`);
  await db.put('gone', 'soon');
  await db.delete('gone');
  await db.put('gone2', 'soon');
  await db.del('gone2');
  await db.delete('never-existed');

  const check = async (phase: string) => {
    assert.equal(utf8(await db.get('a')), '1', phase);
    assert.ok(Buffer.isBuffer(await db.get('a')), phase);
    assert.equal(await db.get('a', { encoding: 'utf8' }), '1', phase);
    assert.equal(await db.get('a', { encoding: 'buffer' }).then(utf8), '1', phase);
    assert.deepEqual(await db.get('b'), Buffer.from([0, 1, 2, 0xff]), phase);
    assert.deepEqual(await db.get(Buffer.from('c')), Buffer.from([9, 8]), phase);
    assert.deepEqual(await db.get('d'), Buffer.from('AB'), phase);
    assert.equal(await db.get('', { encoding: 'utf8' }), 'empty key', phase);
    assert.equal(await db.get(Buffer.alloc(0), { encoding: 'utf8' }), 'empty key', phase);
    assert.deepEqual(await db.get('empty value'), Buffer.alloc(0), phase);
    assert.equal(await db.has('empty value'), true, phase);
    assert.equal(await db.get('héllo wörld', { encoding: 'utf8' }), 'ünïcödé 日本 😀', phase);
    assert.equal(await db.get(Buffer.from('héllo wörld', 'utf8'), { encoding: 'utf8' }), 'ünïcödé 日本 😀', phase);
    for (let i = 0; i < binKeys.length; i++) assert.equal(utf8(await db.get(binKeys[i]!)), `bin${i}`, `${phase}: binary key ${i}`);
    assert.equal(await db.get(Buffer.from([0x00, 0x00, 0x00])), undefined, phase);
    assert.equal(await db.get(Buffer.from([0x61, 0x00, 0x00])), undefined, phase);
    assert.equal(await db.get('gone'), undefined, phase);
    assert.equal(await db.get('gone', { encoding: 'utf8' }), undefined, phase);
    assert.equal(await db.get('gone2'), undefined, phase);
    assert.equal(await db.get('never-existed'), undefined, phase);
    assert.equal(db.getSync('a')?.toString(), '1', phase);
    assert.equal(db.getSync('gone'), undefined, phase);
    assert.deepEqual(db.getSyncView('b'), Buffer.from([0, 1, 2, 0xff]), phase);
    assert.equal(db.getSyncView('gone'), undefined, phase);
    assert.equal(db.getSyncView('never-existed'), undefined, phase);
    assert.equal(await db.has('a'), true, phase);
    assert.equal(await db.has(''), true, phase);
    assert.equal(await db.has('gone'), false, phase);
    assert.equal(await db.has('zzz'), false, phase);
    assert.equal(utf8(await db.getOrThrow('a')), '1', phase);
    await assert.rejects(db.getOrThrow('gone'), code(ERROR_CODES.NOT_FOUND), phase);
    await assert.rejects(db.getOrThrow('zzz'), code(ERROR_CODES.NOT_FOUND), phase);
    assert.deepEqual((await db.getMany(['a', 'gone', 'b', 'zzz', 'a', '', binKeys[2]!])).map(utf8), [
      '1',
      undefined,
      Buffer.from([0, 1, 2, 0xff]).toString('utf8'),
      undefined,
      '1',
      'empty key',
      'bin2',
    ]);
    assert.deepEqual(await db.getMany([]), []);
    // Byte order, not UTF-16 order: '' < 0x00 < 0x00 0x00 < 'a' < 'a' 0x00 < ... < 0xff < 0xff 0xff.
    const keys = (await db.scan()).map(([k]) => k);
    const sorted = [...keys].sort(Buffer.compare);
    assert.deepEqual(keys, sorted, phase);
    assert.deepEqual(keys[0], Buffer.alloc(0), phase);
    assert.deepEqual(keys.at(-1), Buffer.from([0xff, 0xff]), phase);
    assert.equal(keys.length, 7 + binKeys.length, phase);
  };

  await check('memtable');
  await db.flush();
  assert.equal(db.stats().memtableEntries, 0);
  await check('tables');
  await db.close();
  db = await open('/db', { ...SMALL, fs });
  await check('after reopen');
  await db.compactRange();
  await check('after compactRange');
  await db.close();
});

test('invalid keys, values and read options are rejected with INVALID_ARGUMENT', async () => {
  const { db } = await memDb();
  const bad = [123, null, undefined, {}, ['a'], true] as unknown[];
  for (const k of bad) {
    await assert.rejects(db.put(k as string, 'v'), code(ERROR_CODES.INVALID_ARGUMENT), `put key ${String(k)}`);
    await assert.rejects(db.get(k as string), code(ERROR_CODES.INVALID_ARGUMENT), `get key ${String(k)}`);
    await assert.rejects(db.delete(k as string), code(ERROR_CODES.INVALID_ARGUMENT), `delete key ${String(k)}`);
    await assert.rejects(db.has(k as string), code(ERROR_CODES.INVALID_ARGUMENT), `has key ${String(k)}`);
    assert.throws(() => db.getSync(k as string), code(ERROR_CODES.INVALID_ARGUMENT), `getSync key ${String(k)}`);
    await assert.rejects(db.put('k', k as string), code(ERROR_CODES.INVALID_ARGUMENT), `put value ${String(k)}`);
  }
  await assert.rejects(db.getMany('abc' as unknown as string[]), code(ERROR_CODES.INVALID_ARGUMENT));
  await assert.rejects(db.getMany(['a', 5 as unknown as string]), code(ERROR_CODES.INVALID_ARGUMENT));
  await assert.rejects(db.get('a', { snapshot: {} as Snapshot }), code(ERROR_CODES.INVALID_ARGUMENT));
  assert.throws(() => db.iterator({ snapshot: { sequence: 1 } as unknown as Snapshot }), code(ERROR_CODES.INVALID_ARGUMENT));
  assert.throws(() => db.iterator({ gt: 5 as unknown as string }), code(ERROR_CODES.INVALID_ARGUMENT, /gt/));
  assert.throws(() => db.iterator({ prefix: {} as unknown as string }), code(ERROR_CODES.INVALID_ARGUMENT, /prefix/));
  assert.throws(() => db.iterator({ limit: 1.5 }), code(ERROR_CODES.INVALID_ARGUMENT, /limit/));
  assert.throws(() => db.iterator({ keyEncoding: 'hex' as 'utf8' }), code(ERROR_CODES.INVALID_ARGUMENT, /encoding/));
  assert.throws(() => db.iterator({ valueEncoding: 'json' as 'utf8' }), code(ERROR_CODES.INVALID_ARGUMENT, /encoding/));
  assert.throws(() => db.iterator(null as unknown as IteratorOptions<Snapshot>), code(ERROR_CODES.INVALID_ARGUMENT));
  await assert.rejects(db.compactRange(5 as unknown as string), code(ERROR_CODES.INVALID_ARGUMENT));
  // Nothing was written by any of the rejected calls, and failed iterator constructions pinned nothing.
  assert.equal(db.stats().sequence, 0);
  assert.equal(db.stats().openIterators, 0);
  assert.deepEqual(await db.scan(), []);
  await db.close();
});

test('values returned by get/getSync/getMany belong to the caller: mutating them does not change the database', async () => {
  const { db } = await memDb();
  await db.put('mem', 'hello');
  await db.put('tab', 'world');
  await db.flush();
  await db.put('mem', 'hello'); // newest version in the memtable
  for (const k of ['mem', 'tab']) {
    const want = k === 'mem' ? 'hello' : 'world';
    const a = (await db.get(k))!;
    a.fill(0x58);
    assert.equal(utf8(await db.get(k)), want, `get ${k} after mutating an earlier get result`);
    db.getSync(k)!.fill(0x59);
    assert.equal(utf8(await db.get(k)), want, `get ${k} after mutating a getSync result`);
    (await db.getMany([k]))[0]!.fill(0x5a);
    assert.equal(utf8(await db.get(k)), want, `get ${k} after mutating a getMany result`);
    (await db.getOrThrow(k)).fill(0x5b);
    assert.deepEqual(await dump(db, { gte: k, lte: k }), [[k, want]], `scan ${k}`);
  }
  // Iterator entries are documented as copies.
  const [first] = await db.scan({ limit: 1 });
  first![0].fill(0);
  first![1].fill(0);
  assert.deepEqual(await dump(db), [['mem', 'hello'], ['tab', 'world']]);
  await db.close();
});

// =================================================================== batches

test('write() of a WriteBatch shares its encoding until the caller changes it', async () => {
  const { db } = await memDb();
  const b = db.batch();
  b.put('a', '1').put('b', '2');
  // The same batch twice in flight, then changed while both are queued.
  const p1 = db.write(b);
  const p2 = db.write(b);
  b.put('c', '3');
  const p3 = db.write(b);
  b.clear();
  b.put('d', '4');
  await Promise.all([p1, p2, p3]);
  assert.deepEqual(await dump(db), [['a', '1'], ['b', '2'], ['c', '3']]);
  assert.equal(db.stats().sequence, 2 + 2 + 3);
  // A decoded batch's buffer belongs to whoever decoded it: writing the batch never writes into it.
  const enc = Buffer.from(b.encode(100));
  const before = Buffer.from(enc);
  await db.write(WriteBatch.decode(enc).batch);
  assert.deepEqual(enc, before);
  assert.equal(await db.get('d', { encoding: 'utf8' }), '4');
  await db.close();
});

test('write() applies a WriteBatch or an array of operations atomically', async () => {
  const { db } = await memDb();
  await db.put('old1', 'x');
  await db.put('old2', 'x');
  const seq0 = db.stats().sequence;

  const b = db.batch();
  assert.ok(b instanceof WriteBatch);
  b.put('k1', 'v1').put(Buffer.from('k2'), Buffer.from('v2')).delete('old1').put('k1', 'v1-again');
  const p = db.write(b);
  // Mutating the batch after write() was called must not change what is written.
  b.clear();
  b.put('not-written', 'x');
  // Nothing is visible before the write is acknowledged...
  assert.equal(db.getSync('k2'), undefined);
  await p;
  // ...and everything after.
  assert.deepEqual(await dump(db), [['k1', 'v1-again'], ['k2', 'v2'], ['old2', 'x']]);
  assert.equal(db.stats().sequence, seq0 + 4, 'one sequence number per operation');

  const ops: BatchOperation[] = [
    { type: 'put', key: 'a1', value: 'A1' },
    { type: 'del', key: 'old2' },
    { type: 'put', key: Buffer.from([0xff]), value: Buffer.from([0]) },
    { type: 'del', key: 'a1' },
    { type: 'put', key: 'a1', value: 'A1b' },
  ];
  await db.write(ops);
  assert.equal(await db.get('a1', { encoding: 'utf8' }), 'A1b', 'later operations on the same key win');
  assert.equal(await db.get('old2'), undefined);
  assert.deepEqual(await db.get(Buffer.from([0xff])), Buffer.from([0]));
  assert.equal(db.stats().sequence, seq0 + 9);

  // Empty batches are no-ops.
  await db.write([]);
  await db.write(new WriteBatch());
  assert.equal(db.stats().sequence, seq0 + 9);

  // A batch larger than the write buffer is applied whole.
  const big = new WriteBatch();
  for (let i = 0; i < 2000; i++) big.put(key(i), valueOf(i, 1, 100));
  await db.write(big);
  const got = await db.getMany(Array.from({ length: 2000 }, (_, i) => key(i)));
  assert.ok(got.every((v, i) => utf8(v) === valueOf(i, 1, 100)));
  await db.close();
});

test('write(): concurrent readers see a batch entirely or not at all', async () => {
  const { db } = await memDb();
  const N = 300;
  const keys = Array.from({ length: N }, (_, i) => key(i));
  await db.write(keys.map((k) => ({ type: 'put' as const, key: k, value: 'old' })));
  const seen = new Set<string>();
  let done = false;
  const reader = (async () => {
    while (!done) {
      const vals = (await db.getMany(keys)).map(utf8);
      const distinct = new Set(vals);
      assert.equal(distinct.size, 1, `a reader saw a partial batch: ${[...distinct].join(',')}`);
      seen.add(vals[0]!);
      const scanned = new Set((await dump(db)).map(([, v]) => v));
      assert.equal(scanned.size, 1, 'an iterator saw a partial batch');
      await nextTick();
    }
  })();
  for (let round = 0; round < 10; round++) {
    const v = `new${round}`;
    await db.write(keys.map((k) => ({ type: 'put' as const, key: k, value: v + 'y'.repeat(200) })), { sync: round % 2 === 0 });
    await nextTick();
  }
  done = true;
  await reader;
  assert.ok(seen.size > 1, 'the reader ran between batches');
  await db.close();
});

test('write() with an invalid operation rejects INVALID_ARGUMENT and applies none of the batch', async () => {
  const { db } = await memDb({ maxKeySize: 16, maxValueSize: 32 });
  await db.put('keep', 'me');
  const bad: unknown[] = [
    [{ type: 'put', key: 'a', value: 'b' }, { type: 'bogus', key: 'c' }],
    [{ type: 'put', key: 'a', value: 'b' }, { type: 'put', key: 'c' }],
    [{ type: 'put', key: 'a', value: 'b' }, null],
    [{ type: 'put', key: 'a', value: 'b' }, 'put'],
    [{ type: 'del', key: 'keep' }, { type: 'del', key: 7 }],
    [{ type: 'del', key: 'keep' }, { type: 'put', key: 'x'.repeat(17), value: 'v' }],
    [{ type: 'del', key: 'keep' }, { type: 'put', key: 'x', value: 'v'.repeat(33) }],
    'not a batch',
    { type: 'put', key: 'a', value: 'b' },
    null,
  ];
  for (const b of bad) {
    await assert.rejects(db.write(b as BatchOperation[]), code(ERROR_CODES.INVALID_ARGUMENT), JSON.stringify(b));
  }
  const wb = new WriteBatch().put('a', 'b').delete('keep').put('k'.repeat(17), 'v');
  await assert.rejects(db.write(wb), code(ERROR_CODES.INVALID_ARGUMENT, /maxKeySize/));
  assert.deepEqual(await dump(db), [['keep', 'me']]);
  assert.equal(db.stats().sequence, 1);
  await db.close();
});

// =================================================================== options, LOCK, limits

test('options: unknown names, out-of-range integers and wrong types fail with INVALID_ARGUMENT naming the option', async () => {
  const fs = new MemFs();
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ bogus: 1 }, /bogus/],
    [{ writebuffersize: 65536 }, /writebuffersize/],
    [{ writeBufferSize: 1000 }, /writeBufferSize/],
    [{ writeBufferSize: 65536.5 }, /writeBufferSize/],
    [{ writeBufferSize: '65536' }, /writeBufferSize/],
    [{ writeBufferSize: NaN }, /writeBufferSize/],
    [{ maxWriteBufferNumber: 1 }, /maxWriteBufferNumber/],
    [{ numLevels: 1 }, /numLevels/],
    [{ numLevels: 21 }, /numLevels/],
    [{ blockSize: 255 }, /blockSize/],
    [{ blockRestartInterval: 0 }, /blockRestartInterval/],
    [{ bloomBitsPerKey: -1 }, /bloomBitsPerKey/],
    [{ bloomBitsPerKey: 65 }, /bloomBitsPerKey/],
    [{ maxOpenFiles: 1 }, /maxOpenFiles/],
    [{ maxKeySize: 0 }, /maxKeySize/],
    [{ maxValueSize: -1 }, /maxValueSize/],
    [{ syncIntervalMs: -5 }, /syncIntervalMs/],
    [{ syncIntervalMs: Infinity }, /syncIntervalMs/],
    [{ targetFileSize: 1024 }, /targetFileSize/],
    [{ levelSizeMultiplier: 1 }, /levelSizeMultiplier/],
    [{ compression: 'zstd' }, /compression/],
    [{ compression: true }, /compression/],
    [{ createIfMissing: 'yes' }, /createIfMissing/],
    [{ errorIfExists: 1 }, /errorIfExists/],
    [{ verifyChecksums: 'no' }, /verifyChecksums/],
    [{ compactionWorker: 'yes' }, /compactionWorker/],
    [{ compactionWorker: true }, /compactionWorker/], // needs the real file system
    [{ level0CompactionTrigger: 10, level0SlowdownTrigger: 5 }, /level0/],
    [{ level0SlowdownTrigger: 20, level0StopTrigger: 12 }, /level0/],
  ];
  for (const [opts, re] of cases) {
    await assert.rejects(open('/db', { fs, ...opts } as OpenOptions), code(ERROR_CODES.INVALID_ARGUMENT, re), JSON.stringify(opts));
  }
  await assert.rejects(open('/db', null as unknown as OpenOptions), code(ERROR_CODES.INVALID_ARGUMENT));
  await assert.rejects(open('/db', 'fast' as unknown as OpenOptions), code(ERROR_CODES.INVALID_ARGUMENT));
  await assert.rejects(open('', { fs }), code(ERROR_CODES.INVALID_ARGUMENT));
  await assert.rejects(open(42 as unknown as string, { fs }), code(ERROR_CODES.INVALID_ARGUMENT));
  // A failed open leaves no trace and no lock.
  assert.equal(fs.exists('/db'), false);
  // Boundary values are accepted; undefined means the default.
  const db = await open('/db', {
    fs,
    writeBufferSize: 64 * KiB,
    maxWriteBufferNumber: 2,
    numLevels: 2,
    blockSize: 256,
    blockRestartInterval: 1,
    bloomBitsPerKey: 0,
    maxOpenFiles: 16,
    maxKeySize: 1,
    maxValueSize: 0,
    syncIntervalMs: 0,
    compression: 'none',
    errorIfExists: undefined,
  });
  assert.equal(db.stats().levels.length, 2);
  await db.put('k', '');
  await assert.rejects(db.put('kk', ''), code(ERROR_CODES.INVALID_ARGUMENT));
  await assert.rejects(db.put('k', 'v'), code(ERROR_CODES.INVALID_ARGUMENT));
  await db.close();
});

test('options: fs and clock of the wrong type are rejected with INVALID_ARGUMENT', async () => {
  await assert.rejects(open('/db', { fs: 'memory' as unknown as MemFs }), code(ERROR_CODES.INVALID_ARGUMENT, /fs/));
  await assert.rejects(open('/db', { fs: new MemFs(), clock: 5 as unknown as OpenOptions['clock'] }), code(ERROR_CODES.INVALID_ARGUMENT, /clock/));
});

test('createIfMissing: false on an empty directory fails; errorIfExists on an existing database fails', async () => {
  const fs = new MemFs();
  await assert.rejects(open('/db', { fs, createIfMissing: false }), code(ERROR_CODES.INVALID_ARGUMENT, /createIfMissing/));
  assert.equal(fs.exists('/db/CURRENT'), false);
  let db = await open('/db', { fs, errorIfExists: true }); // nothing there yet: fine
  await db.put('k', 'v');
  await db.close();
  await assert.rejects(open('/db', { fs, errorIfExists: true }), code(ERROR_CODES.INVALID_ARGUMENT, /errorIfExists/));
  db = await open('/db', { fs, createIfMissing: false });
  assert.equal(await db.get('k', { encoding: 'utf8' }), 'v');
  await db.close();
});

test('LOCK (MemFs): a second open of an open database fails with LOCKED; reopening after close works', async () => {
  const fs = new MemFs();
  const db = await open('/db', { ...SMALL, fs });
  await db.put('k', 'v1');
  await assert.rejects(open('/db', { ...SMALL, fs }), code(ERROR_CODES.LOCKED));
  // The failed open must not have released or stolen the first handle's lock.
  await assert.rejects(open('/db', { ...SMALL, fs }), code(ERROR_CODES.LOCKED));
  await db.put('k', 'v2');
  assert.equal(await db.get('k', { encoding: 'utf8' }), 'v2');
  // Another directory on the same Fs is independent.
  const other = await open('/db2', { ...SMALL, fs });
  await other.close();
  await db.close();
  await db.close(); // idempotent
  const again = await open('/db', { ...SMALL, fs });
  assert.equal(await again.get('k', { encoding: 'utf8' }), 'v2');
  await assert.rejects(open('/db', { ...SMALL, fs }), code(ERROR_CODES.LOCKED));
  await again.close();
});

test('LOCK (NodeFs): a second open in the same process fails with LOCKED; reopening after close works', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-lock-'));
  try {
    const db = await open(dir, SMALL);
    await db.put('k', 'v');
    await assert.rejects(open(dir, SMALL), code(ERROR_CODES.LOCKED));
    await assert.rejects(open(`${dir}/./`, { ...SMALL, fs: new NodeFs() }), code(ERROR_CODES.LOCKED));
    assert.ok(readdirSync(dir).includes('LOCK'));
    await db.close();
    assert.ok(!readdirSync(dir).includes('LOCK'), 'close removes the LOCK file');
    const again = await open(dir, SMALL);
    assert.equal(await again.get('k', { encoding: 'utf8' }), 'v');
    await again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('maxKeySize and maxValueSize are enforced in bytes (UTF-8) on every write and key-taking read', async () => {
  const { db } = await memDb({ maxKeySize: 16, maxValueSize: 100 });
  await db.put('k'.repeat(16), 'v'.repeat(100));
  await db.put(Buffer.alloc(16, 1), Buffer.alloc(100, 2));
  await assert.rejects(db.put('k'.repeat(17), 'v'), code(ERROR_CODES.INVALID_ARGUMENT, /maxKeySize/));
  await assert.rejects(db.put('日本日本日本', 'v'), code(ERROR_CODES.INVALID_ARGUMENT, /maxKeySize/)); // 6 chars, 18 bytes
  await assert.rejects(db.put('k', 'v'.repeat(101)), code(ERROR_CODES.INVALID_ARGUMENT, /maxValueSize/));
  await assert.rejects(db.put('k', 'é'.repeat(51)), code(ERROR_CODES.INVALID_ARGUMENT, /maxValueSize/)); // 102 bytes
  await assert.rejects(db.put(Buffer.alloc(17), 'v'), code(ERROR_CODES.INVALID_ARGUMENT));
  await assert.rejects(db.delete('k'.repeat(17)), code(ERROR_CODES.INVALID_ARGUMENT));
  await assert.rejects(db.write([{ type: 'put', key: 'ok', value: 'v'.repeat(101) }]), code(ERROR_CODES.INVALID_ARGUMENT));
  await assert.rejects(db.get('k'.repeat(17)), code(ERROR_CODES.INVALID_ARGUMENT));
  assert.equal(db.stats().sequence, 2);
  assert.equal(utf8(await db.get('k'.repeat(16))), 'v'.repeat(100));
  await db.close();
});

// =================================================================== closed handles

test('a closed database rejects every operation with CLOSED; open iterators and snapshots die with it', async () => {
  const { db, fs } = await memDb();
  await db.put('a', '1');
  await db.put('b', '2');
  const it = db.iterator();
  assert.equal(utf8(it.nextSync()?.[0]), 'a');
  const snap = db.snapshot();
  // Writes issued before close() finish; writes issued after it are refused.
  const early = db.put('c', '3');
  const closing = db.close();
  assert.equal(db.close(), closing, 'close() is idempotent and returns the same promise');
  await assert.rejects(db.put('d', '4'), code(ERROR_CODES.CLOSED), 'put while closing');
  await early;
  await closing;
  assert.equal(db.isClosed, true);

  const C = code(ERROR_CODES.CLOSED);
  await assert.rejects(db.get('a'), C);
  await assert.rejects(db.get('a', { encoding: 'utf8' }), C);
  await assert.rejects(db.getOrThrow('a'), C);
  await assert.rejects(db.getMany(['a']), C);
  await assert.rejects(db.has('a'), C);
  await assert.rejects(db.put('a', '1'), C);
  await assert.rejects(db.delete('a'), C);
  await assert.rejects(db.del('a'), C);
  await assert.rejects(db.write([{ type: 'put', key: 'a', value: '1' }]), C);
  await assert.rejects(db.write([]), C);
  await assert.rejects(db.write(new WriteBatch().put('a', 'b')), C);
  await assert.rejects(db.scan(), C);
  await assert.rejects(db.scanPrefix('a'), C);
  await assert.rejects(db.scanRange('a', 'z'), C);
  await assert.rejects(db.flush(), C);
  await assert.rejects(db.compactRange(), C);
  assert.throws(() => db.getSync('a'), C);
  assert.throws(() => db.iterator(), C);
  assert.throws(() => db.snapshot(), C);
  // The iterator that was open at close.
  assert.throws(() => it.nextSync(), C);
  await assert.rejects(it.next(), C);
  await assert.rejects(it.nextv(2), C);
  assert.throws(() => it.seek('a'), C);
  assert.throws(() => [...it], C);
  it.close(); // harmless
  assert.equal(snap.isReleased, true);

  const again = await open('/db', { ...SMALL, fs });
  assert.deepEqual(await dump(again), [['a', '1'], ['b', '2'], ['c', '3']]);
  await assert.rejects(again.get('a', { snapshot: snap }), C, 'a snapshot of a closed database is released');
  await again.close();
});

// =================================================================== iterators

const ITER_KEYS: string[] = (() => {
  const out: string[] = [];
  for (let i = 0; i < 400; i++) out.push(`k${pad(i, 4)}`);
  for (let i = 0; i < 60; i++) out.push(`k${pad(i * 7, 4)}:sub${i % 3}`);
  for (let i = 0; i < 40; i++) out.push(`p/${String.fromCharCode(97 + (i % 26))}${i}`);
  // Multi-byte UTF-8 keys: byte order differs from JS string order for '\uffff' vs astral characters.
  out.push('é', 'éa', '日本', '\uffff', '😀', '😀x', 'z', 'zz', 'Z', '0', '');
  return out;
})();

/** The iterator's expected output over `model` (utf8 keys/values), computed directly. */
function expectIter(model: ReadonlyMap<string, string>, o: IteratorOptions, seek?: string): Array<[string, string]> {
  const b = (s: unknown) => Buffer.from(s as string);
  let e = sortedEntries(model).filter(([k]) => {
    const kb = Buffer.from(k);
    return (
      (o.gt === undefined || Buffer.compare(kb, b(o.gt)) > 0) &&
      (o.gte === undefined || Buffer.compare(kb, b(o.gte)) >= 0) &&
      (o.lt === undefined || Buffer.compare(kb, b(o.lt)) < 0) &&
      (o.lte === undefined || Buffer.compare(kb, b(o.lte)) <= 0) &&
      (o.prefix === undefined || kb.subarray(0, b(o.prefix).length).equals(b(o.prefix))) &&
      (seek === undefined || (o.reverse ? Buffer.compare(kb, b(seek)) <= 0 : Buffer.compare(kb, b(seek)) >= 0))
    );
  });
  if (o.reverse) e = e.reverse();
  if (o.limit !== undefined && o.limit >= 0) e = e.slice(0, o.limit);
  return e;
}

/** A database whose entries are spread over several levels, L0, an immutable-free memtable, with overwrites and deletes. */
async function layeredDb(seed: number): Promise<{ db: DB; fs: MemFs; model: Map<string, string> }> {
  const { db, fs } = await memDb();
  const r = new SeededRandom(seed);
  const model = new Map<string, string>();
  const order = shuffled(ITER_KEYS.length, seed);
  for (let round = 0; round < 4; round++) {
    for (const i of order) {
      const k = ITER_KEYS[i]!;
      const x = r.int(0, 9);
      if (x < 6) {
        const v = `r${round}-${k}-${'v'.repeat(r.int(0, 120))}`;
        await db.put(k, v);
        model.set(k, v);
      } else if (x < 8) {
        await db.delete(k);
        model.delete(k);
      }
    }
    if (round < 3) await db.flush();
  }
  const s = db.stats();
  assert.ok(totalFiles(s) >= 3, `expected several tables, got ${JSON.stringify(s.levels)}`);
  assert.ok(s.memtableEntries > 0);
  return { db, fs, model };
}

test('iterators: random bound/prefix/limit/reverse/seek combinations match a sorted model', async () => {
  const { db, model } = await layeredDb(7);
  const r = new SeededRandom(99);
  const candidates = [...ITER_KEYS, 'k0', 'k01', 'k0100:', 'k9', 'p', 'p/', 'p0', '\x00', '\xff', 'é\x00', 'zzz', 'a'];
  const pick = () => candidates[r.int(0, candidates.length - 1)]!;
  const prefixes = ['k', 'k00', 'k0007', 'k0014:', 'p/', 'p/a', 'é', '😀', 'z', 'nothing', ''];
  for (let round = 0; round < (LONG ? 2000 : 150); round++) {
    const o: IteratorOptions<Snapshot> = { keyEncoding: 'utf8', valueEncoding: 'utf8' };
    if (r.int(0, 2) === 0) o.gt = pick();
    if (r.int(0, 2) === 0) o.gte = pick();
    if (r.int(0, 2) === 0) o.lt = pick();
    if (r.int(0, 2) === 0) o.lte = pick();
    if (r.int(0, 3) === 0) o.prefix = prefixes[r.int(0, prefixes.length - 1)]!;
    if (r.int(0, 1) === 0) o.reverse = true;
    if (r.int(0, 2) === 0) o.limit = r.int(-1, 30);
    const seek = r.int(0, 4) === 0 ? pick() : undefined;
    const want = expectIter(model, o, seek);
    const it = db.iterator<string, string>(o);
    if (seek !== undefined) it.seek(seek);
    const how = r.int(0, 3);
    let got: Array<[string, string]> = [];
    if (how === 0) for (const e of it) got.push(e);
    else if (how === 1) for await (const e of it) got.push(e);
    else if (how === 2) {
      const n = r.int(1, 50);
      for (let chunk = await it.nextv(n); chunk.length > 0; chunk = await it.nextv(n)) got.push(...chunk);
    } else {
      for (let e = it.nextSync(); e !== undefined; e = it.nextSync()) got.push(e);
    }
    it.close();
    assert.deepEqual(got, want, `round ${round}: ${JSON.stringify({ ...o, seek })}`);
    assert.equal(typeof got[0]?.[0], got.length > 0 ? 'string' : 'undefined');
    if (seek === undefined && how === 0) {
      got = await db.scan<string, string>(o);
      assert.deepEqual(got, want, `scan, round ${round}`);
    }
  }
  assert.equal(db.stats().openIterators, 0, 'every iterator was closed');
  await db.close();
});

test('iterators: seek() repositions mid-iteration, keeps bounds and the limit count; scanPrefix/scanRange', async () => {
  const { db, model } = await layeredDb(11);
  const all = sortedEntries(model);
  const keys = all.map(([k]) => k);
  const it = db.iterator<string, string>({ keyEncoding: 'utf8', valueEncoding: 'utf8', gte: 'k0100', lt: 'k0300', limit: 50 });
  const first = it.nextvSync(5);
  assert.deepEqual(first, all.filter(([k]) => k >= 'k0100' && k < 'k0300').slice(0, 5));
  it.seek('k0200');
  const afterSeek = it.nextvSync(10);
  assert.deepEqual(afterSeek, all.filter(([k]) => k >= 'k0200' && k < 'k0300').slice(0, 10));
  it.seek('a'); // before the lower bound: back to the lower bound
  assert.deepEqual(it.nextSync(), all.find(([k]) => k >= 'k0100'));
  it.seek('k0299z');
  const tail = it.nextvSync(100);
  assert.deepEqual(tail, all.filter(([k]) => k >= 'k0299z' && k < 'k0300'));
  // 5 + 10 + 1 + tail returned so far; the limit of 50 keeps counting across seeks.
  it.seek('k0100');
  const rest = it.nextvSync(1000);
  assert.equal(rest.length, 50 - 16 - tail.length);
  assert.equal(it.nextSync(), undefined);
  it.close();

  const rit = db.iterator<string, string>({ keyEncoding: 'utf8', valueEncoding: 'utf8', reverse: true, lte: 'k0300', gt: 'k0100' });
  rit.seek('k0250');
  const back = rit.nextvSync(3);
  assert.deepEqual(back, all.filter(([k]) => k <= 'k0250' && k > 'k0100').reverse().slice(0, 3));
  rit.seek('zzzz'); // beyond the upper bound: back to the upper bound
  assert.deepEqual(rit.nextSync(), all.filter(([k]) => k <= 'k0300').at(-1));
  rit.seek('k0000'); // below the lower bound: nothing
  assert.equal(rit.nextSync(), undefined);
  rit.close();

  assert.deepEqual(await db.scanPrefix<string, string>('p/', { keyEncoding: 'utf8', valueEncoding: 'utf8' }), all.filter(([k]) => k.startsWith('p/')));
  assert.deepEqual(
    await db.scanPrefix<string, string>('k0', { keyEncoding: 'utf8', valueEncoding: 'utf8', reverse: true, limit: 7 }),
    all.filter(([k]) => k.startsWith('k0')).reverse().slice(0, 7),
  );
  assert.deepEqual(await db.scanRange<string, string>('k0010', 'k0020', { keyEncoding: 'utf8', valueEncoding: 'utf8' }), all.filter(([k]) => k >= 'k0010' && k < 'k0020'));
  assert.deepEqual(await db.scanRange('k0020', 'k0010'), [], 'an empty range');
  assert.deepEqual((await db.scan({ limit: 0 })).length, 0);
  assert.deepEqual((await db.scan({ limit: -1 })).length, keys.length);
  // Default encodings are Buffers.
  const [e] = await db.scan({ limit: 1 });
  assert.ok(Buffer.isBuffer(e![0]) && Buffer.isBuffer(e![1]));
  // valueEncoding alone.
  const [e2] = await db.scan<Buffer, string>({ limit: 1, valueEncoding: 'utf8' });
  assert.ok(Buffer.isBuffer(e2![0]) && typeof e2![1] === 'string');
  await db.close();
});

test('iterators: binary keys and a 0xff prefix with no successor', async () => {
  const { db } = await memDb();
  const keys = [[], [0x00], [0x00, 0xff], [0x01], [0xfe, 0xff], [0xff], [0xff, 0x00], [0xff, 0xff], [0xff, 0xff, 0x00], [0xff, 0xff, 0xff]].map((a) => Buffer.from(a));
  for (const [i, k] of keys.entries()) await db.put(k, Buffer.from([i]));
  for (const phase of ['memtable', 'table']) {
    const prefixFF = (await db.scan({ prefix: Buffer.from([0xff, 0xff]) })).map(([k]) => k);
    assert.deepEqual(prefixFF, keys.slice(7), phase);
    const rev = (await db.scan({ prefix: Buffer.from([0xff]), reverse: true })).map(([k]) => k);
    assert.deepEqual(rev, keys.slice(5).reverse(), phase);
    const p00 = (await db.scan({ prefix: Buffer.from([0x00]) })).map(([k]) => k);
    assert.deepEqual(p00, keys.slice(1, 3), phase);
    const gtEmpty = (await db.scan({ gt: Buffer.alloc(0), lt: Buffer.from([0x01]) })).map(([k]) => k);
    assert.deepEqual(gtEmpty, keys.slice(1, 3), phase);
    const lteEmpty = (await db.scan({ lte: Buffer.alloc(0) })).map(([k]) => k);
    assert.deepEqual(lteEmpty, [Buffer.alloc(0)], phase);
    await db.flush();
  }
  await db.close();
});

test('memtable memory is reused after a flush, but never under a view: getSyncView copies memtable values, and an open iterator keeps its memtable', async () => {
  const { db } = await memDb();
  const n = () => db.stats().flush.count;
  // Several memtables' worth of other keys: each flush frees a memtable for a later one to reuse.
  let next = 1000;
  const fillMemtables = async (count: number) => {
    const before = n();
    while (n() < before + count) await db.put(key(next++), 'y'.repeat(500));
  };
  await db.put('viewed', 'x'.repeat(300));
  const view = db.getSyncView('viewed')!;
  await fillMemtables(4);
  assert.equal(view.toString(), 'x'.repeat(300), 'a getSyncView of a memtable value changed after later writes');

  for (let i = 0; i < 50; i++) await db.put(key(i), valueOf(i, 1, 200));
  const it = db.iterator<string, string>({ keyEncoding: 'utf8', valueEncoding: 'utf8', lt: key(1000) });
  const first = it.nextvSync(10);
  await fillMemtables(4);
  const rest = it.nextvSync(1000);
  it.close();
  assert.deepEqual(
    [...first, ...rest],
    Array.from({ length: 50 }, (_, i): [string, string] => [key(i), valueOf(i, 1, 200)]),
    'an iterator opened before the flushes read memory reused by a later memtable',
  );
  await db.close();
});

test('iterators: a live iterator keeps its view through puts, deletes, flush and compactRange; closing it frees the files it pinned', async () => {
  const { db, fs } = await memDb();
  const N = 3000;
  const model = new Map<string, string>();
  for (const i of shuffled(N, 3)) {
    const v = valueOf(i, 1, 60);
    await db.put(key(i), v);
    model.set(key(i), v);
  }
  await db.flush();
  await idle(db); // no compaction output in flight: every table on disk is in the version the iterator pins
  for (let i = 0; i < 100; i++) {
    await db.put(key(i * 5), 'unflushed');
    model.set(key(i * 5), 'unflushed');
  }
  const pinned = sstNames(fs);
  assert.ok(pinned.length >= 2, `tables: ${pinned.join(',')}`);
  const it = db.iterator<string, string>({ keyEncoding: 'utf8', valueEncoding: 'utf8' });
  const rev = db.iterator<string, string>({ keyEncoding: 'utf8', valueEncoding: 'utf8', reverse: true, gte: key(1000) });
  assert.equal(db.stats().openIterators, 2);
  const want = sortedEntries(model);
  const got = it.nextvSync(100);
  const gotRev = rev.nextvSync(10);

  // Change everything: overwrite, delete ahead of and behind the iterator, insert between keys.
  for (const i of shuffled(N, 4)) {
    if (i % 3 === 0) await db.delete(key(i));
    else await db.put(key(i), valueOf(i, 2, 80));
    if (i % 10 === 0) await db.put(`${key(i)}+`, 'inserted');
  }
  await db.flush();
  await db.compactRange();
  const afterCompaction = sstNames(fs);
  for (const n of pinned) assert.ok(afterCompaction.includes(n), `${n} is pinned by the iterator and must not be deleted`);

  got.push(...it.nextvSync(500));
  await db.put(key(1), 'late write');
  for (const e of it) got.push(e); // for-of runs to the end and closes
  assert.deepEqual(got, want, 'forward iterator saw a change made after it was created');
  gotRev.push(...rev.nextvSync(N));
  assert.deepEqual(gotRev, want.filter(([k]) => k >= key(1000)).reverse(), 'reverse iterator saw a change made after it was created');
  assert.equal(db.stats().openIterators, 1);
  assert.ok(sstNames(fs).length >= afterCompaction.length, 'one iterator still pins the files');
  rev.close();
  assert.equal(db.stats().openIterators, 0);
  await nextTick(); // obsolete-file cleanup runs on the next turn after the last pin is released
  const finalFiles = sstNames(fs);
  for (const n of pinned) assert.ok(!finalFiles.includes(n), `${n} is obsolete and unpinned, so it must be deleted`);
  assert.ok(finalFiles.length < afterCompaction.length, `files ${afterCompaction.length} -> ${finalFiles.length}`);
  assert.ok(fs.list('/db').length < afterCompaction.length + 4);
  // The current state is the new one.
  assert.equal(await db.get(key(3)), undefined);
  assert.equal(await db.get(key(1), { encoding: 'utf8' }), 'late write');
  assert.equal(await db.get(key(2), { encoding: 'utf8' }), valueOf(2, 2, 80));
  await db.close();
});

// =================================================================== snapshots

test('snapshots: reads at a snapshot see old values through overwrites, deletes, flush and compaction; release lets compaction drop them', async () => {
  const { db } = await memDb();
  const N = 1500;
  for (const i of shuffled(N, 5)) await db.put(key(i), valueOf(i, 1, 200));
  await db.flush();
  const snap = db.snapshot();
  assert.equal(snap.sequence, db.stats().sequence);
  assert.equal(db.stats().liveSnapshots, 1);
  const oldModel = new Map(Array.from({ length: N }, (_, i) => [key(i), valueOf(i, 1, 200)] as [string, string]));
  const newModel = new Map<string, string>();
  for (const i of shuffled(N, 6)) {
    if (i % 4 === 0) await db.delete(key(i));
    else {
      await db.put(key(i), valueOf(i, 2, 200));
      newModel.set(key(i), valueOf(i, 2, 200));
    }
  }
  await db.put('new-key', 'only after the snapshot');
  newModel.set('new-key', 'only after the snapshot');

  const checkBoth = async (phase: string) => {
    for (const i of [0, 1, 2, 3, 4, 777, N - 1]) {
      assert.equal(await db.get(key(i), { snapshot: snap, encoding: 'utf8' }), valueOf(i, 1, 200), `${phase}: snapshot get ${i}`);
      assert.equal(await db.get(key(i), { encoding: 'utf8' }), newModel.get(key(i)), `${phase}: current get ${i}`);
    }
    assert.equal(await db.get('new-key', { snapshot: snap }), undefined, phase);
    assert.equal(await db.has(key(0), { snapshot: snap }), true, phase);
    assert.equal(await db.has(key(0)), false, phase);
    const many = await db.getMany([key(0), key(1), 'new-key'], { snapshot: snap });
    assert.deepEqual(many.map(utf8), [valueOf(0, 1, 200), valueOf(1, 1, 200), undefined], phase);
    assert.equal(utf8(db.getSync(key(8), { snapshot: snap })), valueOf(8, 1, 200), phase);
    assert.deepEqual(await dump(db, { snapshot: snap }), sortedEntries(oldModel), `${phase}: snapshot scan`);
    assert.deepEqual(await dump(db, { snapshot: snap, reverse: true, gte: key(100), lt: key(200) }), sortedEntries(oldModel).filter(([k]) => k >= key(100) && k < key(200)).reverse(), phase);
    assert.deepEqual(await dump(db), sortedEntries(newModel), `${phase}: current scan`);
  };
  await checkBoth('memtable');
  await db.flush();
  await checkBoth('after flush');
  await db.compactRange();
  assert.equal(nonEmptyLevels(db.stats()).length, 1);
  await checkBoth('after compactRange');
  const withSnapshot = totalBytes(db.stats());

  snap.release();
  snap.release(); // idempotent
  assert.equal(snap.isReleased, true);
  assert.equal(db.stats().liveSnapshots, 0);
  await assert.rejects(db.get(key(0), { snapshot: snap }), code(ERROR_CODES.CLOSED));
  assert.throws(() => db.iterator({ snapshot: snap }), code(ERROR_CODES.CLOSED));
  await db.compactRange();
  const released = totalBytes(db.stats());
  // Roughly half of the bytes were versions only the snapshot could see.
  assert.ok(released < withSnapshot * 0.7, `compactRange after release must drop old versions: ${withSnapshot} -> ${released} bytes`);
  assert.deepEqual(await dump(db), sortedEntries(newModel));
  await db.close();
});

test('snapshots: several live snapshots, each sees its own state; the oldest bounds what compaction drops', async () => {
  const { db } = await memDb();
  const snaps: Array<{ s: Snapshot; v: number }> = [];
  for (let v = 1; v <= 4; v++) {
    for (let i = 0; i < 400; i++) await db.put(key(i), valueOf(i, v, 100));
    if (v === 2) await db.flush();
    snaps.push({ s: db.snapshot(), v });
  }
  await db.compactRange();
  for (const { s, v } of snaps) {
    const vals = await db.getMany([key(0), key(399)], { snapshot: s });
    assert.deepEqual(vals.map(utf8), [valueOf(0, v, 100), valueOf(399, v, 100)], `snapshot ${v}`);
  }
  // Release the middle ones: the oldest and newest stay correct through another compaction.
  snaps[1]!.s.release();
  snaps[2]!.s.release();
  for (let i = 0; i < 400; i++) await db.put(key(i), valueOf(i, 5, 100));
  await db.compactRange();
  for (const { s, v } of [snaps[0]!, snaps[3]!]) {
    assert.deepEqual(
      (await dump(db, { snapshot: s, limit: 3 })).map(([, x]) => x),
      [0, 1, 2].map((i) => valueOf(i, v, 100)),
      `snapshot ${v}`,
    );
  }
  assert.equal(db.stats().liveSnapshots, 2);
  await db.close();
});

// =================================================================== flush, compaction, recovery

/** Every entry of every table in the database as [user key, sequence, type], table by table. */
function tableEntries(fs: MemFs): Array<[string, number, number]> {
  const out: Array<[string, number, number]> = [];
  for (const name of sstNames(fs)) {
    const reader = TableReader.open(fs.openRandomAccess(`/db/${name}`), { fileNumber: Number.parseInt(name, 10) });
    const it = reader.iterator();
    for (it.seekToFirst(); it.valid(); it.next()) {
      const k = it.key();
      out.push([k.subarray(0, k.length - 8).toString('utf8'), seqOf(k), typeOf(k)]);
    }
    it.close();
    reader.close();
  }
  return out;
}

test('compaction into the bottom level writes the version every snapshot sees with sequence 0; reads, snapshots and later compactions are unchanged', async () => {
  const { db, fs } = await memDb();
  for (let i = 0; i < 300; i++) await db.put(key(i), valueOf(i, 1, 100));
  const snap = db.snapshot();
  for (let i = 0; i < 150; i++) await db.put(key(i), valueOf(i, 2, 100));
  await db.compactRange();
  const bySeq = new Map<string, number[]>();
  for (const [k, seq] of tableEntries(fs)) bySeq.set(k, [...(bySeq.get(k) ?? []), seq]);
  for (let i = 0; i < 300; i++) {
    const seqs = bySeq.get(key(i))!;
    // Keys written twice keep the newer version's sequence (the snapshot does not see it) and the older one gets 0.
    if (i < 150) assert.ok(seqs.length === 2 && seqs[0]! > 300 && seqs[1] === 0, `${key(i)}: ${seqs}`);
    else assert.deepEqual(seqs, [0], key(i));
  }
  assert.equal(utf8(await db.get(key(7))), valueOf(7, 2, 100));
  assert.equal(utf8(await db.get(key(7), { snapshot: snap })), valueOf(7, 1, 100));
  assert.equal(utf8(await db.get(key(200), { snapshot: snap })), valueOf(200, 1, 100));
  assert.deepEqual((await dump(db, { snapshot: snap })).length, 300);
  // Without the snapshot the next compaction keeps only the newest version, now also at sequence 0.
  snap.release();
  await db.compactRange();
  const after = tableEntries(fs);
  assert.equal(after.length, 300);
  assert.ok(after.every(([, seq]) => seq === 0));
  assert.equal(utf8(await db.get(key(7))), valueOf(7, 2, 100));
  // Newer writes still shadow zero-sequence entries, through another compaction too.
  await db.put(key(7), 'newest');
  assert.equal(utf8(await db.get(key(7))), 'newest');
  await db.compactRange();
  assert.equal(utf8(await db.get(key(7))), 'newest');
  await db.close();
});

/** A database whose older table holds the even keys (deeper) and newer one the odd keys, both spanning the range. */
async function twoOverlappingTables(): Promise<DB> {
  const { db } = await memDb();
  for (let i = 0; i < 400; i += 2) await db.put(key(i), valueOf(i, 1, 100));
  await db.flush();
  for (let i = 1; i < 400; i += 2) await db.put(key(i), valueOf(i, 1, 100));
  await db.flush();
  await idle(db);
  assert.equal(totalFiles(db.stats()), 2);
  assert.equal(nonEmptyLevels(db.stats()).length, 2, JSON.stringify(db.stats().levels));
  return db;
}

test('seek compaction: a table that 100 point reads consult before finding their key deeper is merged into the next level', async () => {
  const db = await twoOverlappingTables();
  // Even keys from 2 on: inside the newer table's range, so it is consulted (its filter says no) before the older one.
  for (let n = 0; n < 99; n++) assert.equal(utf8(await db.get(key(2 + 2 * (n % 199)))), valueOf(2 + 2 * (n % 199), 1, 100));
  await idle(db);
  assert.equal(db.stats().compaction.seekTriggered, 0, 'not before its 100th seek');
  assert.equal(nonEmptyLevels(db.stats()).length, 2);
  await db.get(key(100));
  await idle(db);
  const s = db.stats();
  assert.equal(s.compaction.seekTriggered, 1);
  assert.equal(nonEmptyLevels(s).length, 1, JSON.stringify(s.levels));
  // Reads that find their key in the first table consulted charge nothing.
  for (let n = 0; n < 300; n++) await db.get(key(n));
  await idle(db);
  assert.equal(db.stats().compaction.seekTriggered, 1);
  assert.equal((await dump(db)).length, 400);
  await db.close();
});

test('seek compaction: iterator seeks where two tables overlap the key charge the first one', async () => {
  const db = await twoOverlappingTables();
  const it = db.iterator();
  for (let n = 0; n < 100; n++) {
    it.seek(key(2 + 2 * n));
    assert.deepEqual((await it.nextv(2)).map(([k]) => k.toString()), [key(2 + 2 * n), key(3 + 2 * n)]);
  }
  await idle(db);
  assert.equal(db.stats().compaction.seekTriggered, 1);
  // The open iterator keeps its view; a new one reads the compacted level.
  it.seek(key(398));
  assert.deepEqual((await it.nextv(5)).map(([k]) => k.toString()), [key(398), key(399)]);
  it.close();
  assert.equal(nonEmptyLevels(db.stats()).length, 1);
  assert.equal((await dump(db)).length, 400);
  await db.close();
});


test('flush() moves the memtable into tables; compactRange() leaves one level, drops tombstones, keeps live data; reopen keeps all', async () => {
  const fs = new MemFs();
  let db = await open('/db', { ...SMALL, fs });
  const N = 4000;
  const model = new Map<string, string>();
  for (const i of shuffled(N, 8)) {
    await db.put(key(i), valueOf(i, 1, 100));
    model.set(key(i), valueOf(i, 1, 100));
  }
  await db.flush();
  let s = db.stats();
  assert.equal(s.memtableEntries, 0);
  assert.equal(s.immutableMemtables, 0);
  assert.ok(s.flush.count >= 5, `flushes: ${s.flush.count}`);
  assert.ok(totalFiles(s) >= 2);
  const flushesBefore = s.flush.count;
  await db.flush(); // nothing to flush
  assert.equal(db.stats().flush.count, flushesBefore);

  for (let i = 0; i < N; i++) {
    if (i % 4 !== 0) {
      await db.delete(key(i));
      model.delete(key(i));
    }
  }
  await db.flush();
  s = db.stats();
  const before = totalBytes(s);
  assert.ok(nonEmptyLevels(s).length >= 2, `levels before: ${JSON.stringify(s.levels)}`);
  await db.compactRange();
  s = db.stats();
  assert.equal(nonEmptyLevels(s).length, 1, `levels after: ${JSON.stringify(s.levels)}`);
  assert.ok(totalBytes(s) < before * 0.5, `tombstones and deleted values dropped: ${before} -> ${totalBytes(s)} bytes`);
  assert.ok(s.compaction.count > 0 && s.compaction.bytesRead > 0 && s.compaction.bytesWritten > 0);
  assert.deepEqual(await dump(db), sortedEntries(model));
  for (const i of [0, 1, 4, 3999]) assert.equal(await db.get(key(i), { encoding: 'utf8' }), model.get(key(i)));

  // Unflushed writes survive close/reopen through the WAL; tables through the MANIFEST.
  await db.put('after-compaction', 'in the WAL only');
  model.set('after-compaction', 'in the WAL only');
  await db.delete(key(0));
  model.delete(key(0));
  const seq = db.stats().sequence;
  await db.close();
  db = await open('/db', { ...SMALL, fs });
  assert.equal(db.stats().sequence, seq);
  assert.deepEqual(await dump(db), sortedEntries(model));
  await db.close();
  db = await open('/db', { ...SMALL, fs });
  assert.equal(db.stats().sequence, seq);
  assert.deepEqual(await dump(db), sortedEntries(model));
  // Old WALs and MANIFESTs are cleaned up.
  const names = fs.list('/db');
  assert.equal(names.filter((n) => n.endsWith('.log')).length, 1, names.join(','));
  assert.equal(names.filter((n) => n.startsWith('MANIFEST-')).length, 1, names.join(','));
  await db.close();
});

test('compactRange() after a reopen whose WAL replay produced only L0 tables still merges them and drops tombstones', async () => {
  const fs = new MemFs();
  let db = await open('/db', { fs, writeBufferSize: 4 * 1024 * 1024 });
  const model = new Map<string, string>();
  for (const i of shuffled(3000, 9)) {
    await db.put(key(i), valueOf(i, 1, 40));
    model.set(key(i), valueOf(i, 1, 40));
  }
  for (let i = 0; i < 3000; i++) {
    if (i % 3 !== 0) {
      await db.delete(key(i));
      model.delete(key(i));
    }
  }
  assert.equal(db.stats().flush.count, 0);
  await db.close(); // nothing flushed: everything is in the WAL
  // A smaller write buffer: the replay writes several L0 tables. A high L0 trigger: no background
  // compaction moves them before compactRange runs.
  const reopenOpts = { ...SMALL, fs, level0CompactionTrigger: 100, level0SlowdownTrigger: 100, level0StopTrigger: 100 };
  db = await open('/db', reopenOpts);
  let s = db.stats();
  assert.deepEqual(nonEmptyLevels(s), [0], `recovery writes L0 tables: ${JSON.stringify(s.levels)}`);
  assert.ok(s.levels[0]!.files >= 2, `L0 tables: ${s.levels[0]!.files}`);
  const before = totalBytes(s);
  await db.compactRange();
  s = db.stats();
  assert.equal(s.levels[0]!.files, 0, `L0 must be compacted: ${JSON.stringify(s.levels)}`);
  assert.equal(nonEmptyLevels(s).length, 1);
  assert.ok(totalBytes(s) < before * 0.7, `deleted data dropped: ${before} -> ${totalBytes(s)}`);
  assert.deepEqual(await dump(db), sortedEntries(model));
  await db.close();
  db = await open('/db', reopenOpts);
  assert.deepEqual(await dump(db), sortedEntries(model));
  await db.close();
});

test('compactRange(start, end) keeps data inside and outside the range readable', async () => {
  const { db } = await memDb();
  const model = new Map<string, string>();
  for (let round = 1; round <= 3; round++) {
    for (const i of shuffled(2000, round)) {
      if ((i + round) % 5 === 0) {
        await db.delete(key(i));
        model.delete(key(i));
      } else {
        await db.put(key(i), valueOf(i, round, 50));
        model.set(key(i), valueOf(i, round, 50));
      }
    }
    await db.flush();
  }
  await db.compactRange(key(500), key(1499));
  assert.deepEqual(await dump(db), sortedEntries(model));
  await db.compactRange(undefined, key(100));
  await db.compactRange(key(1900));
  await db.compactRange(key(10), key(5)); // an inverted range is harmless
  assert.deepEqual(await dump(db), sortedEntries(model));
  await db.compactRange();
  assert.equal(nonEmptyLevels(db.stats()).length, 1);
  assert.deepEqual(await dump(db), sortedEntries(model));
  await db.close();
});

// =================================================================== stats

test('stats(): every field is present and moves with the work done', async () => {
  const { db } = await memDb({ blockSize: 1024 });
  let s = db.stats();
  assert.equal(s.levels.length, 7);
  assert.deepEqual(s.levels.map((l) => l.level), [0, 1, 2, 3, 4, 5, 6]);
  for (const k of ['sequence', 'memtableBytes', 'memtableEntries', 'immutableMemtables', 'liveSnapshots', 'openIterators', 'tableCacheSize', 'writeAmplification', 'userBytesWritten'] as const) {
    assert.equal(typeof s[k], 'number', k);
  }
  assert.deepEqual(Object.keys(s.blockCache).sort(), ['capacityBytes', 'entries', 'hits', 'misses', 'usageBytes']);
  assert.deepEqual(Object.keys(s.bloom).sort(), ['checks', 'falsePositives', 'negatives']);
  assert.deepEqual(Object.keys(s.wal).sort(), ['bytesWritten', 'records', 'syncs', 'tornBytesDropped']);
  assert.deepEqual(Object.keys(s.flush).sort(), ['bytesWritten', 'count']);
  assert.deepEqual(Object.keys(s.compaction).sort(), ['bytesRead', 'bytesWritten', 'count', 'running', 'seekTriggered']);
  assert.deepEqual(Object.keys(s.stalls).sort(), ['slowdowns', 'stallMs', 'stops']);
  assert.equal(s.backgroundError, undefined);
  assert.equal(s.writeAmplification, 0);
  assert.equal(s.blockCache.capacityBytes, 8 * 1024 * 1024);
  assert.equal(s.sequence, 0);

  await db.put('a', 'b');
  s = db.stats();
  assert.equal(s.sequence, 1);
  assert.equal(s.memtableEntries, 1);
  assert.ok(s.memtableBytes > 0);
  assert.equal(s.userBytesWritten, 2);
  assert.equal(s.wal.records, 1);
  assert.ok(s.wal.bytesWritten > 2);
  assert.equal(s.wal.syncs, 0);
  await db.put('a', 'c', { sync: true });
  assert.equal(db.stats().wal.syncs, 1);

  for (const i of shuffled(3000, 10)) await db.put(key(i), valueOf(i, 1, 60));
  await db.flush();
  s = db.stats();
  assert.ok(s.flush.count > 0 && s.flush.bytesWritten > 0);
  assert.equal(s.memtableEntries, 0);
  assert.ok(s.writeAmplification > 1, `write amplification ${s.writeAmplification}`);

  // Missing keys inside the tables' key ranges: the bloom filters answer most of them.
  const b0 = s.bloom;
  for (let i = 0; i < 500; i++) assert.equal(await db.get(`${key(i)}-missing`), undefined);
  s = db.stats();
  assert.ok(s.bloom.checks - b0.checks >= 500, `bloom checks ${b0.checks} -> ${s.bloom.checks}`);
  assert.ok(s.bloom.negatives - b0.negatives >= 450, `bloom negatives ${b0.negatives} -> ${s.bloom.negatives}`);
  assert.ok(s.bloom.falsePositives <= s.bloom.checks - s.bloom.negatives);

  // Block cache: the first read of a block misses, re-reading it hits.
  const c0 = db.stats().blockCache;
  await db.get(key(1234));
  const c1 = db.stats().blockCache;
  await db.get(key(1234));
  await db.get(key(1234));
  const c2 = db.stats().blockCache;
  assert.ok(c1.misses + c1.hits > c0.misses + c0.hits, 'a table read touches the block cache');
  assert.ok(c2.hits >= c1.hits + 2, `hits ${c1.hits} -> ${c2.hits}`);
  assert.equal(c2.misses, c1.misses, 'a cached block is not read again');
  assert.ok(c2.entries > 0 && c2.usageBytes > 0 && c2.usageBytes <= c2.capacityBytes);
  assert.ok(db.stats().tableCacheSize > 0);

  // Compaction counters.
  for (const i of shuffled(3000, 11)) await db.put(key(i), valueOf(i, 2, 60));
  await db.compactRange();
  s = db.stats();
  assert.ok(s.compaction.count > 0 && s.compaction.bytesRead > 0 && s.compaction.bytesWritten > 0, JSON.stringify(s.compaction));
  assert.equal(s.compaction.running, false);
  const levelsBytes = totalBytes(s);
  assert.ok(levelsBytes > 0);
  assert.ok(
    Math.abs(s.writeAmplification - (s.wal.bytesWritten + s.flush.bytesWritten + s.compaction.bytesWritten) / s.userBytesWritten) < 1e-9,
    'write amplification = (WAL + flush + compaction bytes) / user bytes',
  );

  // Snapshots and iterators are counted.
  const snap = db.snapshot();
  const it = db.iterator();
  s = db.stats();
  assert.equal(s.liveSnapshots, 1);
  assert.equal(s.openIterators, 1);
  snap.release();
  it.close();
  s = db.stats();
  assert.equal(s.liveSnapshots, 0);
  assert.equal(s.openIterators, 0);
  for (const v of Object.values(s.stalls)) assert.ok(Number.isFinite(v) && v >= 0);
  await db.close();
});

test('stats(): bloomBitsPerKey 0 disables filters; blockCacheSize 0 disables the block cache', async () => {
  const { db } = await memDb({ bloomBitsPerKey: 0, blockCacheSize: 0 });
  for (const i of shuffled(2000, 12)) await db.put(key(i), valueOf(i, 1, 60));
  await db.flush();
  for (let i = 0; i < 200; i++) assert.equal(await db.get(`${key(i)}-missing`), undefined);
  for (let i = 0; i < 3; i++) assert.equal(await db.get(key(5), { encoding: 'utf8' }), valueOf(5, 1, 60));
  const s = db.stats();
  assert.equal(s.bloom.checks, 0);
  assert.equal(s.bloom.negatives, 0);
  assert.equal(s.blockCache.capacityBytes, 0);
  assert.equal(s.blockCache.hits, 0);
  assert.equal(s.blockCache.entries, 0);
  await db.close();
});

// =================================================================== group commit, periodic sync, stalls

test('a large batch goes into the memtable over several event-loop turns, and readers see none of it until all of it is in', async () => {
  // A clock that moves 1 ms each time it is read: the 10 ms turn budget runs out after a few slices.
  let now = 0;
  const { db } = await memDb({ clock: { nowMs: () => (now += 1) }, writeBufferSize: 4 * 1024 * 1024 });
  await db.put('before', 'b');
  const batch = db.batch();
  const n = 20_000;
  for (let i = 0; i < n; i++) batch.put(key(i), `v${i}`);
  // Turns of the event loop that ran while the batch was going in (none of it visible yet).
  let turnsBefore = 0;
  let visible = false;
  const partial: string[] = [];
  const watch = () => {
    const first = db.getSync(key(0)) !== undefined;
    const last = db.getSync(key(n - 1)) !== undefined;
    const it = db.iterator<string, string>({ keyEncoding: 'utf8', valueEncoding: 'utf8' });
    const count = it.nextvSync(n + 10).length;
    it.close();
    // All of the batch or none of it, for a get and for an iterator alike.
    if (first !== last || (count !== 1 && count !== n + 1) || (count === n + 1) !== first) partial.push(`first ${first} last ${last} iterator ${count}`);
    if (first) visible = true;
    else turnsBefore++;
    if (!visible) setImmediate(watch);
  };
  setImmediate(watch);
  const write = db.write(batch);
  // Other writes queue behind it and are committed after it, in order.
  const after = db.put(key(0), 'overwritten');
  await write;
  await after;
  assert.deepEqual(partial, []);
  assert.ok(turnsBefore >= 3, `the batch went in within ${turnsBefore + 1} turn(s) of the event loop`);
  assert.equal(db.getSync(key(0))?.toString(), 'overwritten');
  assert.equal(db.getSync(key(n - 1))?.toString(), `v${n - 1}`);
  const it = db.iterator({ keyEncoding: 'utf8' });
  assert.equal(it.nextvSync(n + 10).length, n + 1);
  it.close();
  await db.close();
});

test('group commit: 1000 concurrent sync puts share far fewer WAL syncs and all survive a reopen', async () => {
  const fs = new MemFs();
  let db = await open('/db', { ...SMALL, fs });
  const N = 1000;
  await Promise.all(Array.from({ length: N }, (_, i) => db.put(key(i), valueOf(i, 1, 30), { sync: true })));
  const s = db.stats();
  assert.ok(s.wal.syncs >= 1, 'sync writes fsync the WAL');
  assert.ok(s.wal.syncs < N / 10, `WAL syncs: ${s.wal.syncs}`);
  assert.ok(s.wal.records < N / 10, `WAL records: ${s.wal.records}`);
  assert.equal(s.sequence, N);
  // Sync writes are durable: a crash right now (losing every unsynced byte) keeps them all.
  const crashed = await open('/db', { ...SMALL, fs: fs.crashImage() });
  const vals = await crashed.getMany(Array.from({ length: N }, (_, i) => key(i)));
  assert.ok(vals.every((v, i) => utf8(v) === valueOf(i, 1, 30)), 'every acknowledged sync write survives a crash');
  await crashed.close();
  await db.close();
  db = await open('/db', { ...SMALL, fs });
  assert.equal((await db.scan()).length, N);
  await db.close();
});

test('periodic durability: syncIntervalMs fsyncs the WAL in the background (mock timers)', async () => {
  mock.timers.enable({ apis: ['setInterval'] });
  try {
    const fs = new MemFs();
    const db = await open('/db', { ...SMALL, fs, syncIntervalMs: 1000 });
    await db.put('a', '1');
    assert.equal(db.stats().wal.syncs, 0);
    const lost = await open('/db', { fs: fs.crashImage() });
    assert.equal(await lost.get('a'), undefined, 'not durable before the periodic sync');
    await lost.close();

    mock.timers.tick(999);
    assert.equal(db.stats().wal.syncs, 0);
    mock.timers.tick(1);
    assert.equal(db.stats().wal.syncs, 1);
    await nextTick();
    const kept = await open('/db', { fs: fs.crashImage() });
    assert.equal(await kept.get('a', { encoding: 'utf8' }), '1', 'durable after the periodic sync');
    await kept.close();

    mock.timers.tick(5000);
    assert.equal(db.stats().wal.syncs, 1, 'no sync when nothing was written');
    for (let i = 0; i < 5; i++) await db.put(`b${i}`, 'x');
    mock.timers.tick(1000);
    assert.equal(db.stats().wal.syncs, 2, 'one sync covers every write since the last one');
    await nextTick();
    await db.close();
  } finally {
    mock.timers.reset();
  }
});

test('periodic durability with real timers: syncs happen without sync writes', async () => {
  const { db } = await memDb({ syncIntervalMs: 1 });
  let syncs = 0;
  for (let round = 0; round < 100_000 && syncs < 3; round++) {
    await db.put(`k${round}`, 'v');
    await nextTick();
    syncs = db.stats().wal.syncs;
  }
  assert.ok(syncs >= 3, `periodic syncs: ${syncs}`);
  await db.close();
});

test('write stalls: a burst far larger than two memtables completes, counts its stalls and loses nothing', async () => {
  const { db } = await memDb({ maxWriteBufferNumber: 2 });
  const N = 2500;
  const value = (i: number) => valueOf(i, 1, 1000);
  let maxImmutable = 0;
  const ps = shuffled(N, 13).map((i) =>
    db.put(key(i), value(i)).then(() => {
      maxImmutable = Math.max(maxImmutable, db.stats().immutableMemtables);
    }),
  );
  await Promise.all(ps);
  const s = db.stats();
  assert.ok(s.stalls.stops >= 1, `stalls: ${JSON.stringify(s.stalls)}`);
  assert.ok(s.stalls.slowdowns >= 0 && s.stalls.stallMs >= 0);
  assert.ok(maxImmutable <= 1, `at most maxWriteBufferNumber - 1 immutable memtables, saw ${maxImmutable}`);
  // A commit group may overshoot the write buffer (by up to 128 KiB), so count conservatively.
  assert.ok(s.flush.count >= (N * 1000) / (256 * KiB), `flushes: ${s.flush.count}`);
  assert.equal(s.backgroundError, undefined);
  const vals = await db.getMany(Array.from({ length: N }, (_, i) => key(i)));
  assert.ok(vals.every((v, i) => utf8(v) === value(i)));
  await db.close();
});

for (const maxWriteBufferNumber of [2, 4]) {
  test(`flush() and compactRange() finish while other clients keep writing (maxWriteBufferNumber ${maxWriteBufferNumber})`, async () => {
    const { db, fs } = await memDb({ maxWriteBufferNumber });
    let writerDone = false;
    let stop = false;
    const model = new Map<string, string>();
    // A write load that runs until told to stop (or, if flush/compactRange never return while it runs,
    // until its cap): batches of concurrent puts, each issued as soon as the previous one is acknowledged.
    const writer = (async () => {
      for (let round = 0; round < 5000 && !stop; round++) {
        const ps: Promise<void>[] = [];
        for (let j = 0; j < 20; j++) {
          const k = key((round * 20 + j) % 5000);
          const v = valueOf(round, j, 100);
          model.set(k, v);
          ps.push(db.put(k, v));
        }
        await Promise.all(ps);
      }
      writerDone = true;
    })();
    const early = db.put('before-flush', 'x'); // issued before flush(), not awaited: flush() must include it
    model.set('before-flush', 'x');
    await db.flush();
    await early;
    assert.equal(writerDone, false, 'flush() only returned once the other writers had stopped');
    const crashed = await open('/db', { ...SMALL, fs: fs.crashImage() });
    assert.equal(await crashed.get('before-flush', { encoding: 'utf8' }), 'x', 'a write issued before flush() is durable after it');
    await crashed.close();
    assert.ok(db.stats().flush.count >= 1);
    await db.compactRange();
    assert.equal(writerDone, false, 'compactRange() only returned once the other writers had stopped');
    stop = true;
    await writer;
    assert.deepEqual(await dump(db), sortedEntries(model));
    await db.close();
  });
}

// =================================================================== real file system + compaction worker

test('real file system with the compaction worker: 20k keys, compactRange, all readable, reopen', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-worker-'));
  try {
    let db = await open(dir, SMALL);
    const N = 20_000;
    const order = shuffled(N, 14);
    await concurrently(N, 500, (j) => db.put(key(order[j]!), valueOf(order[j]!, 1, 30)));
    for (let i = 0; i < N; i += 10) await db.delete(key(i));
    await db.compactRange();
    const s = db.stats();
    assert.ok(s.compaction.count > 0, `compactions: ${JSON.stringify(s.compaction)}`);
    assert.equal(nonEmptyLevels(s).length, 1, JSON.stringify(s.levels));
    assert.equal(s.backgroundError, undefined);
    const want = (i: number) => (i % 10 === 0 ? undefined : valueOf(i, 1, 30));
    const vals = await db.getMany(Array.from({ length: N }, (_, i) => key(i)));
    assert.ok(vals.every((v, i) => utf8(v) === want(i)));
    await db.close();
    db = await open(dir, SMALL);
    assert.equal((await db.scan()).length, N - N / 10);
    await db.close();
    assert.ok(
      !process.getActiveResourcesInfo().some((r) => r === 'MessagePort' || r === 'Worker'),
      `nothing of the worker is left after close: ${process.getActiveResourcesInfo().join(',')}`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('real file system: databases in one process share one background worker; flushes and compactions of both interleave; the last close ends it', async () => {
  const dirs = [mkdtempSync(join(tmpdir(), 'strata-shared-a-')), mkdtempSync(join(tmpdir(), 'strata-shared-b-'))];
  const workers = () => process.getActiveResourcesInfo().filter((r) => r === 'Worker').length;
  // OS threads of this process (Linux): a Node worker is one more.
  const threads = () => readdirSync('/proc/self/task').length;
  try {
    await Promise.all(dirs.map((d) => statAsync(d))); // the libuv pool's threads exist from here on
    const before = threads();
    const [a, b] = await Promise.all(dirs.map((d) => open(d, SMALL)));
    const N = 8000;
    // Both write at once: each fills several memtables, so flushes of one run while the other compacts.
    await Promise.all([a!, b!].map((db, n) => concurrently(N, 200, (j) => db.put(key(j), valueOf(j, n + 1, 60)))));
    await Promise.all([a!.compactRange(), b!.compactRange()]);
    assert.equal(threads() - before, 1, 'one worker thread for two databases');
    for (const [n, db] of [a!, b!].entries()) {
      const s = db.stats();
      assert.ok(s.flush.count >= 3 && s.compaction.count > 0, JSON.stringify({ flush: s.flush, compaction: s.compaction }));
      const vals = await db.getMany([key(0), key(N - 1)]);
      assert.deepEqual(vals.map(utf8), [valueOf(0, n + 1, 60), valueOf(N - 1, n + 1, 60)]);
    }
    // Closing one leaves the worker to the other, which keeps flushing and compacting.
    await a!.close();
    await concurrently(N, 200, (j) => b!.put(key(j), valueOf(j, 3, 60)));
    await b!.compactRange();
    assert.equal(utf8(await b!.get(key(17))), valueOf(17, 3, 60));
    assert.equal(b!.stats().backgroundError, undefined);
    await b!.close();
    assert.equal(workers(), 0, `no worker left after the last close: ${process.getActiveResourcesInfo().join(',')}`);
  } finally {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
});

test('real file system: the background thread runs at a lower CPU priority (nice + 10) than the event loop', { skip: process.platform !== 'linux' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-nice-'));
  const niceOf = (tid: string) => {
    const st = readFileSync(`/proc/self/task/${tid}/stat`, 'latin1');
    return Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[16]);
  };
  const runner = WorkerCompactionRunner.acquire();
  try {
    const m = new Memtable(64 * 1024);
    for (let i = 0; i < 100; i++) m.add(i + 1, ValueType.PUT, Buffer.from(`k${pad(i)}`), Buffer.from(`v${i}`));
    assert.equal((await runner.flush(dir, 1, m, { ...DEFAULT_TABLE_BUILDER_OPTIONS }))?.number, 1);
    const base = niceOf(String(process.pid));
    if (base > 9) return t.skip(`the process already runs at nice ${base}`);
    const nices = readdirSync('/proc/self/task').map(niceOf);
    // The worker's thread (and only it: V8's and libuv's threads keep the process's priority).
    assert.equal(nices.filter((n) => n === base + 10).length, 1, `nice values of the threads: ${nices.join(' ')}`);
  } finally {
    await runner.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('real file system: flushes through the worker reuse shared arenas: a small memtable copied into a larger one\'s arena, after it, holds only its own entries; the flushed memtable stays readable', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-arena-'));
  const runner = WorkerCompactionRunner.acquire();
  const table = { ...DEFAULT_TABLE_BUILDER_OPTIONS };
  const fill = (n: number, tag: string) => {
    const m = new Memtable(64 * 1024);
    for (let i = 0; i < n; i++) m.add(i + 1, ValueType.PUT, Buffer.from(`${tag}${String(i).padStart(6, '0')}`), Buffer.from(`v${tag}${i}`));
    return m;
  };
  const read = (n: number) => {
    const reader = TableReader.open(new NodeFs().openRandomAccess(join(dir, `${String(n).padStart(6, '0')}.sst`)), { fileNumber: n });
    const out: string[] = [];
    const it = reader.iterator();
    for (it.seekToFirst(); it.valid(); it.next()) out.push(`${it.key().subarray(0, it.key().length - 8).toString()}=${it.value().toString()}`);
    it.close();
    reader.close();
    return out;
  };
  try {
    const big = fill(3000, 'b');
    const bigBytes = big.arenaBytes;
    const metaA = await runner.flush(dir, 1, big, table);
    assert.equal(metaA?.number, 1);
    // The memtable's own arena is still readable (nothing was moved out of it).
    assert.equal(big.arenaBytes, bigBytes);
    assert.equal(big.get(Buffer.from('b000007'), 10_000)?.kind, 'value');
    const small = fill(5, 'a');
    assert.ok(small.arenaBytes < bigBytes);
    await runner.flush(dir, 2, small, table);
    assert.deepEqual(read(2), ['a000000=va0', 'a000001=va1', 'a000002=va2', 'a000003=va3', 'a000004=va4']);
    const all = read(1);
    assert.equal(all.length, 3000);
    assert.equal(all[2999], 'b002999=vb2999');
  } finally {
    await runner.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('real file system: a process that used the compaction worker exits on its own after close', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-exit-'));
  const index = new URL('../../src/index.js', import.meta.url).href;
  const script = `
    const { open } = await import(${JSON.stringify(index)});
    const db = await open(process.argv[2], { writeBufferSize: 65536 });
    const ps = [];
    for (let i = 0; i < 4000; i++) ps.push(db.put('key' + String((i * 7919) % 4000).padStart(6, '0'), 'value-' + i + '-'.repeat(40)));
    await Promise.all(ps);
    await db.compactRange();
    const st = db.stats();
    if (st.compaction.count === 0) throw new Error('no compaction ran');
    await db.close();
    console.log('closed ' + st.compaction.count);
  `;
  try {
    const file = join(dir, 'child.mjs');
    writeFileSync(file, script);
    const child = spawn(process.execPath, [file, join(dir, 'db')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    // A safety net only (the child normally exits in about a second): a hang fails instead of stalling the suite.
    const killer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    const [status, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
    clearTimeout(killer);
    assert.equal(signal, null, `the process did not exit by itself (killed); stderr: ${err}`);
    assert.equal(status, 0, `stderr: ${err}`);
    assert.match(out, /^closed \d+/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test(
  'real file system: the compaction worker also works in a process started with node --expose-gc --input-type=module -e (flags a worker refuses)',
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'strata-eval-'));
    const index = new URL('../../src/index.js', import.meta.url).href;
    const script = `
      const { open } = await import(${JSON.stringify(index)});
      const db = await open(process.argv[1], { writeBufferSize: 65536 });
      const ps = [];
      for (let i = 0; i < 3000; i++) ps.push(db.put('key' + String((i * 7919) % 3000).padStart(6, '0'), 'value-' + i + '-'.repeat(40)));
      await Promise.all(ps);
      await db.compactRange();
      await db.close();
      console.log('ok');
    `;
    try {
      const child = spawn(process.execPath, ['--expose-gc', '--input-type=module', '-e', script, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const killer = setTimeout(() => child.kill('SIGKILL'), 120_000);
      const status = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
      clearTimeout(killer);
      assert.equal(status, 0, `stderr: ${err}`);
      assert.equal(out.trim(), 'ok');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test('the package entry exports the engine API', () => {
  assert.equal(pkg.open, open);
  assert.equal(pkg.DB, DB);
  assert.equal(pkg.WriteBatch, WriteBatch);
  assert.equal(pkg.MemFs, MemFs);
  assert.equal(pkg.ERROR_CODES, ERROR_CODES);
  assert.equal(typeof pkg.isStrataError, 'function');
  assert.equal(pkg.DEFAULT_OPTIONS.writeBufferSize, 4 * 1024 * 1024);
});

test('disableWal: writes reach the memtable only (a crash loses them), close flushes them, sync with it is refused', async () => {
  const fs = new MemFs();
  const db = await open('/db', { ...SMALL, fs });
  await db.put('logged', 'w', { sync: true });
  const walBefore = db.stats().wal;
  await db.put('a', '1', { disableWal: true });
  await db.write([{ type: 'put', key: 'b', value: '2' }, { type: 'del', key: 'logged' }], { disableWal: true });
  assert.equal(await db.get('a', { encoding: 'utf8' }), '1');
  assert.equal(await db.get('logged'), undefined);
  assert.deepEqual(db.stats().wal, walBefore, 'nothing went to the WAL');
  // A crash now: the unlogged writes are gone, the logged one is back.
  const crashed = await open('/db', { ...SMALL, fs: fs.crashImage() });
  assert.equal(await crashed.get('a'), undefined);
  assert.equal(await crashed.get('b'), undefined);
  assert.equal(await crashed.get('logged', { encoding: 'utf8' }), 'w');
  await crashed.close();
  await assert.rejects(db.put('c', '3', { disableWal: true, sync: true }), (err: unknown) => isStrataError(err, ERROR_CODES.INVALID_ARGUMENT));
  const flushesBefore = db.stats().flush.count;
  await db.close();
  assert.ok(db.stats().flush.count > flushesBefore, 'close flushed the memtable holding unlogged writes');
  const again = await open('/db', { ...SMALL, fs: fs.crashImage() });
  assert.equal(await again.get('a', { encoding: 'utf8' }), '1');
  assert.equal(await again.get('b', { encoding: 'utf8' }), '2');
  assert.equal(await again.get('logged'), undefined);
  await again.close();
});

test('checkpoint: a database of its own with every write acknowledged before it, unaffected by later writes and compactions', async () => {
  for (const fs of [new MemFs(), undefined]) {
    const base = fs === undefined ? mkdtempSync(join(tmpdir(), 'strata-ckpt-')) : '/ckpt';
    const opts: OpenOptions = { ...SMALL, ...(fs !== undefined ? { fs, compactionWorker: false } : {}) };
    const db = await open(join(base, 'db'), opts);
    const rnd = new SeededRandom(7);
    const model = new Map<string, string>();
    for (let i = 0; i < 3000; i++) {
      const k = `k${rnd.int(0, 999)}`;
      const v = `v${i}-${'x'.repeat(rnd.int(0, 200))}`;
      await db.put(k, v);
      model.set(k, v);
    }
    // The last writes are still in the memtable: the checkpoint flushes them.
    await db.put('last', 'in-memtable');
    model.set('last', 'in-memtable');
    const files = await db.checkpoint(join(base, 'ckpt'));
    assert.ok(files.some((f) => f.name.endsWith('.sst')) && files.some((f) => f.name === 'CURRENT') && files.some((f) => f.name.startsWith('MANIFEST-')));
    const realFs = fs ?? new NodeFs();
    for (const f of files) assert.equal(realFs.fileSize(join(base, 'ckpt', f.name)), f.size, f.name);
    assert.deepEqual(realFs.list(join(base, 'ckpt')).filter((n) => n !== 'LOCK').sort(), files.map((f) => f.name).sort());
    // Later writes and a full compaction (which deletes the tables the checkpoint links) change nothing there.
    for (let i = 0; i < 500; i++) await db.put(`k${i}`, 'after');
    await db.delete('last');
    await db.compactRange();
    await assert.rejects(db.checkpoint(join(base, 'ckpt')), code(ERROR_CODES.INVALID_ARGUMENT, /already exists/));
    await db.close();
    const copy = await open(join(base, 'ckpt'), { ...opts, createIfMissing: false });
    const got = new Map<string, string>();
    for (const [k, v] of await copy.scan<string, string>({ keyEncoding: 'utf8', valueEncoding: 'utf8' })) got.set(k, v);
    assert.deepEqual(got, model);
    // It is a database of its own: writable, and it recovers its own writes.
    await copy.put('new', 'one');
    await copy.close();
    const again = await open(join(base, 'ckpt'), opts);
    assert.equal(await again.get('new', { encoding: 'utf8' }), 'one');
    assert.equal(await again.get('last', { encoding: 'utf8' }), 'in-memtable');
    await again.close();
    if (fs === undefined) rmSync(base, { recursive: true, force: true });
  }
});
