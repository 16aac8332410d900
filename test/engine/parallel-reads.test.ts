/**
 * Gets issued together hand their block reads to the read helper thread
 * (src/engine/read-helper.ts). Whatever thread reads a block, every get
 * answers what getSync answers; a damaged block is CORRUPTION either way;
 * a table the helper reads stays open until it is done.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ERROR_CODES, isStrataError } from '../../src/base/errors.js';
import { NodeFs } from '../../src/base/fs.js';
import { SeededRandom } from '../../src/base/random.js';
import { DB } from '../../src/engine/db.js';
import type { OpenOptions } from '../../src/engine/options.js';
import { ReadHelper } from '../../src/engine/read-helper.js';
import { TableReader } from '../../src/engine/table/table-reader.js';
import { blockPoolStats } from '../../src/engine/table/block-pool.js';

/** A fresh directory, removed after the test (each test closes its databases first). */
function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'strata-par-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const key = (i: number): Buffer => Buffer.from(`key-${String(i).padStart(6, '0')}`);
const value = (i: number, round: number): Buffer => Buffer.from(`v${round}-${i}-`.padEnd(60 + (i % 50), String.fromCharCode(97 + (i % 26))));

/** Small blocks and cache, so nearly every get reads a block; several rounds leave overwrites and tombstones over deeper levels. */
const OPTIONS: OpenOptions = {
  blockSize: 1024,
  blockCacheSize: 64 * 1024,
  writeBufferSize: 64 * 1024,
  targetFileSize: 32 * 1024,
  maxBytesForLevelBase: 128 * 1024,
};

async function fill(db: DB, n: number, rnd: SeededRandom): Promise<Map<number, Buffer | undefined>> {
  const model = new Map<number, Buffer | undefined>();
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < n; i++) {
      const r = rnd.int(0, 9);
      if (round > 0 && r < 3) continue;
      if (round > 0 && r === 3) {
        await db.del(key(i));
        model.set(i, undefined);
      } else {
        const v = value(i, round);
        await db.put(key(i), v);
        model.set(i, v);
      }
    }
    await db.flush();
  }
  return model;
}

/** Bursts of `width` gets (Promise.all), some of missing keys; every answer checked against the model. */
async function checkBursts(db: DB, model: Map<number, Buffer | undefined>, n: number, width: number, bursts: number, rnd: SeededRandom): Promise<number> {
  let checked = 0;
  for (let b = 0; b < bursts; b++) {
    const ids = Array.from({ length: width }, () => rnd.int(0, n + n / 10));
    const got = await Promise.all(ids.map((i) => db.get(key(i))));
    for (let j = 0; j < width; j++) {
      const want = model.get(ids[j]!);
      assert.deepEqual(got[j], want, `key ${ids[j]} in burst ${b}`);
      checked++;
    }
  }
  return checked;
}

/**
 * Bursts until the helper thread has read a block: one left idle by an earlier test may be
 * ending, and a request that races with its end is read by the event loop instead.
 */
async function liveHelper(db: DB, model: Map<number, Buffer | undefined>, n: number): Promise<void> {
  const start = db.stats().parallelReads.helper;
  for (let b = 0; b < 50 && db.stats().parallelReads.helper === start; b++) await checkBursts(db, model, n, 32, 1, new SeededRandom(b));
  assert.ok(db.stats().parallelReads.helper > start, 'the helper thread reads');
}

test('the read helper reads, checks and decompresses a block from the main thread\'s descriptor; a bad checksum or a closed descriptor is a failure', async (t) => {
  const dir = tempDir(t);
  const db = await DB.open(dir, OPTIONS);
  await fill(db, 2000, new SeededRandom(1));
  await db.close();
  const fs = new NodeFs();
  const name = readdirSync(dir).find((f) => f.endsWith('.sst'))!;
  const reader = TableReader.open(fs.openRandomAccess(join(dir, name)), { fileNumber: 1 });
  const helper = ReadHelper.get();
  try {
    for (const i of [0, 1, reader.blockCount - 1]) {
      const h = reader.blockHandle(i, { offset: 0, size: 0 });
      const slot = helper.submit(reader.fd!, h.offset, h.size, true);
      assert.ok(slot >= 0);
      assert.equal(helper.wait(slot), true);
      const got = helper.result(slot);
      assert.ok(got !== undefined, `block ${i} read by the helper`);
      assert.deepEqual(Buffer.from(got), reader.readDataBlock(i).data);
      helper.free(slot);
    }

    // The same table with one byte of block 0 flipped: the helper's checksum check fails it.
    const bytes = readFileSync(join(dir, name));
    bytes[3]! ^= 0x10;
    const damaged = join(dir, 'damaged.sst');
    writeFileSync(damaged, bytes);
    const bad = TableReader.open(fs.openRandomAccess(damaged), { fileNumber: 2 });
    const h = bad.blockHandle(0, { offset: 0, size: 0 });
    let slot = helper.submit(bad.fd!, h.offset, h.size, true);
    assert.equal(helper.wait(slot), true);
    assert.equal(helper.result(slot), undefined);
    helper.free(slot);
    // Unchecked, the same bytes come back (they decompress or are stored plain, but are wrong).
    bad.close();
    slot = helper.submit(-1, h.offset, h.size, true);
    assert.equal(helper.wait(slot), true);
    assert.equal(helper.result(slot), undefined, 'a bad descriptor fails the read');
    helper.free(slot);
  } finally {
    reader.close();
  }
});

for (const takeBack of [true, false]) {
  test(`gets issued together answer what the model says across levels, overwrites and deletions (${takeBack ? 'event loop takes reads back' : 'helper reads them all'})`, async (t) => {
    const dir = tempDir(t);
    const db = await DB.open(dir, OPTIONS);
    const n = 3000;
    const model = await fill(db, n, new SeededRandom(7));
    const levels = db.stats().levels.filter((l) => l.files > 0);
    assert.ok(levels.length >= 2, `data spread over levels: ${JSON.stringify(levels)}`);
    const helper = (db as unknown as { readHelper: ReadHelper }).readHelper;
    helper.takeBack = takeBack;
    t.after(() => {
      helper.takeBack = true;
    });
    await liveHelper(db, model, n);
    const before = db.stats().parallelReads;
    const reused = blockPoolStats.reused;
    const checked = await checkBursts(db, model, n, 32, 60, new SeededRandom(8));
    assert.equal(checked, 32 * 60);
    // The blocks the helper and the event loop read reuse evicted blocks' memory (block-pool.ts), and every answer above was right.
    assert.ok(blockPoolStats.reused - reused > 100, `blocks reusing memory: ${blockPoolStats.reused - reused}`);
    const after = db.stats().parallelReads;
    const byHelper = after.helper - before.helper;
    const byLoop = after.eventLoop - before.eventLoop;
    assert.ok(byHelper + byLoop > 60 * 10, `most gets of a burst after the first read a block in parallel: helper ${byHelper}, event loop ${byLoop}`);
    if (!takeBack) {
      assert.equal(byLoop, 0);
      assert.ok(byHelper > 0);
    }
    // The same keys one at a time: same answers, and after the first (which follows a burst of 32) never parallel.
    assert.deepEqual(await db.get(key(0)), model.get(0));
    const single = db.stats().parallelReads;
    for (let i = 1; i < n; i += 37) assert.deepEqual(await db.get(key(i)), model.get(i));
    assert.deepEqual(db.stats().parallelReads, single);
    await db.close();
  });
}

test('a damaged data block is CORRUPTION for gets issued together, whichever thread reads it; the other gets answer', async (t) => {
  const dir = tempDir(t);
  let db = await DB.open(dir, OPTIONS);
  const model = await fill(db, 2000, new SeededRandom(3));
  await db.close();
  // Flip a byte in the first data block of every table: the keys that live there fail, the rest do not.
  for (const name of readdirSync(dir).filter((f) => f.endsWith('.sst'))) {
    const p = join(dir, name);
    const bytes = readFileSync(p);
    bytes[10]! ^= 0x04;
    writeFileSync(p, bytes);
  }
  for (const takeBack of [false, true]) {
    db = await DB.open(dir, OPTIONS);
    const helper = (db as unknown as { readHelper: ReadHelper }).readHelper;
    helper.takeBack = takeBack;
    let corrupt = 0;
    let right = 0;
    for (let b = 0; b < 2000; b += 32) {
      const ids = Array.from({ length: 32 }, (_, j) => b + j);
      const got = await Promise.allSettled(ids.map((i) => db.get(key(i))));
      got.forEach((r, j) => {
        if (r.status === 'rejected') {
          assert.ok(isStrataError(r.reason, ERROR_CODES.CORRUPTION), String(r.reason));
          corrupt++;
        } else {
          assert.deepEqual(r.value, model.get(ids[j]!), `key ${ids[j]}`);
          right++;
        }
      });
    }
    helper.takeBack = true;
    await db.close();
    assert.ok(corrupt > 0 && right > corrupt, `corrupt ${corrupt}, right ${right}`);
  }
});

test('tables a burst reads stay open while the helper reads them, though the table cache closes them meanwhile', async (t) => {
  const dir = tempDir(t);
  // More tables than maxOpenFiles allows open: a burst over the key space evicts readers it is waiting on.
  const options: OpenOptions = { ...OPTIONS, maxOpenFiles: 16, targetFileSize: 16 * 1024 };
  const db = await DB.open(dir, options);
  const n = 8000;
  const model = await fill(db, n, new SeededRandom(11));
  const tables = db.stats().levels.reduce((s, l) => s + l.files, 0);
  assert.ok(tables > 2 * 16, `${tables} tables`);
  const helper = (db as unknown as { readHelper: ReadHelper }).readHelper;
  helper.takeBack = false;
  t.after(() => {
    helper.takeBack = true;
  });
  await checkBursts(db, model, n, 32, 40, new SeededRandom(12));
  assert.ok(db.stats().parallelReads.helper > 0);
  await db.close();
});

test('gets issued right before close() still answer', async (t) => {
  const dir = tempDir(t);
  const db = await DB.open(dir, OPTIONS);
  const model = await fill(db, 2000, new SeededRandom(5));
  const ids = Array.from({ length: 64 }, (_, j) => j * 31);
  const gets = ids.map((i) => db.get(key(i)));
  const closed = db.close();
  const got = await Promise.all(gets);
  await closed;
  got.forEach((v, j) => assert.deepEqual(v, model.get(ids[j]!)));
  assert.ok(db.stats().parallelReads.helper + db.stats().parallelReads.eventLoop > 0);
});

test('parallelReads: false keeps every read on the event loop; a non-boolean is INVALID_ARGUMENT', async (t) => {
  const dir = tempDir(t);
  const db = await DB.open(dir, { ...OPTIONS, parallelReads: false });
  const model = await fill(db, 2000, new SeededRandom(9));
  await checkBursts(db, model, 2000, 32, 20, new SeededRandom(10));
  assert.deepEqual(db.stats().parallelReads, { helper: 0, eventLoop: 0 });
  await db.close();
  await assert.rejects(DB.open(dir, { parallelReads: 'yes' as unknown as boolean }), (err: unknown) => isStrataError(err, ERROR_CODES.INVALID_ARGUMENT));
});

test('the helper thread ends itself after a second without requests, and the next burst starts a new one that reads', async (t) => {
  const dir = tempDir(t);
  const db = await DB.open(dir, OPTIONS);
  const n = 2000;
  const model = await fill(db, n, new SeededRandom(21));
  const helper = (db as unknown as { readHelper: ReadHelper }).readHelper;
  const thread = () => (helper as unknown as { worker: unknown }).worker;
  helper.takeBack = false;
  t.after(() => {
    helper.takeBack = true;
  });
  await liveHelper(db, model, n);
  const first = thread();
  assert.ok(first !== undefined, 'a burst started the helper');
  // Wait (up to 10 s) for the thread to end itself: its 'exit' event clears it.
  const deadline = Date.now() + 10_000;
  while (thread() !== undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.equal(thread(), undefined, 'the idle helper ended');
  // The race it ends with: a burst whose requests are queued after the thread's last look at the
  // queue but before its 'exit' event cleared it (here: the ended thread put back). The requests
  // must come back to the event loop at once, even with takeBack off, not wait for a reader that is gone.
  (helper as unknown as { worker: unknown }).worker = first;
  const raced = db.stats().parallelReads;
  const t0 = performance.now();
  assert.equal(await checkBursts(db, model, n, 32, 3, new SeededRandom(24)), 96);
  assert.ok(performance.now() - t0 < 1500, `no wait for the ended thread: ${(performance.now() - t0).toFixed(0)} ms`);
  assert.ok(db.stats().parallelReads.eventLoop > raced.eventLoop);
  assert.equal(db.stats().parallelReads.helper, raced.helper);
  (helper as unknown as { worker: unknown }).worker = undefined;
  const before = db.stats().parallelReads;
  assert.equal(await checkBursts(db, model, n, 32, 10, new SeededRandom(23)), 320);
  const after = db.stats().parallelReads;
  assert.ok(thread() !== undefined && thread() !== first, 'a new thread');
  assert.ok(after.helper - before.helper > 0, `the new thread read blocks: ${after.helper - before.helper}`);
  assert.equal(after.eventLoop, before.eventLoop, 'none taken back (takeBack off)');
  await db.close();
});
